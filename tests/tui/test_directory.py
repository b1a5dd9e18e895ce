"""The directory in the TUI (issue 8, "Operator view"): the users screen's groups, tenant and
group filters and "sync now" (against the fake ScaiKey, not configured, ScaiKey down, the
appliance down); the overview's Directory panel (no sync yet, the last sync and schedule,
webhook activity after signed webhooks). Each asserts what is shown and what is stored."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from scaiflow_box.services import directory_sync
from scaiflow_box.services.bootstrap import bootstrap_operator
from scaiflow_box.store import users as user_rows
from tests.conftest import AppFactory, Appliance
from tests.fakes.scaikey import WEBHOOK_PATH, FakeScaiKey
from tests.tui.helpers import (
    SIZE,
    TuiSession,
    closed_port_url,
    open_session,
    select_row,
    settle,
    static_text,
    table_rows,
)
from tui.app import ScaiflowAdmin
from tui.client import AdminClient, StaticToken
from tui.screens.confirm import ConfirmScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.users import UsersScreen

SECRET = "whsec_tui_0123456789"
SYNCED = {"usr_alice", "usr_bob", "usr_carol", "usr_dan"}
MOMENT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(\d+ s ago\)"


def directory(fake: FakeScaiKey) -> None:
    """Two tenants in ScaiKey; "Platform Admins" is the super-admin group."""
    fake.add_user("usr_alice", email="alice@acme.test", display_name="Alice")
    fake.add_user("usr_bob", status="SUSPENDED")
    fake.add_user("usr_carol")
    fake.add_group("grp_editors", name="Editors", members=["usr_alice", "usr_bob"])
    fake.add_group("grp_admins", name="Platform Admins", members=["usr_carol"])
    fake.add_user("usr_dan", "tnt_beta")
    fake.add_group("grp_beta", "tnt_beta", name="Beta", members=["usr_dan"])


async def scaikey_box(make_appliance: AppFactory, fake: FakeScaiKey, **env: str) -> Appliance:
    """An appliance connected to the fake ScaiKey (admin API and webhooks), set up before
    ScaiKey was: the bootstrap operator (the TUI's default account) exists."""
    directory(fake)
    appliance = await make_appliance(**fake.env(
        SCAIFLOW_SUPER_ADMIN_GROUPS="Platform Admins", SCAIFLOW_SCAIKEY_WEBHOOK_SECRET=SECRET,
        **env))
    await appliance.db.write(bootstrap_operator)
    return appliance


def stored_users(appliance: Appliance) -> dict[str, tuple[Any, ...]]:
    return {row["id"]: tuple(row)[1:] for row in appliance.sql(
        "SELECT id, tenant_id, status, source, admin_role, admin_role_source,"
        " deleted_at IS NOT NULL FROM users")}


def last_sync(appliance: Appliance) -> dict[str, Any] | None:
    rows = appliance.sql("SELECT value FROM meta WHERE `key` = 'directory_sync.last'")
    return json.loads(rows[0][0]) if rows else None


def live_members(appliance: Appliance, group_id: str) -> set[str]:
    return {row[0] for row in appliance.sql(
        "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.group_id = ? AND m.deleted_at IS NULL AND u.deleted_at IS NULL", group_id)}


def user_ids(app: ScaiflowAdmin) -> set[str]:
    return {row[0] for row in table_rows(app, "users")}


def action_classes(app: ScaiflowAdmin) -> set[str]:
    return set(app.screen.query_one("#action", Static).classes)


async def open_users(pilot: Pilot[int]) -> None:
    await pilot.press("2")
    await settle(pilot)
    assert isinstance(pilot.app.screen, UsersScreen)


async def sync_now(pilot: Pilot[int]) -> None:
    await pilot.press("S")
    await settle(pilot)
    assert isinstance(pilot.app.screen, ConfirmScreen)
    question = pilot.app.screen.query_one("#question", Static).content
    assert str(question).startswith("Sync users, groups and memberships from ScaiKey now?")
    await pilot.press("y")
    await settle(pilot)


# -- sync now ---------------------------------------------------------------------------------
async def test_sync_now_mirrors_scaikey_and_shows_every_counter(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    appliance = await scaikey_box(make_appliance, scaikey_server)
    async with open_session(appliance) as session:
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await open_users(pilot)
            assert user_ids(app) == {"usr_operator"}
            assert table_rows(app, "groups") == []
            assert "none (ScaiKey's groups arrive by sync or webhook)" in str(
                app.screen.query_one("#groups-title").render())
            await pilot.press("S")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            assert last_sync(appliance) is None  # nothing before the answer
            await pilot.press("y")
            await settle(pilot)
            assert isinstance(app.screen, UsersScreen)
            head, users_line, members_line = static_text(app, "#action").splitlines()
            assert re.fullmatch(r"Directory synced in \d+\.\d\d s via effective users\.", head)
            assert users_line == ("users 4 seen, 4 added, 0 undeleted, 0 soft-deleted · groups "
                                  "3 seen, 3 added, 0 undeleted, 0 soft-deleted")
            assert members_line == ("memberships 4 seen, 4 added, 0 soft-deleted · super admins "
                                    "2 (by group: 1 promoted, 0 demoted)")
            assert "-error" not in action_classes(app)
            # the stored mirror, and the tables reloaded from it
            stored = stored_users(appliance)
            assert {k for k, v in stored.items() if v[2] == "scaikey"} == SYNCED
            assert stored["usr_carol"] == ("tnt_acme", "ACTIVE", "scaikey", "super_admin",
                                           "group", 0)
            stored_sync = last_sync(appliance)
            assert stored_sync is not None and stored_sync["trigger"] == "manual"
            rows = {row[0]: row for row in table_rows(app, "users")}
            assert set(rows) == SYNCED | {"usr_operator"}
            assert rows["usr_bob"][1:5] == ["tnt_acme", "usr_bob@example.test", "usr_bob",
                                            "SUSPENDED"]
            assert rows["usr_carol"][5:] == ["super_admin", "group"]
            groups = {row[0]: row for row in table_rows(app, "groups")}
            assert set(groups) == {"grp_editors", "grp_admins", "grp_beta"}
            assert groups["grp_admins"][:5] == ["grp_admins", "tnt_acme", "Platform Admins",
                                                "1", "yes"]
            assert groups["grp_editors"][3:5] == ["2", "-"]
            [synced_at] = appliance.sql(
                "SELECT last_synced_at FROM groups WHERE id = 'grp_admins'")[0]
            assert groups["grp_admins"][5:] == [synced_at, "-"]
            assert static_text(app, "#status") == "5 user(s), 3 group(s)."
            # a group-derived role: removing it says the next sync gives it back
            await select_row(pilot, "users", "usr_carol")
            assert "last synced from ScaiKey 20" in static_text(app, "#detail")
            await pilot.press("x")
            await settle(pilot)
            assert "the next sync elects usr_carol again" in static_text(app, "#question")
            await pilot.press("escape")
            await settle(pilot)
            assert stored_users(appliance)["usr_carol"][3:5] == ("super_admin", "group")


async def test_a_second_sync_reports_what_changed(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    appliance = await scaikey_box(make_appliance, scaikey_server)
    async with open_session(appliance) as session:
        await session.client.sync_directory()
        scaikey_server.remove_user("usr_carol")  # and so leaves Platform Admins
        scaikey_server.add_user("usr_erin")
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await open_users(pilot)
            await sync_now(pilot)
            _, users_line, members_line = static_text(app, "#action").splitlines()
            assert users_line == ("users 4 seen, 1 added, 0 undeleted, 1 soft-deleted · groups 3 "
                                  "seen, 0 added, 0 undeleted, 0 soft-deleted")
            assert members_line == ("memberships 3 seen, 0 added, 1 soft-deleted · super admins "
                                    "1 (by group: 0 promoted, 1 demoted)")
            assert stored_users(appliance)["usr_carol"][3:] == (None, None, 1)
            # soft-deleted users are hidden until d shows them
            assert "usr_carol" not in user_ids(app) and "usr_erin" in user_ids(app)
            await pilot.press("d")
            await settle(pilot)
            rows = {row[0]: row for row in table_rows(app, "users")}
            assert rows["usr_carol"][4] == "ACTIVE (deleted)"
            assert "Soft-deleted: shown" in static_text(app, "#filters")
            await select_row(pilot, "users", "usr_carol")
            assert "soft-deleted 20" in static_text(app, "#detail")
            await pilot.press("d")
            await settle(pilot)
            assert "usr_carol" not in user_ids(app)


async def test_sync_on_a_box_without_scaikey_says_it_is_not_configured(
        tui_session: TuiSession) -> None:
    app = tui_session.app()
    before = stored_users(tui_session.appliance)
    async with app.run_test(size=SIZE) as pilot:
        await open_users(pilot)
        await pilot.press("S", "escape")
        await settle(pilot)
        assert static_text(app, "#action") == "Cancelled; nothing synced."
        assert last_sync(tui_session.appliance) is None
        await sync_now(pilot)
        assert static_text(app, "#action") == (
            "ScaiKey is not configured: nothing was synced.\nSet SCAIKEY_BASE_URL, "
            "SCAIFLOW_SCAIKEY_CLIENT_ID and SCAIFLOW_SCAIKEY_CLIENT_SECRET and restart the "
            "appliance (docs/operations.md).")
        assert "-warning" in action_classes(app) and "-error" not in action_classes(app)
        stored = last_sync(tui_session.appliance)
        assert stored is not None and stored["ok"] is True
        assert stored["result"]["skipped_reason"] == "credentials_missing"
        assert stored_users(tui_session.appliance) == before
        await pilot.press("1")
        await settle(pilot)
        text = static_text(app, "#directory")
        assert re.search(rf"last sync: {MOMENT}, manual · skipped: ScaiKey is not configured",
                         text), text


async def test_scaikey_down_shows_the_502_with_its_fix_and_keeps_the_mirror(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    appliance = await scaikey_box(make_appliance, scaikey_server)
    async with open_session(appliance) as session:
        await session.client.sync_directory()
        before = stored_users(appliance)
        await scaikey_server.stop()
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await open_users(pilot)
            await sync_now(pilot)
            text = static_text(app, "#action")
            assert text.startswith("Sync failed: 502 scaikey_sync_failed: directory sync could "
                                   "not read ScaiKey: connection failed; the mirror was left as "
                                   "it was (Check SCAIKEY_BASE_URL, the client credentials")
            assert text.endswith("\nNothing was changed: users keep signing in against the "
                                 "mirror as it is.")
            assert "-error" in action_classes(app)
            assert stored_users(appliance) == before
            assert user_ids(app) == SYNCED | {"usr_operator"}  # still listed
            stored = last_sync(appliance)
            assert stored is not None
            assert (stored["ok"], stored["error"]) == (False, "connection failed")
            await pilot.press("1")
            await settle(pilot)
            assert re.search(rf"last sync: {MOMENT}, manual · FAILED: connection failed \(the "
                             r"mirror was kept\)", static_text(app, "#directory"))


async def test_sync_against_an_unreachable_appliance(appliance: Appliance) -> None:
    client = AdminClient(closed_port_url(), StaticToken("unused"))
    app = ScaiflowAdmin(client)
    async with app.run_test(size=SIZE) as pilot:
        await open_users(pilot)
        assert static_text(app, "#problem").startswith("Appliance unreachable")
        assert table_rows(app, "groups") == []
        await pilot.press("f")
        assert static_text(app, "#action") == "No tenants loaded: press r to load them."
        await sync_now(pilot)
        text = static_text(app, "#action")
        assert text.startswith(f"Sync failed: appliance unreachable at {client.base_url}: "
                               "connection refused")
        assert text.endswith("the Dashboard (1) shows the last sync once it ends.")
        assert "-error" in action_classes(app)
        assert app.is_running
    assert last_sync(appliance) is None


# -- groups and filters -------------------------------------------------------------------------
async def test_selecting_a_group_lists_its_members(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    appliance = await scaikey_box(make_appliance, scaikey_server)
    async with open_session(appliance) as session:
        await session.client.sync_directory()
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await open_users(pilot)
            await pilot.press("g")  # from the users table: the groups table's highlighted one
            await settle(pilot)
            first = table_rows(app, "groups")[0][0]
            assert user_ids(app) == live_members(appliance, first)
            await pilot.press("g")  # the same group again: everyone
            await settle(pilot)
            assert static_text(app, "#action") == "Showing every user again."
            await select_row(pilot, "groups", "grp_editors")
            assert "2 live member(s)" in static_text(app, "#detail")
            await pilot.press("enter")
            await settle(pilot)
            assert user_ids(app) == live_members(appliance, "grp_editors") == {"usr_alice",
                                                                                 "usr_bob"}
            assert "Group: members of grp_editors (Editors)" in static_text(app, "#filters")
            assert static_text(app, "#status") == "2 user(s), 3 group(s)."
            await select_row(pilot, "groups", "grp_admins")
            assert "super-admin group (SCAIFLOW_SUPER_ADMIN_GROUPS)" in static_text(
                app, "#detail")
            await pilot.press("enter")
            await settle(pilot)
            assert user_ids(app) == {"usr_carol"}
            # a role changed under a filter lands in the database; the filter stays
            await select_row(pilot, "users", "usr_carol")
            await pilot.press("t", "y")
            await settle(pilot)
            assert stored_users(appliance)["usr_carol"][3:5] == ("tenant_admin", "manual")
            assert table_rows(app, "users") == [["usr_carol", "tnt_acme", "usr_carol@example.test",
                                                 "usr_carol", "ACTIVE", "tenant_admin", "manual"]]
            await select_row(pilot, "groups", "grp_admins")
            await pilot.press("enter")
            await settle(pilot)
            assert "Group: any" in static_text(app, "#filters")
            assert user_ids(app) == SYNCED | {"usr_operator"}


async def test_the_tenant_filter_cycles_through_every_tenant(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    appliance = await scaikey_box(make_appliance, scaikey_server)
    async with open_session(appliance) as session:
        await session.client.sync_directory()
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await open_users(pilot)
            assert "Tenant: all tenants" in static_text(app, "#filters")
            tenants = [row[0] for row in appliance.sql("SELECT id FROM tenants ORDER BY id")]
            assert tenants == ["tnt_acme", "tnt_beta", "tnt_local"]
            for tenant in tenants:
                await pilot.press("f")
                await settle(pilot)
                assert f"Tenant: {tenant}" in static_text(app, "#filters")
                expected_users = {row[0] for row in appliance.sql(
                    "SELECT id FROM users WHERE tenant_id = ? AND deleted_at IS NULL", tenant)}
                assert user_ids(app) == expected_users
                assert {row[1] for row in table_rows(app, "users")} == {tenant}
                expected_groups = {row[0] for row in appliance.sql(
                    "SELECT id FROM groups WHERE tenant_id = ?", tenant)}
                assert {row[0] for row in table_rows(app, "groups")} == expected_groups
            assert user_ids(app) == {"usr_operator"}
            assert "Groups of tnt_local: none" in str(
                app.screen.query_one("#groups-title").render())
            await pilot.press("f")  # back to every tenant
            await settle(pilot)
            assert "Tenant: all tenants" in static_text(app, "#filters")
            assert user_ids(app) == SYNCED | {"usr_operator"}
            # a group filter ends when the tenant filter moves to another tenant
            await select_row(pilot, "groups", "grp_editors")
            await pilot.press("enter", "f")  # -> tnt_acme: grp_editors is one of its groups
            await settle(pilot)
            assert "Group: members of grp_editors" in static_text(app, "#filters")
            assert user_ids(app) == {"usr_alice", "usr_bob"}
            await pilot.press("f")  # -> tnt_beta
            await settle(pilot)
            assert "Tenant: tnt_beta  ·  Group: any" in static_text(app, "#filters")
            assert user_ids(app) == {"usr_dan"}


# -- the overview's Directory panel -------------------------------------------------------------
async def test_overview_without_scaikey_or_a_sync(tui_session: TuiSession) -> None:
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert static_text(app, "#directory").splitlines() == [
            "Directory ScaiKey sync not configured (set SCAIKEY_BASE_URL, "
            "SCAIFLOW_SCAIKEY_CLIENT_ID and SCAIFLOW_SCAIKEY_CLIENT_SECRET)",
            "  super-admin groups: none (SCAIFLOW_SUPER_ADMIN_GROUPS unset)",
            "  last sync: never",
            "  webhooks: not configured (SCAIFLOW_SCAIKEY_WEBHOOK_SECRET unset: ScaiKey's events "
            "are refused with 503)",
        ]
    assert last_sync(tui_session.appliance) is None


async def test_overview_shows_the_schedule_and_the_last_sync(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directory_sync, "FIRST_RUN_DELAY_SECONDS", 3600.0)
    appliance = await scaikey_box(make_appliance, scaikey_server,
                                  SCAIFLOW_SYNC_INTERVAL_MINUTES="60")
    async with open_session(appliance) as session:
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            schedule, groups, never, hooks = static_text(app, "#directory").splitlines()
            assert re.fullmatch(r"Directory ScaiKey sync configured · every 60 min · next run "
                                r"in (59|60) min", schedule), schedule
            assert groups == "  super-admin groups: Platform Admins"
            assert never == "  last sync: never"
            assert hooks == "  webhooks: configured · last 24 h: 0 received, 0 handled · last: " \
                            "none yet"
            await session.client.sync_directory()  # another operator syncs
            await pilot.press("r")
            await settle(pilot)
            lines = static_text(app, "#directory").splitlines()
            assert re.fullmatch(rf"  last sync: {MOMENT}, manual · ok in \d+\.\d\d s via "
                                "effective users", lines[2]), lines[2]
            assert lines[3] == ("    users 4 seen, 4 added, 0 undeleted, 0 soft-deleted · "
                                "groups 3 seen, 3 added, 0 undeleted, 0 soft-deleted")
            assert lines[4] == ("    memberships 4 seen, 4 added, 0 soft-deleted · super admins "
                                "2 (by group: 1 promoted, 0 demoted)")
            stored = last_sync(appliance)
            assert stored is not None and stored["finished_at"] in lines[2]


async def test_overview_shows_webhook_activity_after_signed_webhooks(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    appliance = await scaikey_box(make_appliance, scaikey_server)
    url = str(appliance.client.make_url(WEBHOOK_PATH))
    assert await scaikey_server.send_webhook(
        url, "user.created", {"id": "usr_hook", "email": "hook@acme.test"},
        secret=SECRET) == (200, {"handled": True})
    await asyncio.sleep(0.01)  # "last" is by received_at (milliseconds)
    assert await scaikey_server.send_webhook(
        url, "invoice.paid", {"id": "inv_1"}, secret=SECRET) == (200, {"handled": False})
    assert (await scaikey_server.send_webhook(url, "user.created", {"id": "usr_forged"},
                                              secret="not-the-secret"))[0] == 400
    stored = appliance.sql("SELECT event_type, handled, received_at FROM webhook_events"
                           " ORDER BY received_at")
    assert [(r[0], r[1]) for r in stored] == [("user.created", 1), ("invoice.paid", 0)]
    async with open_session(appliance) as session:
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            hooks = static_text(app, "#directory").splitlines()[-1]
            assert re.fullmatch(r"  webhooks: configured · last 24 h: 2 received, 1 handled · "
                                rf"last: invoice\.paid at {MOMENT}", hooks), hooks
            assert stored[-1]["received_at"] in hooks
            # the handled event's user is in the mirror, and on the users screen
            await open_users(pilot)
            rows = {row[0]: row for row in table_rows(app, "users")}
            assert rows["usr_hook"][1:3] == ["tnt_acme", "hook@acme.test"]
            assert "usr_forged" not in rows


async def test_users_past_one_page_and_long_group_names(tui_session: TuiSession) -> None:
    long_name = "A group with a very long name that ScaiKey allows " * 3

    def many(conn: sqlite3.Connection) -> None:
        for n in range(510):
            user_rows.upsert_user(conn, tenant_id="tnt_big", user_id=f"usr_{n:04d}",
                                  email=None, display_name=None)
        user_rows.upsert_group(conn, "tnt_big", "grp_long", long_name)
        user_rows.add_membership(conn, "tnt_big", "grp_long", "usr_0007")

    await tui_session.appliance.db.write(many)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_users(pilot)
        # More than one page (500): the client follows the cursor to the end.
        rows = table_rows(app, "users")
        assert len(rows) == 511 and {"usr_0000", "usr_0509"} <= {r[0] for r in rows}
        assert static_text(app, "#status") == "511 user(s), 1 group(s)."
        [group] = table_rows(app, "groups")
        assert len(group[2]) == 40 and group[2].endswith("…")
        await select_row(pilot, "groups", "grp_long")
        assert " ".join(long_name.split()) in " ".join(static_text(app, "#detail").split())
        await pilot.press("enter")
        await settle(pilot)
        assert user_ids(app) == {"usr_0007"}
        assert static_text(app, "#status") == "1 user(s), 1 group(s)."
