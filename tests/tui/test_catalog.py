"""Catalog against the real appliance: a package published from a flow is listed with its
versions; exported to a .scaipkg file, deleted, and imported back from that file (a deleted
package's file comes back as the next patch version, as the API documents)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from tests.conftest import hello_content
from tests.tui.helpers import SIZE, TuiSession, select_row, settle, static_text, table_rows
from tui.screens.catalog import CatalogScreen
from tui.screens.catalog_forms import ExportForm, ImportForm
from tui.screens.confirm import ConfirmScreen


async def test_export_delete_and_import_a_package(tui_session: TuiSession,
                                                  tmp_path: Path) -> None:
    appliance = tui_session.appliance
    headers = await appliance.headers("usr_operator", "tnt_local")
    response = await appliance.client.post("/api/v1/flows", headers=headers, json={
        "name": "Greeter", "content": hello_content()})
    flow_id = (await response.json())["id"]
    response = await appliance.client.post("/api/v1/catalog/publish", headers=headers, json={
        "package_id": "greeter", "name": "Greeter", "flow_id": flow_id})
    assert response.status == 201, await response.text()
    target = tmp_path / "greeter.scaipkg"
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        assert isinstance(app.screen, CatalogScreen)
        [row] = table_rows(app, "packages")
        assert row[:3] == ["greeter", "Greeter", "0.1.0"]
        assert [r[0] for r in table_rows(app, "package-versions")] == ["0.1.0"]
        await select_row(pilot, "packages", "greeter")
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportForm)
        app.screen.query_one("#file", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#action").startswith(f"Exported greeter 0.1.0 to {target}")
        download = await appliance.client.get(
            "/api/v1/catalog/greeter/versions/0.1.0/download", headers=headers)
        assert target.read_bytes() == await download.read()

        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert table_rows(app, "packages") == []

        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, ImportForm)
        app.screen.query_one("#file", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#action") == \
            "Imported greeter version 0.1.1 into tnt_local."
        assert [r[0] for r in table_rows(app, "packages")] == ["greeter"]

