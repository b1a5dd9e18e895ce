"""A flow opened from Flows, against the real appliance: its versions, a readable diff between
two, restoring one as a new version, its grants (add, change, revoke), validate and compile;
delete and undelete from the list; and the tenant switch where the appliance has none."""

from __future__ import annotations

import copy
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from tests.conftest import Appliance, hello_content
from tests.tui.helpers import SIZE, TuiSession, select_row, settle, static_text, table_rows
from tui.screens.acl_forms import AclForm, AclLevelForm
from tui.screens.confirm import ConfirmScreen
from tui.screens.flow_detail import FlowDetailScreen
from tui.screens.flows import FlowsScreen
from tui.screens.text_viewer import TextViewerScreen

FLOWS = "/api/v1/flows"


async def flow_with_versions(appliance: Appliance) -> str:
    """Three versions: 1.0.0, 1.0.1 (the reply node's template changed), 1.0.2 (a node
    added)."""
    headers = await appliance.headers("usr_operator", "tnt_local")
    content = hello_content()
    response = await appliance.client.post(FLOWS, headers=headers,
                                           json={"name": "Greeter", "content": content})
    assert response.status == 201, await response.text()
    flow_id = str((await response.json())["id"])
    second = copy.deepcopy(content)
    second["nodes"][1]["config"]["template"] = "Hi {{name}}"
    third: dict[str, Any] = copy.deepcopy(second)
    third["nodes"].append({"id": "node_note", "type": "data_variable_set", "label": "Note",
                           "position": {"x": 240, "y": 0}, "config": {}, "inputs": [],
                           "outputs": []})
    for body in (second, third):
        response = await appliance.client.put(f"{FLOWS}/{flow_id}", headers=headers,
                                              json={"content": body})
        assert response.status == 200, await response.text()
    return flow_id


async def open_flow(pilot: Pilot[int], flow_id: str) -> FlowDetailScreen:
    await pilot.press("6")
    await settle(pilot)
    assert isinstance(pilot.app.screen, FlowsScreen)
    await select_row(pilot, "flows", flow_id)
    await pilot.press("enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, FlowDetailScreen)
    return screen


async def fill(pilot: Pilot[int], field_id: str, value: str) -> None:
    pilot.app.screen.query_one(f"#{field_id}", Input).value = value
    await pilot.pause()


def viewer_text(pilot: Pilot[int]) -> str:
    assert isinstance(pilot.app.screen, TextViewerScreen)
    return pilot.app.screen.query_one("#text", TextArea).text


async def test_versions_a_diff_between_two_and_restore(tui_session: TuiSession) -> None:
    appliance = tui_session.appliance
    flow_id = await flow_with_versions(appliance)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flow(pilot, flow_id)
        versions = [row[0] for row in table_rows(app, "versions")]
        assert versions == ["1.0.2", "1.0.1", "1.0.0"]
        # without a mark: what 1.0.2 changed since the version before
        await select_row(pilot, "versions", "1.0.2")
        await pilot.press("D")
        await settle(pilot)
        assert viewer_text(pilot).splitlines() == ["1.0.1 → 1.0.2",
                                                  "  + node node_note added"]
        await pilot.press("escape")
        await settle(pilot)
        # marked 1.0.0 against 1.0.2: both changes, older first
        await select_row(pilot, "versions", "1.0.0")
        await pilot.press("space")
        await select_row(pilot, "versions", "1.0.2")
        await pilot.press("D")
        await settle(pilot)
        lines = viewer_text(pilot).splitlines()
        assert lines[0] == "1.0.0 → 1.0.2"
        assert "  + node node_note added" in lines
        assert "  ~ node node_reply changed: config" in lines
        await pilot.press("escape")
        await settle(pilot)
        # enter shows a version's content
        await select_row(pilot, "versions", "1.0.0")
        await pilot.press("enter")
        await settle(pilot)
        assert '"template": "Hello {{name}}"' in viewer_text(pilot)
        await pilot.press("escape")
        await settle(pilot)
        # restore 1.0.0 as the new 1.0.3
        await select_row(pilot, "versions", "1.0.0")
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert static_text(app, "#action") == "Restored 1.0.0 as the new version 1.0.3."
        assert table_rows(app, "versions")[0][0] == "1.0.3"
    [flow] = appliance.sql("SELECT version FROM flows WHERE id = ?", flow_id)
    assert flow["version"] == "1.0.3"
    [restored] = appliance.sql("SELECT content FROM flow_versions WHERE flow_id = ? AND "
                               "version = '1.0.3'", flow_id)
    assert b'"Hello {{name}}"' in bytes(restored["content"])


async def test_grants_added_changed_and_revoked(tui_session: TuiSession) -> None:
    appliance = tui_session.appliance
    await appliance.user("usr_alice", "tnt_local")
    flow_id = await flow_with_versions(appliance)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flow(pilot, flow_id)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AclForm)
        await fill(pilot, "principal_id", "usr_nobody")
        await fill(pilot, "level", "edit")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#action").startswith(
            "Could not grant edit to usr_nobody: 404 principal_not_found")
        assert appliance.sql("SELECT * FROM flow_acls WHERE flow_id = ?", flow_id) == []

        await pilot.press("a")
        await settle(pilot)
        await fill(pilot, "principal_id", "usr_alice")
        await fill(pilot, "level", "edit")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#action") == "Granted edit on Greeter to user usr_alice."
        [grant] = appliance.sql("SELECT id, level FROM flow_acls WHERE flow_id = ?", flow_id)
        assert grant["level"] == "edit"
        assert table_rows(app, "grants")[0][:3] == ["usr_alice", "user", "edit"]

        await select_row(pilot, "grants", grant["id"])
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, AclLevelForm)
        await fill(pilot, "level", "deploy")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#action") == "usr_alice now has deploy on Greeter."
        assert appliance.sql("SELECT level FROM flow_acls WHERE id = ?",
                             grant["id"])[0][0] == "deploy"

        await select_row(pilot, "grants", grant["id"])
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert static_text(app, "#action") == "Revoked usr_alice's deploy on Greeter."
        assert table_rows(app, "grants") == []
    assert appliance.sql("SELECT * FROM flow_acls WHERE flow_id = ?", flow_id) == []


