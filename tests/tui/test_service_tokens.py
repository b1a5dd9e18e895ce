"""Service tokens screen: list, mint through the form (shown once, stored, working), revoke
(refused from then on), form errors, the TUI's own token, the empty list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from tests.conftest import AppFactory
from tests.fakes.scaikey import FakeScaiKey
from tests.tui.helpers import (
    SIZE,
    TuiSession,
    select_row,
    settle,
    static_text,
    table_rows,
)
from tui.app import ScaiflowAdmin
from tui.client import AdminClient, StaticToken
from tui.screens.confirm import ConfirmScreen
from tui.screens.mint_token import MintTokenScreen, parse_ttl
from tui.screens.security import SecurityScreen
from tui.screens.token_reveal import TokenRevealScreen


async def fill(pilot: Pilot[int], field_id: str, value: str) -> None:
    """Replace a field's text (typing every character is slow and adds nothing)."""
    field = pilot.app.screen.query_one(f"#{field_id}", Input)
    field.focus()
    field.value = value
    await pilot.pause()


async def me_status(session: TuiSession, token: str) -> int:
    response = await session.appliance.client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    return response.status


async def test_the_list_marks_the_tuis_own_token_and_refuses_to_revoke_it(
        tui_session: TuiSession) -> None:
    [session_id] = tui_session.tokens.session_token_ids()
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, SecurityScreen)
        assert table_rows(app, "tokens") == []  # the session's own token is hidden…
        assert static_text(app, "#status") == (
            "1 token(s), 1 active; 1 expired or session token(s) hidden (a shows them).")
        await pilot.press("a")  # …until asked
        await settle(pilot)
        [row] = table_rows(app, "tokens")
        assert row[0] == session_id
        assert row[1] == "active (this TUI)"
        assert row[2:4] == ["usr_operator", "tnt_local"]
        assert row[5:] == ["scaicore:view scaicore:manage", "scaiflow-box tui session"]
        await select_row(pilot, "tokens", session_id)
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, SecurityScreen)  # no dialog
        assert "this TUI's own session token" in static_text(app, "#action")
        [stored] = tui_session.appliance.sql(
            "SELECT revoked_at FROM service_tokens WHERE id = ?", session_id)
        assert stored["revoked_at"] is None


async def test_mint_shows_the_token_once_and_it_works_then_revoke_refuses_it(
        tui_session: TuiSession) -> None:
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, MintTokenScreen)
        await pilot.press(*"ci-pipeline")  # typed into the focused subject field
        await fill(pilot, "tenant", "tnt_acme")
        await fill(pilot, "scope", "scaicore:view")
        await fill(pilot, "ttl", "2h")
        await fill(pilot, "description", "nightly build")
        await pilot.press("enter")  # Enter in a field submits the form
        await settle(pilot)

        assert isinstance(app.screen, TokenRevealScreen)
        token = app.screen.query_one("#token", TextArea).text
        assert app.screen.query_one("#token", TextArea).read_only
        assert "shown ONCE" in static_text(app, "#warning")
        [stored] = tui_session.appliance.sql(
            "SELECT id, sub, tenant_id, scope, description, created_by, expires_at, revoked_at"
            " FROM service_tokens WHERE sub = 'ci-pipeline'")
        assert (stored["tenant_id"], stored["scope"], stored["description"],
                stored["created_by"]) == ("tnt_acme", "scaicore:view", "nightly build",
                                          "usr_operator")
        assert stored["revoked_at"] is None
        expires = datetime.fromisoformat(stored["expires_at"].replace("Z", "+00:00"))
        assert abs(expires - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)
        assert stored["id"] in static_text(app, ".title")
        # the secret is in no table, no audit row
        audit = tui_session.appliance.sql("SELECT details FROM audit_log")
        assert all(token not in row["details"] for row in audit)
        # it is a working token for ci-pipeline@tnt_acme
        response = await tui_session.appliance.client.get(
            "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200
        body = await response.json()
        assert (body["sub"], body["tenant_id"], body["permissions"]) == (
            "ci-pipeline", "tnt_acme", ["scaicore:view"])

        await pilot.press("c")
        assert app.clipboard == token
        assert "Copied" in static_text(app, "#copied")
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SecurityScreen)
        assert static_text(app, "#action").startswith(f"Minted {stored['id']}")
        rows = {row[0]: row for row in table_rows(app, "tokens")}
        assert rows[stored["id"]][1:4] == ["active", "ci-pipeline", "tnt_acme"]
        assert all(token not in " ".join(row) for row in rows.values())

        # revoke it: confirm, stored, refused from now on
        await select_row(pilot, "tokens", stored["id"])
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert f"Revoke {stored['id']} (ci-pipeline @ tnt_acme)?" in \
            static_text(app, "#question")
        await pilot.press("y")
        await settle(pilot)
        [after] = tui_session.appliance.sql(
            "SELECT revoked_at FROM service_tokens WHERE id = ?", stored["id"])
        assert after["revoked_at"] is not None
        assert await me_status(tui_session, token) == 401
        assert static_text(app, "#action") == f"Revoked {stored['id']} (ci-pipeline)."
        rows = {row[0]: row for row in table_rows(app, "tokens")}
        assert rows[stored["id"]][1] == "revoked"
        await pilot.press("x")  # already revoked: said locally
        await settle(pilot)
        assert static_text(app, "#action") == f"{stored['id']} is already revoked."


