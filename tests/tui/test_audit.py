"""Audit screen: newest first, pages through the cursor, shows details in full."""

from __future__ import annotations

import sqlite3

from textual.widgets import Input

from scaiflow_box.store import audit
from tests.tui.helpers import (
    SIZE,
    TuiSession,
    select_row,
    settle,
    static_text,
    table_rows,
)
from tui.screens.audit import PAGE_SIZE, AuditFilterForm, AuditScreen


async def test_newest_first_and_load_more_until_the_end(tui_session: TuiSession) -> None:
    def seed(conn: sqlite3.Connection) -> None:
        for n in range(110):
            audit.record(conn, tenant_id="tnt_acme", actor="usr_seed", action="test.seeded",
                         target_type="flow", target_id=f"flow_{n:03d}", details={"n": n})

    await tui_session.appliance.db.write(seed)
    total = tui_session.appliance.sql("SELECT count(*) FROM audit_log")[0][0]
    assert total > 2 * PAGE_SIZE
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        rows = table_rows(app, "audit")
        assert len(rows) == PAGE_SIZE
        first = rows[0]
        assert first[1:5] == ["usr_seed", "test.seeded", "tnt_acme", "flow:flow_109"]
        assert first[5] == '{"n": 109}'
        assert static_text(app, "#status") == \
            f"{PAGE_SIZE} entries, newest first; m loads older entries."
        await pilot.press("m")
        await settle(pilot)
        assert len(table_rows(app, "audit")) == 2 * PAGE_SIZE
        await pilot.press("m")
        await settle(pilot)
        rows = table_rows(app, "audit")
        assert len(rows) == total
        ids = [int(row.value) for row in app.screen.query_one("#audit").rows]  # type: ignore[attr-defined]
        assert ids == sorted(ids, reverse=True)
        assert static_text(app, "#status") == \
            f"{total} entries, newest first; end of the log."
        # the oldest entries are the bootstrap and the TUI's own session token
        actions = [row[2] for row in rows[-2:]]
        assert actions == ["service_token.minted", "user.bootstrapped"]
        await pilot.press("m")
        assert static_text(app, "#action") == "That is the whole log."
        # the detail line shows the selected entry in full
        [minted_id] = tui_session.tokens.session_token_ids()
        minted_row = next(str(e.id) for e in app.screen.entries  # type: ignore[attr-defined]
                          if e.action == "service_token.minted")
        await select_row(pilot, "audit", minted_row)
        detail = static_text(app, "#detail")
        assert "service_token.minted" in detail
        assert f"target: service_token:{minted_id}" in detail
        # r starts again from the newest page
        await pilot.press("r")
        await settle(pilot)
        assert len(table_rows(app, "audit")) == PAGE_SIZE


async def test_actions_in_other_screens_show_up_in_the_audit(tui_session: TuiSession) -> None:
    await tui_session.appliance.user("usr_bob", "tnt_acme")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        before = len(table_rows(app, "audit"))
        await pilot.press("2")
        await settle(pilot)
        await select_row(pilot, "users", "usr_bob")
        await pilot.press("t", "y")
        await settle(pilot)
        await pilot.press("4")  # coming back reloads
        await settle(pilot)
        rows = table_rows(app, "audit")
        assert len(rows) == before + 1
        assert rows[0][1:5] == ["usr_operator", "role.granted", "tnt_acme", "user:usr_bob"]


async def test_filters_by_action_actor_tenant_and_time(tui_session: TuiSession) -> None:
    def seed(conn: sqlite3.Connection) -> None:
        audit.record(conn, tenant_id="tnt_acme", actor="usr_ada", action="flow.deleted",
                     target_type="flow", target_id="flow_a", details={})
        audit.record(conn, tenant_id="tnt_beta", actor="usr_bo", action="flow.deleted",
                     target_type="flow", target_id="flow_b", details={})
        audit.record(conn, tenant_id="tnt_acme", actor="usr_ada", action="flow.created",
                     target_type="flow", target_id="flow_c", details={})

    await tui_session.appliance.db.write(seed)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        assert isinstance(app.screen, AuditFilterForm)
        app.screen.query_one("#action", Input).value = "flow.deleted"
        app.screen.query_one("#tenant", Input).value = "tnt_acme"
        app.screen.query_one("#since", Input).value = "yesterday"  # not a time: said so
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#form-error").startswith("Since: 30m, 24h, 7d or a timestamp")
        app.screen.query_one("#since", Input).value = "1h"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, AuditScreen)
        rows = table_rows(app, "audit")
        assert [row[1:5] for row in rows] == [["usr_ada", "flow.deleted", "tnt_acme",
                                               "flow:flow_a"]]
        assert static_text(app, "#filters").startswith(
            "Filters: action flow.deleted, tenant tnt_acme, since 1h")
        await pilot.press("c")  # cleared: everything again
        await settle(pilot)
        assert len(table_rows(app, "audit")) >= 3
        await pilot.press("f")
        await settle(pilot)
        app.screen.query_one("#actor", Input).value = "usr_nobody"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert table_rows(app, "audit") == []
        assert static_text(app, "#status") == \
            "No entries match these filters (f changes them, c clears)."
