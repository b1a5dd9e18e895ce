"""Catalog against the real appliance, signed in as the bootstrap super admin (whose list spans
every tenant): a package published from a flow is listed with its tenant, size and versions;
exported to a .scaipkg file, deleted, and imported back from that file (a deleted package's
file comes back as the next patch version, as the API documents); another tenant's package
exported and its visibility changed through the routes' `tenant_id`; the appliance's refusals
shown where the operator is looking (inline in the visibility form, one line for an import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input, Static

from tests.conftest import Appliance, hello_content
from tests.tui.helpers import SIZE, TuiSession, select_row, settle, static_text, table_rows
from tui.screens.catalog import CatalogScreen
from tui.screens.catalog_forms import ExportForm, ImportForm, VisibilityForm
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.tenant_picker import TenantPickerScreen

CATALOG = "/api/v1/catalog"


async def publish(appliance: Appliance, package_id: str, name: str, *, sub: str,
                  tenant: str) -> dict[str, str]:
    """Publish `package_id` from a new flow of `sub`; the author's headers."""
    headers = await appliance.headers(sub, tenant)
    response = await appliance.client.post("/api/v1/flows", headers=headers, json={
        "name": name, "content": hello_content()})
    flow_id = (await response.json())["id"]
    response = await appliance.client.post(f"{CATALOG}/publish", headers=headers, json={
        "package_id": package_id, "name": name, "flow_id": flow_id})
    assert response.status == 201, await response.text()
    return headers


async def stored(appliance: Appliance, path: str, headers: dict[str, str],
                 **params: str) -> Any:
    response = await appliance.client.get(path, headers=headers, params=params)
    assert response.status == 200, await response.text()
    return await response.read() if path.endswith("/download") else await response.json()


async def test_export_delete_and_import_a_package(tui_session: TuiSession,
                                                  tmp_path: Path) -> None:
    appliance = tui_session.appliance
    headers = await publish(appliance, "greeter", "Greeter", sub="usr_operator",
                            tenant="tnt_local")
    target = tmp_path / "greeter.scaipkg"
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        assert isinstance(app.screen, CatalogScreen)
        download = await stored(appliance, f"{CATALOG}/greeter/versions/0.1.0/download",
                                headers)
        [version] = (await stored(appliance, f"{CATALOG}/greeter", headers))["versions"]
        assert version["size_bytes"] == len(download)
        [row] = table_rows(app, "packages")
        size = f"{len(download) / 1024:.1f} KB"
        assert row == ["greeter", "tnt_local", "Greeter", "0.1.0", "tenant", "usr_operator",
                       size]
        assert table_rows(app, "package-versions") == [
            ["0.1.0", version["created_at"][:16].replace("T", " "), size,
             version["sha256"][:16]]]
        await select_row(pilot, "packages", "tnt_local/greeter")
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportForm)
        app.screen.query_one("#file", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#action").startswith(f"Exported greeter 0.1.0 to {target}")
        assert target.read_bytes() == download

        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert table_rows(app, "packages") == []

        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, ImportForm)
        assert "into tnt_local" in str(app.screen.query_one(".title", Static).content)
        app.screen.query_one("#file", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#action") == \
            "Imported greeter version 0.1.1 into tnt_local."
        assert [r[0] for r in table_rows(app, "packages")] == ["greeter"]


async def test_a_super_admin_exports_another_tenants_package(tui_session: TuiSession,
                                                             tmp_path: Path) -> None:
    appliance = tui_session.appliance
    ada = await publish(appliance, "triage", "Triage", sub="usr_ada", tenant="tnt_acme")
    await publish(appliance, "greeter", "Greeter", sub="usr_operator", tenant="tnt_local")
    target = tmp_path / "triage.scaipkg"
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        assert sorted((r[0], r[1]) for r in table_rows(app, "packages")) == [
            ("greeter", "tnt_local"), ("triage", "tnt_acme")]
        # T narrows the list to one tenant (a filter here: the list route spans them all)
        await pilot.press("T")
        await settle(pilot)
        assert isinstance(app.screen, TenantPickerScreen)
        app.screen.dismiss("tnt_acme")
        await settle(pilot)
        assert [r[:2] for r in table_rows(app, "packages")] == [["triage", "tnt_acme"]]
        assert static_text(app, "#scope").startswith("Tenant: tnt_acme of every tenant's")
        # the versions pane read the detail with the super admin's tenant_id
        assert [r[0] for r in table_rows(app, "package-versions")] == ["0.1.0"]
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ExportForm)
        app.screen.query_one("#file", Input).value = str(target)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#action").startswith(f"Exported triage 0.1.0 to {target}")
    # exactly the bytes the author's own download gives
    assert target.read_bytes() == await stored(
        appliance, f"{CATALOG}/triage/versions/0.1.0/download", ada)


async def test_visibility_changes_through_the_form(tui_session: TuiSession) -> None:
    appliance = tui_session.appliance
    ada = await publish(appliance, "triage", "Triage", sub="usr_ada", tenant="tnt_acme")
    await appliance.group("grp_support", "tnt_acme", ["usr_ada"])
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        await pilot.press("question_mark")  # the key is listed with what it does
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        assert ("v", "Change who sees the package (its tenant, or groups)") in app.screen.own
        await pilot.press("escape")
        await settle(pilot)
        await select_row(pilot, "packages", "tnt_acme/triage")
        await pilot.press("v")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, VisibilityForm)
        form.query_one("#visibility", Input).value = "groups"
        # the appliance's 422 (not a plain id) and 400 (no such group) stay in the form
        form.query_one("#groups", Input).value = "grp support"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        error = static_text(app, "#form-error")
        assert error.startswith("Not changed: 422 validation_failed: "
                                "visibility_group_ids.0: "), error
        form.query_one("#groups", Input).value = "grp_support, grp_nobody"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert static_text(app, "#form-error").startswith("Not changed: 400 unknown_groups")
        assert (await stored(appliance, f"{CATALOG}/triage", ada))["visibility"] == "tenant"

        form.query_one("#groups", Input).value = "grp_support"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CatalogScreen)
        assert static_text(app, "#action") == "triage is visible to groups: grp_support."
        [row] = table_rows(app, "packages")
        assert row[4] == "groups: grp_support"
    package = await stored(appliance, f"{CATALOG}/triage", ada)
    assert (package["visibility"], package["visibility_group_ids"]) == (
        "groups", ["grp_support"])
    [audit] = appliance.sql("SELECT actor, tenant_id FROM audit_log WHERE action = "
                            "'package.visibility_changed'")
    assert tuple(audit) == ("usr_operator", "tnt_acme")


async def test_a_corrupt_file_is_refused_in_one_line(tui_session: TuiSession,
                                                     tmp_path: Path) -> None:
    corrupt = tmp_path / "broken.scaipkg"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, ImportForm)
        app.screen.query_one("#file", Input).value = str(corrupt)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CatalogScreen)
        text = static_text(app, "#action")
        assert text.startswith(f"Could not import {corrupt}: 400 invalid_archive: "), text
        assert "\n" not in text
        assert app.screen.query_one("#action", Static).has_class("-error")
        assert table_rows(app, "packages") == []
    assert tui_session.appliance.sql("SELECT COUNT(*) FROM catalog_packages")[0][0] == 0