async def test_form_errors_keep_the_form_open_and_store_nothing(
        tui_session: TuiSession) -> None:
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        await pilot.press("ctrl+s")  # empty subject
        await settle(pilot)
        assert static_text(app, "#form-error") == "Subject: required."
        await fill(pilot, "sub", "ci")
        await fill(pilot, "ttl", "31d")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#form-error") == "TTL: between 60 seconds and 30 days"
        # the appliance's own validation, shown in the form
        await fill(pilot, "sub", "bad sub!")
        await fill(pilot, "ttl", "1h")
        await pilot.click("#mint")
        await settle(pilot)
        assert isinstance(app.screen, MintTokenScreen)
        error = static_text(app, "#form-error")
        assert error.startswith(
            "Not minted: 422 validation_failed: sub: Value error, must be 1-200")
        assert tui_session.appliance.sql(
            "SELECT id FROM service_tokens WHERE sub != 'usr_operator'") == []
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SecurityScreen)
        assert static_text(app, "#action") == "Cancelled; no token minted."


async def test_empty_lists_say_so(make_appliance: AppFactory,
                                  scaikey_server: FakeScaiKey) -> None:
    """A ScaiKey box signed into with a ScaiKey token: no service token, no audit row."""
    appliance = await make_appliance(**scaikey_server.env())
    await appliance.user("usr_root", "tnt_acme", role="super_admin", issuer="scaikey")
    token = scaikey_server.mint(sub="usr_root", tenant_id="tnt_acme")
    app = ScaiflowAdmin(AdminClient(str(appliance.client.make_url("/")), StaticToken(token)))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        assert table_rows(app, "tokens") == []
        assert static_text(app, "#status") == "No service tokens yet: press n to mint one."
        await pilot.press("x")
        assert static_text(app, "#action") == "Select a token first."
        await pilot.press("4")
        await settle(pilot)
        assert table_rows(app, "audit") == []
        assert static_text(app, "#status") == "The audit log is empty."
        await pilot.press("m")
        assert static_text(app, "#action") == "Nothing to load."


def test_parse_ttl() -> None:
    assert parse_ttl("900") == 900
    assert parse_ttl("15m") == 900
    assert parse_ttl(" 24H ") == 86400
    assert parse_ttl("30d") == 30 * 86400
    for bad in ("", "59", "31d", "1w", "-5m", "1.5h"):
        try:
            parse_ttl(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
