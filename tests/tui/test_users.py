"""Users screen: the table, long values, and role changes that land in the database."""

from __future__ import annotations

from tests.tui.helpers import (
    SIZE,
    TuiSession,
    select_row,
    settle,
    static_text,
    table_rows,
)
from tui.screens.confirm import ConfirmScreen
from tui.screens.users import UsersScreen

LONG_EMAIL = "a-very-long-mailbox-name-for-testing-the-layout-" * 3 + "@example.test"
LONG_NAME = "Bartholomew " * 12


def role_of(session: TuiSession, user_id: str) -> tuple[str | None, str | None]:
    [row] = session.appliance.sql(
        "SELECT admin_role, admin_role_source FROM users WHERE id = ?", user_id)
    return row["admin_role"], row["admin_role_source"]


async def test_users_table_lists_every_user_and_truncates_long_values(
        tui_session: TuiSession) -> None:
    await tui_session.appliance.user("usr_bob", "tnt_acme", email="bob@acme.test")
    await tui_session.appliance.user("usr_long", "tnt_acme", email=LONG_EMAIL)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        rows = {row[0]: row for row in table_rows(app, "users")}
        assert set(rows) == {"usr_bob", "usr_long", "usr_operator"}
        assert rows["usr_operator"] == ["usr_operator", "tnt_local", "-", "Appliance operator",
                                        "ACTIVE", "super_admin", "bootstrap"]
        assert rows["usr_bob"][1:3] == ["tnt_acme", "bob@acme.test"]
        long_cell = rows["usr_long"][2]
        assert len(long_cell) == 40 and long_cell.endswith("…")
        assert static_text(app, "#status") == "3 user(s), 0 group(s)."
        # the detail line carries the full value
        await select_row(pilot, "users", "usr_long")
        assert LONG_EMAIL in static_text(app, "#detail")
        await select_row(pilot, "users", "usr_operator")
        assert "the account this TUI signs in as" in static_text(app, "#detail")


async def test_grant_tenant_admin_after_confirmation(tui_session: TuiSession) -> None:
    await tui_session.appliance.user("usr_bob", "tnt_acme", email="bob@acme.test")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await select_row(pilot, "users", "usr_bob")
        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "Grant tenant_admin to usr_bob (bob@acme.test) in tnt_acme?" in \
            static_text(app, "#question")
        assert role_of(tui_session, "usr_bob") == (None, None)  # nothing before the answer
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert role_of(tui_session, "usr_bob") == ("tenant_admin", "manual")
        assert static_text(app, "#action") == "usr_bob is now tenant_admin (source manual)."
        row = next(r for r in table_rows(app, "users") if r[0] == "usr_bob")
        assert row[5:] == ["tenant_admin", "manual"]
        [audit] = tui_session.appliance.sql(
            "SELECT actor, details FROM audit_log WHERE action = 'role.granted'"
            " AND target_id = 'usr_bob'")
        assert audit["actor"] == "usr_operator"


async def test_cancel_changes_nothing(tui_session: TuiSession) -> None:
    await tui_session.appliance.user("usr_bob", "tnt_acme")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await select_row(pilot, "users", "usr_bob")
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "every tenant" in static_text(app, "#question")
        await pilot.press("2")  # switching screens is refused while a dialog is open
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert static_text(app, "#action") == "Cancelled; nothing changed."
        assert role_of(tui_session, "usr_bob") == (None, None)


async def test_grant_super_admin_then_remove_the_role(tui_session: TuiSession) -> None:
    await tui_session.appliance.user("usr_bob", "tnt_acme")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await select_row(pilot, "users", "usr_bob")
        await pilot.press("s", "y")
        await settle(pilot)
        assert role_of(tui_session, "usr_bob") == ("super_admin", "manual")
        # the cursor stays on the same user across the reload
        await pilot.press("x")
        await settle(pilot)
        assert "Remove super_admin from usr_bob in tnt_acme?" in static_text(app, "#question")
        await pilot.press("y")
        await settle(pilot)
        assert role_of(tui_session, "usr_bob") == (None, None)
        assert static_text(app, "#action") == "usr_bob no longer has an admin role."
        await pilot.press("x")  # nothing left to remove: said locally, no dialog
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert static_text(app, "#action") == "usr_bob has no admin role."


async def test_granting_a_role_the_user_has_needs_no_request(tui_session: TuiSession) -> None:
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await select_row(pilot, "users", "usr_operator")
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert static_text(app, "#action") == "usr_operator already has the super_admin role."
        # removing its own role warns that the TUI loses access
        await pilot.press("x")
        await settle(pilot)
        assert "the admin screens stop working" in static_text(app, "#question")
        await pilot.press("escape")
        await settle(pilot)
        assert role_of(tui_session, "usr_operator") == ("super_admin", "bootstrap")


async def test_removing_the_last_super_admin_is_refused_with_the_reason(
        tui_session: TuiSession) -> None:
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await select_row(pilot, "users", "usr_operator")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, UsersScreen)
        assert static_text(app, "#action").startswith(
            "Could not change the role of usr_operator: 409 last_super_admin: usr_operator is "
            "the last super admin: without one nobody can administer this appliance (Grant "
            "super_admin to another user first")
        assert role_of(tui_session, "usr_operator") == ("super_admin", "bootstrap")
