"""Dashboard against the real appliance: what it runs, health and readiness, who the TUI is,
token issuers, live editors; an appliance going away and coming back is noticed without a key
press (the data shown is marked stale meanwhile); a session without an admin role."""

from __future__ import annotations

import time

import pytest

from scaiflow_box.build_info import build_info
from scaiflow_box.keys import DB, LEASES
from scaiflow_box.store import leases
from tests.conftest import AppFactory, Appliance
from tests.fakes.scaikey import FakeScaiKey
from tests.tui.helpers import (
    SIZE,
    TuiSession,
    base_url,
    closed_port_url,
    settle,
    static_text,
    table_rows,
    wait_for,
)
from tui.app import ScaiflowAdmin
from tui.client import AdminClient, StaticToken
from tui.screens.dashboard import DashboardScreen
from tui.widgets.nav_bar import NavBar


async def test_overview_shows_health_identity_and_the_local_issuer(
        tui_session: TuiSession) -> None:
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        health = static_text(app, "#health")
        assert "healthz: ok" in health
        assert "readyz: ready" in health
        settings = tui_session.appliance.settings
        assert f"scaiflow-box {build_info().version} · " in health
        assert f"data {settings.data_dir.resolve()} · DB " in health
        if tui_session.appliance.db.engine == "mariadb":  # its size, and no WAL of its own
            assert " (MariaDB) · RSS " in health and "WAL" not in health
        else:
            assert " · WAL " in health and "MariaDB" not in health
        assert f"listening on http://{settings.api_host}:{settings.api_port}" in health
        assert "Traffic" in static_text(app, "#traffic")
        assert static_text(app, "#warnings") == "Warnings   none"
        whoami = static_text(app, "#whoami")
        assert "as usr_operator @ tnt_local" in whoami
        assert "role: super_admin (bootstrap)" in whoami
        assert "token: service" in whoami
        [local] = table_rows(app, "issuers")
        kid = tui_session.appliance.sql("SELECT kid FROM issuer_keys WHERE active = 1")[0][0]
        assert local == ["this appliance (service tokens)", "local", kid, "-"]
        assert app.screen.query_one("#problem").display is False
        assert app.screen.query_one(NavBar).up is True


async def test_live_editors_per_flow(tui_session: TuiSession) -> None:
    headers = await tui_session.appliance.headers("usr_operator", "tnt_local")
    probe = await tui_session.appliance.client.get("/api/v1/admin/live-editing",
                                                   headers=headers)
    if probe.status == 404:
        pytest.skip("GET /api/v1/admin/live-editing is not served yet (live editing lands "
                    "from its own branch); the stub snapshots cover the table")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert static_text(app, "#live-title") == \
            "Live editing: nobody is editing a flow now"


async def test_overview_lists_the_scaikey_issuer_with_key_ids_and_age(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    appliance = await make_appliance(**scaikey_server.env())
    await appliance.user("usr_root", "tnt_acme", role="super_admin", issuer="scaikey")
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


async def test_an_appliance_going_away_and_coming_back_is_noticed_without_a_key_press(
        tui_session: TuiSession) -> None:
    client = tui_session.client
    url = client.base_url
    app = tui_session.app(auto_reload=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "healthz: ok" in static_text(app, "#health")
        client.base_url = closed_port_url()  # the appliance goes away
        started = time.monotonic()
        await wait_for(pilot, lambda: app.screen.query_one("#problem").display)
        assert time.monotonic() - started < 5
        problem = static_text(app, "#problem")
        assert problem.startswith("Appliance unreachable since ")
        assert "connection refused" in problem
        assert "The data below is STALE: last read at " in problem
        assert "9 opens the data-directory tools" in problem
        assert app.screen.has_class("-stale")
        assert app.screen.query_one(NavBar).up is False
        client.base_url = url  # …and comes back: no key is pressed
        started = time.monotonic()
        await wait_for(pilot, lambda: not app.screen.query_one("#problem").display)
        assert time.monotonic() - started < 8
        assert not app.screen.has_class("-stale")
        assert app.screen.query_one(NavBar).up is True


async def test_unreachable_appliance_shows_a_clear_state_and_recovers_on_refresh(
        appliance: Appliance) -> None:
    client = AdminClient(closed_port_url(), StaticToken("unused"))
    app = ScaiflowAdmin(client, auto_reload=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one("#problem")
        assert banner.display is True
        text = static_text(app, "#problem")
        assert text.startswith("Appliance unreachable since ")
        assert ": connection refused" in text
        assert "No data could be read yet." in text
        assert client.base_url in text
        assert "9 opens" not in text  # no data-directory tools were handed in
        assert "No data" in static_text(app, "#status")
        # every screen degrades the same way, none crashes
        for key, table in (("2", "users"), ("3", "tokens"), ("4", "audit"), ("5", "tenants"),
                           ("6", "flows"), ("7", "packages")):
            await pilot.press(key)
            await settle(pilot)
            assert static_text(app, "#problem").startswith("Appliance unreachable")
            assert table_rows(app, table) == []
        await pilot.press("1")
        await settle(pilot)
        # The operator starts the appliance (here: points the client at it) and presses r.
        client.base_url = base_url(appliance)
        client.tokens = StaticToken(await appliance.token("usr_root", "tnt_local",
                                                          role="super_admin"))
        await pilot.press("r")
        await settle(pilot)
        assert app.screen.query_one("#problem").display is False
        assert "healthz: ok" in static_text(app, "#health")
        assert app.is_running


async def test_a_session_without_admin_role_says_so(appliance: Appliance) -> None:
    token = await appliance.token("usr_plain", "tnt_local")
    app = ScaiflowAdmin(AdminClient(str(appliance.client.make_url("/")), StaticToken(token)),
                        auto_reload=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        whoami = static_text(app, "#whoami")
        assert "as usr_plain @ tnt_local" in whoami
        assert "no admin role" in whoami
        # the rest of the dashboard stays; the Directory panel says why it is empty
        assert static_text(app, "#directory").startswith(
            "Directory — /api/v1/admin/sync/status failed: Not allowed: this action needs the "
            "super_admin role")
        assert "healthz: ok" in static_text(app, "#health")
        assert "usr_plain is not a super admin" in static_text(app, "#warnings")
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


async def test_work_another_process_holds_the_lease_of_is_named(tui_session: TuiSession) -> None:
    """Several processes on one database: the one that does not run the scheduled sync says
    who does and when it would take over."""
    web_app = tui_session.appliance.client.app
    keeper, db = web_app[LEASES], web_app[DB]
    await keeper.close()
    await db.write(lambda conn: leases.take(conn, "directory_sync", "host-b:7:abc",
                                            time.time(), 3600))
    await keeper.renew()
    assert keeper.status()["leases_held"] == ["retention"]
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert static_text(app, "#warnings") == (
            "Warnings (1)\n  ! The scheduled ScaiKey sync runs in another process of this site "
            "(it holds its lease); if none is running, this one takes over within "
            "SCAIFLOW_LEASE_SECONDS.")