async def test_validate_and_compile(tui_session: TuiSession) -> None:
    flow_id = await flow_with_versions(tui_session.appliance)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await select_row(pilot, "flows", flow_id)
        await pilot.press("v")
        await settle(pilot)
        text = viewer_text(pilot)
        assert text.startswith("Greeter 1.0.2 is valid: 0 error(s), ")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        manifest = viewer_text(pilot)
        assert manifest.startswith("core:\n") and "source_id: " + flow_id in manifest


async def test_delete_and_undelete(tui_session: TuiSession) -> None:
    appliance = tui_session.appliance
    flow_id = await flow_with_versions(appliance)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await select_row(pilot, "flows", flow_id)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert static_text(app, "#action") == "Deleted Greeter."
        assert appliance.sql("SELECT deleted_at FROM flows WHERE id = ?", flow_id)[0][0]
        [row] = table_rows(app, "flows")
        assert row[4] == "deleted"
        await pilot.press("enter")  # a deleted flow does not open
        await settle(pilot)
        assert isinstance(app.screen, FlowsScreen)
        assert "undelete it (u) to open it" in static_text(app, "#action")
        await pilot.press("h")  # hidden, then shown again
        await settle(pilot)
        assert table_rows(app, "flows") == []
        await pilot.press("h")
        await settle(pilot)
        await select_row(pilot, "flows", flow_id)
        await pilot.press("u", "y")
        await settle(pilot)
        assert static_text(app, "#action") == "Undeleted Greeter."
        assert table_rows(app, "flows")[0][4] == "live"
    assert appliance.sql("SELECT deleted_at FROM flows WHERE id = ?", flow_id)[0][0] is None


async def test_search_narrows_the_flows_and_says_so(
        tui_session: TuiSession) -> None:
    appliance = tui_session.appliance
    await flow_with_versions(appliance)
    headers = await appliance.headers("usr_operator", "tnt_local")
    response = await appliance.client.post(FLOWS, headers=headers, json={
        "name": "Invoice intake", "content": hello_content()})
    assert response.status == 201
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        assert len(table_rows(app, "flows")) == 2
        await pilot.press("slash", *"invoice", "enter")
        await settle(pilot)
        assert [row[0] for row in table_rows(app, "flows")] == ["Invoice intake"]
        assert "name contains “invoice”" in static_text(app, "#scope")
