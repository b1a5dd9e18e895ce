"""Flows screen: the tenant's flows (paged, long names), the selected flow's deployments, and
deploy against the ScaiGrid stand-in: success, an upstream failure (recorded), a compile
error and missing credentials (nothing recorded)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from scaiflow_box.store import deployments as deployment_rows
from tests.conftest import AppFactory, Appliance, hello_content
from tests.fakes.scaigrid import FakeScaiGrid
from tests.tui.helpers import (
    SIZE,
    TuiSession,
    open_session,
    select_row,
    settle,
    static_text,
    table_rows,
)
from tui.app import ScaiflowAdmin
from tui.screens.confirm import ConfirmScreen
from tui.screens.flows import DEPLOYMENTS_PAGE_SIZE, PAGE_SIZE, FlowsScreen
from tui.screens.tenant_picker import TenantPickerScreen
from tui.widgets.resource_table import ResourceTable

FLOWS = "/api/v1/flows"
LONG_NAME = "Customer support triage with escalation to a human " * 3  # 156 characters


async def new_flow(appliance: Appliance, name: str, content: dict[str, Any] | None = None,
                   *, owner: str = "usr_operator") -> str:
    headers = await appliance.headers(owner, "tnt_local")
    response = await appliance.client.post(FLOWS, headers=headers, json={
        "name": name, "content": content or hello_content()})
    assert response.status == 201, await response.text()
    return str((await response.json())["id"])


def stored_deployments(appliance: Appliance, flow_id: str) -> list[sqlite3.Row]:
    return appliance.sql("SELECT * FROM deployments WHERE flow_id = ? ORDER BY created_at",
                         flow_id)


async def open_flows(pilot: Pilot[int]) -> None:
    await pilot.press("6")
    await settle(pilot)
    assert isinstance(pilot.app.screen, FlowsScreen)


def flow_rows(app: ScaiflowAdmin) -> dict[str, list[str]]:
    return {row[5]: row for row in table_rows(app, "flows")}


def title(app: ScaiflowAdmin) -> str:
    return static_text(app, "#deployments-title")


@pytest.fixture(name="grid_session")
async def grid_session_fixture(make_appliance: AppFactory,
                               scaigrid_server: FakeScaiGrid) -> AsyncIterator[TuiSession]:
    """An appliance that deploys to the ScaiGrid stand-in (with SCAIGRID_API_KEY)."""
    appliance = await make_appliance(**scaigrid_server.env(
        SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS="10"))  # above the 3 s stall of the deploy test
    async with open_session(appliance) as session:
        yield session


async def test_flows_and_their_deployments_with_long_names(tui_session: TuiSession) -> None:
    appliance = tui_session.appliance
    await appliance.user("usr_alice", "tnt_local")
    hello = await new_flow(appliance, "Hello", owner="usr_alice")
    long_id = await new_flow(appliance, LONG_NAME)
    other_headers = await appliance.headers("usr_carol", "tnt_other")
    response = await appliance.client.post(FLOWS, headers=other_headers, json={
        "name": "Other tenant's flow", "content": hello_content()})
    assert response.status == 201

    def seed(conn: sqlite3.Connection) -> None:
        deployment_rows.insert_deployment(
            conn, deployment_id="dep_ok", tenant_id="tnt_local", flow_id=hello,
            version="1.0.0", core_id="core_abc", published_slug="scaicore/acme/hello",
            status="succeeded", error=None, deployed_by="usr_alice",
            created_at="2026-01-01T10:00:00.000Z", duration_ms=42)
        deployment_rows.insert_deployment(
            conn, deployment_id="dep_bad", tenant_id="tnt_local", flow_id=hello,
            version="1.0.0", core_id=None, published_slug=None, status="failed",
            error="scaicore_create_failed: ScaiGrid answered 500 " + "x" * 80,
            deployed_by="usr_alice", created_at="2026-01-02T10:00:00.000Z",
            duration_ms=15_300)

    await appliance.db.write(seed)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flows(pilot)
        rows = flow_rows(app)
        assert set(rows) == {hello, long_id}  # only the TUI's own tenant
        [version, _updated, owner] = rows[hello][1:4]
        assert (version, owner) == ("1.0.0", "usr_alice")
        assert rows[hello][0] == "Hello"
        assert len(rows[long_id][0]) == 40 and rows[long_id][0].endswith("…")
        assert static_text(app, "#status").startswith("2 of 2 flow(s), newest first; all shown.")
        # newest first: the long-named flow is selected, it has no deployments
        assert app.screen.query_one("#flows", ResourceTable).selected_key == long_id
        assert table_rows(app, "deployments") == []
        assert title(app).startswith(f"Deployments of {LONG_NAME[:20]}")
        assert title(app).endswith("none yet (d deploys version 1.0.0)")
        assert LONG_NAME.strip() in static_text(app, "#detail")

        await select_row(pilot, "flows", hello)
        await settle(pilot)
        deployments = table_rows(app, "deployments")
        assert [row[6] for row in deployments] == ["dep_bad", "dep_ok"]  # newest first
        bad, ok = deployments
        assert bad[1:5] == ["1.0.0", "failed", "15.3 s", "-"]
        assert bad[5].startswith("scaicore_create_failed: ScaiGrid") and bad[5].endswith("…")
        assert ok[1:6] == ["1.0.0", "succeeded", "42 ms", "core_abc / scaicore/acme/hello", "-"]
        assert title(app) == "Deployments of Hello: 2 shown, newest first, 1 failed"
        # the deployments table shows the selected deployment in full
        await select_row(pilot, "deployments", "dep_bad")
        detail = static_text(app, "#detail")
        assert "dep_bad  failed  version 1.0.0" in detail
        assert "error: scaicore_create_failed: ScaiGrid answered 500 " + "x" * 80 in detail
        await select_row(pilot, "deployments", "dep_ok")
        assert "core core_abc · published as scaicore/acme/hello" in static_text(app, "#detail")
        # back to the long-named flow: its (empty) list, not Hello's
        await select_row(pilot, "flows", long_id)
        await settle(pilot)
        assert table_rows(app, "deployments") == []


async def test_empty_tenant_says_so(tui_session: TuiSession) -> None:
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flows(pilot)
        assert table_rows(app, "flows") == []
        assert static_text(app, "#status").startswith("No flows in this tenant yet")
        assert title(app) == "Deployments: select a flow"
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, FlowsScreen)  # no dialog
        assert static_text(app, "#action") == "Select a flow first."
        await pilot.press("m")
        assert static_text(app, "#action") == "No flows to load."


async def test_load_more_flows_and_deployments(tui_session: TuiSession) -> None:
    appliance = tui_session.appliance
    flow_ids = [await new_flow(appliance, f"Flow {n:03d}") for n in range(PAGE_SIZE + 7)]
    newest = flow_ids[-1]
    count = DEPLOYMENTS_PAGE_SIZE + 3

    def seed(conn: sqlite3.Connection) -> None:
        for n in range(count):
            deployment_rows.insert_deployment(
                conn, deployment_id=f"dep_{n:03d}", tenant_id="tnt_local", flow_id=newest,
                version="1.0.0", core_id=f"core_{n:03d}", published_slug=None,
                status="succeeded", error=None, deployed_by="usr_operator",
                created_at=f"2026-01-01T10:{n // 60:02d}:{n % 60:02d}.000Z", duration_ms=n)

    await appliance.db.write(seed)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flows(pilot)
        assert len(table_rows(app, "flows")) == PAGE_SIZE
        assert static_text(app, "#status").startswith(
            f"{PAGE_SIZE} of {PAGE_SIZE + 7} flow(s), newest first; m loads more.")
        await pilot.press("m")
        await settle(pilot)
        assert sorted(flow_rows(app)) == sorted(flow_ids)
        assert static_text(app, "#status").startswith(
            f"{PAGE_SIZE + 7} of {PAGE_SIZE + 7} flow(s), newest first; all shown.")
        await pilot.press("m")
        assert static_text(app, "#action") == "All flows are shown."
        # a reload keeps every flow loaded so far
        await pilot.press("r")
        await settle(pilot)
        assert len(table_rows(app, "flows")) == PAGE_SIZE + 7

        # the newest flow's deployments: one page, then m with the deployments focused
        await select_row(pilot, "flows", newest)
        await settle(pilot)
        assert len(table_rows(app, "deployments")) == DEPLOYMENTS_PAGE_SIZE
        assert title(app).endswith("m (here) loads older ones")
        await pilot.press("tab")
        assert app.screen.query_one("#deployments", ResourceTable).has_focus
        await pilot.press("m")
        await settle(pilot)
        ids = [row[6] for row in table_rows(app, "deployments")]
        assert ids == [f"dep_{n:03d}" for n in reversed(range(count))]
        assert len(table_rows(app, "flows")) == PAGE_SIZE + 7  # the flows did not move
        await pilot.press("m")
        assert static_text(app, "#action") == "All deployments of this flow are shown."


async def test_deploy_succeeds_against_the_stand_in(grid_session: TuiSession,
                                                    scaigrid_server: FakeScaiGrid) -> None:
    appliance = grid_session.appliance
    flow_id = await new_flow(appliance, "Support")
    app = grid_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flows(pilot)
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert static_text(app, "#question").startswith(
            "Deploy Support version 1.0.0 to ScaiGrid?")
        assert stored_deployments(appliance, flow_id) == []  # nothing before the answer
        await pilot.press("y")
        await settle(pilot)

        assert isinstance(app.screen, FlowsScreen)
        [row] = stored_deployments(appliance, flow_id)
        assert (row["status"], row["version"], row["deployed_by"], row["error"]) == (
            "succeeded", "1.0.0", "usr_operator", None)
        assert row["core_id"] in scaigrid_server.cores
        assert scaigrid_server.last("create_core").bearer == scaigrid_server.api_key
        action = static_text(app, "#action")
        assert action.startswith(f"Deployed Support 1.0.0 as {row['id']}: core "
                                 f"{row['core_id']} (")
        [shown] = table_rows(app, "deployments")
        assert shown[1:3] == ["1.0.0", "succeeded"]
        assert shown[4:7] == [row["core_id"], "-", row["id"]]
        assert app.screen.query_one("#deployments", ResourceTable).selected_key == row["id"]
        assert title(app) == "Deployments of Support: 1 shown, newest first, 0 failed"


async def test_one_deploy_at_a_time(grid_session: TuiSession,
                                    scaigrid_server: FakeScaiGrid) -> None:
    """A second `d` while a deploy runs is refused: it would only cancel the request."""
    flow_id = await new_flow(grid_session.appliance, "Support")
    # Long enough to still be running at the next look under CI load (0.5 s once was not).
    scaigrid_server.stall(3.0, "create_core")
    app = grid_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flows(pilot)
        await pilot.press("d", "y")
        await pilot.pause()
        assert static_text(app, "#action") == "Deploying Support 1.0.0…"
        await pilot.press("d")
        assert isinstance(app.screen, FlowsScreen)  # no dialog
        assert static_text(app, "#action") == \
            "Still deploying Support 1.0.0; wait for its outcome."
        await settle(pilot)
        assert static_text(app, "#action").startswith("Deployed Support 1.0.0 as dep_")
        assert len(stored_deployments(grid_session.appliance, flow_id)) == 1
        assert len(scaigrid_server.requests_to("create_core")) == 1


async def test_a_failed_deploy_shows_the_error_and_the_recorded_failure(
        grid_session: TuiSession, scaigrid_server: FakeScaiGrid) -> None:
    appliance = grid_session.appliance
    flow_id = await new_flow(appliance, "Support")
    scaigrid_server.fail("create_core", 500)
    app = grid_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flows(pilot)
        await pilot.press("d", "y")
        await settle(pilot)
        [row] = stored_deployments(appliance, flow_id)
        assert row["status"] == "failed" and row["core_id"] is None
        assert row["error"].startswith("scaicore_create_failed: ")
        action = static_text(app, "#action")
        first, note = action.split("\n")
        assert first.startswith("Deploy of Support 1.0.0 failed: 502 scaicore_create_failed: ")
        assert note == (f"Recorded as failed deployment {row['id']} (below). "
                        "ScaiGrid answered HTTP 500.")
        assert app.screen.query_one("#action").has_class("-error")
        [shown] = table_rows(app, "deployments")
        assert shown[2] == "failed" and shown[6] == row["id"]
        assert shown[5].startswith("scaicore_create_failed: ")
        assert title(app) == "Deployments of Support: 1 shown, newest first, 1 failed"
        await pilot.press("tab")  # the detail line shows the failure in full
        assert f"error: {row['error']}" in static_text(app, "#detail")

        # ScaiGrid is back: the next deploy succeeds and is listed first
        scaigrid_server.clear_faults()
        await pilot.press("d", "y")
        await settle(pilot)
        statuses = [r[2] for r in table_rows(app, "deployments")]
        assert statuses == ["succeeded", "failed"]
        assert not app.screen.query_one("#action").has_class("-error")


async def test_a_flow_that_does_not_compile_is_refused_and_nothing_recorded(
        grid_session: TuiSession, scaigrid_server: FakeScaiGrid) -> None:
    content = hello_content()
    content["nodes"] = content["nodes"][1:]  # no entry node
    content["edges"] = []
    flow_id = await new_flow(grid_session.appliance, "Broken", content)
    app = grid_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flows(pilot)
        await pilot.press("d", "y")
        await settle(pilot)
        first, note = static_text(app, "#action").split("\n")
        assert first.startswith("Deploy of Broken 1.0.0 failed: 400 compile_error: flow "
                                "version 1.0.0 does not compile (Fix the errors listed")
        assert note.startswith("Errors: ") and "flow has no entry-point node" in note
        assert stored_deployments(grid_session.appliance, flow_id) == []
        assert scaigrid_server.requests_to("create_core") == []
        assert table_rows(app, "deployments") == []


async def test_deploy_without_scaigrid_credentials_says_how_to_fix_it(
        tui_session: TuiSession) -> None:
    flow_id = await new_flow(tui_session.appliance, "Support")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flows(pilot)
        await pilot.press("d", "y")
        await settle(pilot)
        action = static_text(app, "#action")
        assert action.startswith("Deploy of Support 1.0.0 failed: 412 "
                                 "missing_scaigrid_credentials: ")
        assert "set this tenant's API key" in action  # the contract's fix text
        assert stored_deployments(tui_session.appliance, flow_id) == []


async def test_a_super_admin_switches_to_another_tenants_flows(tui_session: TuiSession) -> None:
    """The appliance takes a super admin's `tenant_id` on the flow routes: `T` shows another
    tenant's flows, and an action on one acts in that tenant."""
    appliance = tui_session.appliance
    await new_flow(appliance, "Ours")
    other_headers = await appliance.headers("usr_carol", "tnt_other")
    response = await appliance.client.post(FLOWS, headers=other_headers, json={
        "name": "Theirs", "content": hello_content()})
    theirs = (await response.json())["id"]
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_flows(pilot)
        assert [row[0] for row in table_rows(app, "flows")] == ["Ours"]
        assert "T switches" in static_text(app, "#scope")
        await pilot.press("T")
        await settle(pilot)
        picker = app.screen
        assert isinstance(picker, TenantPickerScreen)
        options = picker.query_one("#tenants", OptionList)
        options.highlighted = [t for t, _ in picker.tenants].index("tnt_other")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FlowsScreen)
        assert set(flow_rows(app)) == {theirs}
        assert static_text(app, "#scope").startswith("Tenant: tnt_other ·")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
    [row] = appliance.sql("SELECT tenant_id, deleted_at FROM flows WHERE id = ?", theirs)
    assert row["tenant_id"] == "tnt_other" and row["deleted_at"] is not None
    [audit] = appliance.sql("SELECT tenant_id, actor FROM audit_log WHERE action = 'flow.deleted'")
    assert tuple(audit) == ("tnt_other", "usr_operator")
