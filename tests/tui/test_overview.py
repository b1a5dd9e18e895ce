"""Overview: health, readiness, who the TUI is, token issuers; and the unreachable state."""

from __future__ import annotations

from tui.screens.overview import OverviewScreen

from tests.conftest import AppFactory, Appliance
from tests.fakes.scaikey import FakeScaiKey
from tests.tui.helpers import (
    SIZE,
    TuiSession,
    closed_port_url,
    settle,
    static_text,
    table_rows,
)
from tui.app import ScaiflowAdmin
from tui.client import AdminClient, StaticToken


async def test_overview_shows_health_identity_and_the_local_issuer(
        tui_session: TuiSession) -> None:
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        health = static_text(app, "#health")
        assert "healthz: ok" in health
        assert "readyz: ready" in health
        whoami = static_text(app, "#whoami")
        assert "as usr_operator @ tnt_local" in whoami
        assert "role: super_admin (bootstrap)" in whoami
        assert "token: service" in whoami
        [local] = table_rows(app, "issuers")
        kid = tui_session.appliance.sql("SELECT kid FROM issuer_keys WHERE active = 1")[0][0]
        assert local == ["this appliance (service tokens)", "local", kid, "-"]
        assert app.screen.query_one("#problem").display is False


async def test_overview_lists_the_scaikey_issuer_with_key_ids_and_age(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    appliance = await make_appliance(**scaikey_server.env())
    await appliance.user("usr_root", "tnt_acme", role="super_admin")
    token = scaikey_server.mint(sub="usr_root", tenant_id="tnt_acme")
    client = AdminClient(str(appliance.client.make_url("/")), StaticToken(token))
    app = ScaiflowAdmin(client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        rows = table_rows(app, "issuers")
        remote = [row for row in rows if row[0] == scaikey_server.issuer]
        assert len(remote) == 1
        _, source, key_ids, age = remote[0]
        assert source == "discovery"
        assert key_ids == "key-1"
        assert age.endswith(" s")
        assert "token: scaikey" in static_text(app, "#whoami")


async def test_unreachable_appliance_shows_a_clear_state_and_recovers_on_refresh(
        appliance: Appliance) -> None:
    client = AdminClient(closed_port_url(), StaticToken("unused"))
    app = ScaiflowAdmin(client)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one("#problem")
        assert banner.display is True
        text = static_text(app, "#problem")
        assert text.startswith("Appliance unreachable: connection refused")
        assert client.base_url in text
        assert "press r to retry" in text
        assert "No data" in static_text(app, "#status")
        # every screen degrades the same way, none crashes
        for key, table in (("2", "users"), ("3", "tokens"), ("4", "audit"), ("5", "tenants"),
                           ("6", "flows")):
            await pilot.press(key)
            await settle(pilot)
            assert static_text(app, "#problem").startswith("Appliance unreachable")
            assert table_rows(app, table) == []
        await pilot.press("1")
        await settle(pilot)
        # The operator starts the appliance (here: points the client at it) and presses r.
        client.base_url = str(appliance.client.make_url("/")).rstrip("/")
        client.tokens = StaticToken(await appliance.token("usr_root", "tnt_local",
                                                          role="super_admin"))
        await pilot.press("r")
        await settle(pilot)
        assert app.screen.query_one("#problem").display is False
        assert "healthz: ok" in static_text(app, "#health")
        assert app.is_running


async def test_a_session_without_admin_role_says_so(appliance: Appliance) -> None:
    token = await appliance.token("usr_plain", "tnt_local")
    app = ScaiflowAdmin(AdminClient(str(appliance.client.make_url("/")), StaticToken(token)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        whoami = static_text(app, "#whoami")
        assert "as usr_plain @ tnt_local" in whoami
        assert "no admin role" in whoami
        # the rest of the overview stays; the Directory panel says why it is empty
        assert static_text(app, "#directory").startswith(
            "Directory — /api/v1/admin/sync/status failed: Not allowed: this action needs the "
            "super_admin role")
        assert "healthz: ok" in static_text(app, "#health")
        await pilot.press("2")
        await settle(pilot)
        problem = static_text(app, "#problem")
        assert problem.startswith("Not allowed: this action needs the super_admin role")
        assert "scaiflow-box admin grant" in problem


async def test_q_quits(tui_session: TuiSession) -> None:
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
