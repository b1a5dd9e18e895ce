"""ScaiKey webhooks (SPEC §13) end to end: events signed as ScaiKey signs them, sent to a real
appliance; status, body and the stored mirror; effects on the very next request."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from scaiflow_box.keys import JWKS
from scaiflow_box.store import users as user_rows
from tests.conftest import AppFactory, Appliance, hello_content
from tests.fakes.scaikey import WEBHOOK_PATH, FakeScaiKey, webhook_event, webhook_headers

SECRET = "whsec_test_0123456789"
ME = "/api/v1/me"
SPELLINGS = ("type", "event_type")


@pytest.fixture
async def app(make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> Appliance:
    appliance = await make_appliance(**scaikey_server.env(
        SCAIFLOW_SCAIKEY_WEBHOOK_SECRET=SECRET, SCAIFLOW_SUPER_ADMIN_GROUPS="grp_admins"))
    await appliance.client.app[JWKS].wait_first_fetch()
    return appliance


def url(app: Appliance) -> str:
    return str(app.client.make_url(WEBHOOK_PATH))


async def send(app: Appliance, fake: FakeScaiKey, event_type: str, data: dict[str, Any],
               **kwargs: Any) -> tuple[int, Any]:
    return await fake.send_webhook(url(app), event_type, data, secret=SECRET, **kwargs)


async def post_raw(app: Appliance, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    resp = await app.client.post(WEBHOOK_PATH, data=body,
                                 headers={"Content-Type": "application/json", **headers})
    return resp.status, await resp.json()


def user(app: Appliance, user_id: str) -> dict[str, Any] | None:
    rows = app.sql("SELECT tenant_id, email, display_name, status, source, admin_role,"
                   " admin_role_source, deleted_at FROM users WHERE id = ?", user_id)
    return dict(rows[0]) if rows else None


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- authentication -----------------------------------------------------------------------
async def test_without_a_secret_webhooks_fail_closed(make_appliance: AppFactory) -> None:
    app = await make_appliance()
    body = json.dumps(webhook_event("user.created", {"id": "usr_x"})).encode()
    status, reply = await post_raw(app, body, webhook_headers(SECRET, body))
    assert status == 503
    assert reply["detail"]["error"] == "webhooks_not_configured"
    assert "SCAIFLOW_SCAIKEY_WEBHOOK_SECRET" in reply["detail"]["message"]
    assert app.sql("SELECT count(*) FROM webhook_events")[0][0] == 0
    assert not app.sql("SELECT 1 FROM users WHERE id = 'usr_x'")


def _signed(body: bytes, *, at: int | None = None, secret: str = SECRET) -> str:
    return webhook_headers(secret, body, at if at is not None else int(time.time()))[
        "X-ScaiKey-Signature"]


@pytest.mark.parametrize(("case", "reason"), [
    ("no signature", "missing X-ScaiKey-Signature"),
    ("wrong secret", "signature does not match"),
    ("tampered body", "signature does not match"),
    ("no timestamp", "missing timestamp"),
    ("301 s old", "more than 300 s away from now"),
    ("301 s ahead", "more than 300 s away from now"),
    ("headers disagree", "differs from the signature's t"),
    ("not a number", "not a Unix time"),
    ("not ASCII digits", "not a Unix time"),
    ("no v1", "missing v1 signature"),
])
async def test_a_bad_signature_or_timestamp_is_400_and_changes_nothing(
        app: Appliance, case: str, reason: str) -> None:
    body = json.dumps(webhook_event("user.created", {"id": "usr_x"})).encode()
    now = int(time.time())
    headers = {"X-ScaiKey-Timestamp": str(now), "X-ScaiKey-Signature": _signed(body, at=now)}
    if case == "no signature":
        del headers["X-ScaiKey-Signature"]
    elif case == "wrong secret":
        headers["X-ScaiKey-Signature"] = _signed(body, at=now, secret="another-secret")
    elif case == "tampered body":
        body = body.replace(b"usr_x", b"usr_y")
    elif case == "no timestamp":
        del headers["X-ScaiKey-Timestamp"]
        headers["X-ScaiKey-Signature"] = headers["X-ScaiKey-Signature"].split(",")[1]
    elif case in ("301 s old", "301 s ahead"):
        moment = now - 301 if case == "301 s old" else now + 301
        headers = webhook_headers(SECRET, body, moment)  # a correct signature, at that time
    elif case == "headers disagree":
        headers["X-ScaiKey-Timestamp"] = str(now - 1)
    elif case == "not a number":
        headers = {"X-ScaiKey-Signature": f"t=12ab,v1={'0' * 64}"}
    elif case == "not ASCII digits":
        arabic = "".join(chr(0x660 + int(d)) for d in str(now))  # int() would take these
        headers = {"X-ScaiKey-Signature": f"t={arabic},v1={'0' * 64}"}
    elif case == "no v1":
        headers["X-ScaiKey-Signature"] = f"t={now}"
    status, reply = await post_raw(app, body, headers)
    assert status == 400
    assert reply["detail"]["error"] == "invalid_signature"
    assert reason in reply["detail"]["message"]
    assert app.sql("SELECT count(*) FROM webhook_events")[0][0] == 0
    assert not app.sql("SELECT 1 FROM users WHERE id IN ('usr_x', 'usr_y')")


async def test_signature_spellings_scaikey_may_use(app: Appliance) -> None:
    """Header names are case-insensitive, and so are the signature's keys; the hex may be
    upper case; the timestamp may come from the header alone; of several v1, one matching
    suffices (a sender rotating its secret)."""
    body = json.dumps(webhook_event("group.created", {"id": "grp_1", "name": "One"})).encode()
    now = int(time.time())
    good = _signed(body, at=now).split("v1=")[1]
    variants = [
        {"x-scaikey-signature": f"T={now}, V1={good.upper()}"},
        {"X-SCAIKEY-SIGNATURE": f"v1={good}", "x-scaikey-timestamp": str(now)},
        {"X-ScaiKey-Signature": f"t={now},v1={'0' * 64},v1={good}"},
    ]
    first, *others = variants
    status, reply = await post_raw(app, body, first)
    assert (status, reply) == (200, {"handled": True})
    for headers in others:  # the same event again: verified, then a duplicate
        assert await post_raw(app, body, headers) == (200, {"handled": True, "duplicate": True})


async def test_body_limits_and_content_type_apply_before_the_signature(app: Appliance) -> None:
    big = b'{"type": "user.created", "data": {"pad": "' + b"x" * (1024 * 1024) + b'"}}'
    status, reply = await post_raw(app, big, webhook_headers(SECRET, big))
    assert status == 413 and reply["detail"]["error"] == "payload_too_large"
    body = b'{"type": "user.created"}'
    resp = await app.client.post(WEBHOOK_PATH, data=body,
                                 headers={"Content-Type": "text/plain",
                                          **webhook_headers(SECRET, body)})
    assert resp.status == 415


async def test_a_signed_body_that_is_not_an_event_is_422(app: Appliance) -> None:
    for body in (b"{not json", b"[1, 2]", b'{"type": 5}', b'{"data": "text"}'):
        status, reply = await post_raw(app, body, webhook_headers(SECRET, body))
        assert status == 422, body
        assert isinstance(reply["detail"], list)
    assert app.sql("SELECT count(*) FROM webhook_events")[0][0] == 0


# -- dedupe ----------------------------------------------------------------------------------
async def test_a_replayed_event_id_is_answered_as_a_duplicate_and_not_applied(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    data = {"id": "usr_x", "email": "x@acme.test"}
    assert await send(app, scaikey_server, "user.created", data, event_id="evt_1") == (
        200, {"handled": True})
    changed = {"id": "usr_x", "email": "changed@acme.test"}
    assert await send(app, scaikey_server, "user.updated", changed, event_id="evt_1") == (
        200, {"handled": True, "duplicate": True})
    assert user(app, "usr_x")["email"] == "x@acme.test"  # type: ignore[index]
    [event] = app.sql("SELECT event_id, event_type, tenant_id, handled FROM webhook_events")
    assert tuple(event) == ("evt_1", "user.created", "tnt_acme", 1)
    assert len(app.sql("SELECT 1 FROM audit_log WHERE target_id = 'usr_x'")) == 1
    # Without an id, the same signed bytes are the same event.
    body = json.dumps({"type": "user.updated", "data": {**changed, "tenant_id": "tnt_acme"}}
                      ).encode()
    headers = webhook_headers(SECRET, body)
    assert await post_raw(app, body, headers) == (200, {"handled": True})
    assert await post_raw(app, body, headers) == (200, {"handled": True, "duplicate": True})


async def test_event_ids_are_kept_24_hours(app: Appliance, scaikey_server: FakeScaiKey) -> None:
    await app.db.write(lambda conn: conn.execute(
        "INSERT INTO webhook_events (event_id, received_at, event_type) VALUES"
        " ('evt_old', '2000-01-01T00:00:00.000Z', 'user.created')"))
    assert await send(app, scaikey_server, "user.created", {"id": "usr_x"},
                      event_id="evt_old") == (200, {"handled": True})
    [row] = app.sql("SELECT received_at FROM webhook_events WHERE event_id = 'evt_old'")
    assert not row[0].startswith("2000")


async def test_an_event_that_names_nothing_is_400_and_can_be_sent_again(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    status, reply = await send(app, scaikey_server, "user.created", {"email": "x@acme.test"},
                               event_id="evt_2")
    assert status == 400 and reply["detail"]["error"] == "invalid_event"
    assert "data.user_id or data.id" in reply["detail"]["message"]
    status, reply = await send(app, scaikey_server, "group.created", {"id": "grp_x"},
                               tenant_id=None, event_id="evt_3")
    assert status == 400 and "names no tenant" in reply["detail"]["message"]
    assert app.sql("SELECT count(*) FROM webhook_events")[0][0] == 0  # not consumed
    assert await send(app, scaikey_server, "user.created", {"user_id": "usr_x"},
                      event_id="evt_2") == (200, {"handled": True})


async def test_unknown_event_types_are_not_handled(app: Appliance,
                                                   scaikey_server: FakeScaiKey) -> None:
    assert await send(app, scaikey_server, "session.started", {"id": "usr_x"},
                      event_id="evt_u") == (200, {"handled": False})
    assert tuple(app.sql("SELECT handled FROM webhook_events")[0]) == (0,)
    assert not app.sql("SELECT 1 FROM users WHERE id = 'usr_x'")


# -- every event type --------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_user_events(app: Appliance, scaikey_server: FakeScaiKey, spelling: str) -> None:
    async def event(kind: str, **data: Any) -> None:
        assert await send(app, scaikey_server, kind, data, spelling=spelling) == (
            200, {"handled": True}), kind

    await event("user.created", id="usr_x", email="x@acme.test", display_name="X")
    assert user(app, "usr_x") == {
        "tenant_id": "tnt_acme", "email": "x@acme.test", "display_name": "X",
        "status": "ACTIVE", "source": "scaikey", "admin_role": None, "admin_role_source": None,
        "deleted_at": None}
    await event("user.updated", user_id="usr_x", name="X Y", status="suspended")
    stored = user(app, "usr_x")
    assert stored is not None
    assert (stored["email"], stored["display_name"], stored["status"]) == (
        "x@acme.test", "X Y", "SUSPENDED")  # absent fields are kept
    await event("user.activated", user_id="usr_x")
    assert user(app, "usr_x")["status"] == "ACTIVE"  # type: ignore[index]
    await event("user.suspended", id="usr_x")
    assert user(app, "usr_x")["status"] == "SUSPENDED"  # type: ignore[index]
    await app.db.write(lambda conn: user_rows.set_admin_role(conn, "tnt_acme", "usr_x",
                                                             "tenant_admin", "manual"))
    await event("user.deleted", id="usr_x")
    stored = user(app, "usr_x")
    assert stored is not None and stored["deleted_at"] is not None
    assert (stored["admin_role"], stored["admin_role_source"]) == ("tenant_admin", "manual")
    await event("user.activated", user_id="usr_x")  # status only: still deleted
    assert user(app, "usr_x")["deleted_at"] is not None  # type: ignore[index]
    await event("user.created", id="usr_x")  # back: undeleted, role intact
    stored = user(app, "usr_x")
    assert stored is not None and stored["deleted_at"] is None
    assert stored["admin_role"] == "tenant_admin"
    actions = [r[0] for r in app.sql("SELECT action FROM audit_log WHERE target_id = 'usr_x'"
                                     " AND actor = 'scaikey-webhook' ORDER BY id")]
    assert actions == ["user.upserted", "user.upserted", "user.activated", "user.suspended",
                       "user.soft_deleted", "user.activated", "user.upserted"]


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_group_and_membership_events(app: Appliance, scaikey_server: FakeScaiKey,
                                           spelling: str) -> None:
    async def event(kind: str, **data: Any) -> None:
        assert await send(app, scaikey_server, kind, data, spelling=spelling) == (
            200, {"handled": True}), kind

    def group() -> tuple[Any, ...]:
        return tuple(app.sql("SELECT tenant_id, name, deleted_at IS NOT NULL FROM groups"
                             " WHERE id = 'grp_x'")[0])

    def memberships() -> set[tuple[str, str]]:
        return {(r[0], r[1]) for r in app.sql(
            "SELECT group_id, user_id FROM memberships WHERE deleted_at IS NULL")}

    await event("group.created", id="grp_x", name="Editors")
    assert group() == ("tnt_acme", "Editors", 0)
    await event("group.updated", group_id="grp_x", name="Writers")
    assert group() == ("tnt_acme", "Writers", 0)
    await event("group_membership.added", group_id="grp_x", user_id="usr_a")
    await event("group.member_added", group_id="grp_x", user_id="usr_b")
    assert memberships() == {("grp_x", "usr_a"), ("grp_x", "usr_b")}
    await event("group_membership.removed", group_id="grp_x", user_id="usr_a")
    await event("group.member_removed", group_id="grp_x", user_id="usr_b")
    assert memberships() == set()
    await event("group.member_added", group_id="grp_new", user_id="usr_a",
                group_name="Arrived first")  # the group's own event may come later
    assert tuple(app.sql("SELECT tenant_id, name FROM groups WHERE id = 'grp_new'")[0]) == (
        "tnt_acme", "Arrived first")
    await event("group.deleted", id="grp_x")
    assert group() == ("tnt_acme", "Writers", 1)
    await event("group.created", id="grp_x")  # undeleted, name kept
    assert group() == ("tnt_acme", "Writers", 0)


@pytest.mark.parametrize("kind", ["application.group_assigned", "application.group_unassigned"])
async def test_application_events_refresh_the_effective_users(
        app: Appliance, scaikey_server: FakeScaiKey, kind: str) -> None:
    scaikey_server.add_user("usr_new")
    assert await send(app, scaikey_server, kind, {"group_id": "grp_x"}) == (
        200, {"handled": True})
    # The refresh runs in the background: the users are written first, the sync's own record
    # after them, so wait for the record (a read right after the user row could miss it).
    last_sync = "SELECT value FROM meta WHERE `key` = 'directory_sync.last'"
    deadline = time.monotonic() + 10
    while not app.sql(last_sync) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert user(app, "usr_new")["source"] == "scaikey"  # type: ignore[index]
    [last] = app.sql(last_sync)
    assert json.loads(last[0])["trigger"] == "webhook"


# -- effects apply at once ---------------------------------------------------------------------
async def test_a_user_deleted_by_webhook_loses_access_with_a_still_valid_token(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    token = scaikey_server.mint(sub="usr_dave", tenant_id="tnt_acme", ttl=3600)
    assert (await app.client.get(ME, headers=bearer(token))).status == 200
    assert await send(app, scaikey_server, "user.deleted", {"user_id": "usr_dave"}) == (
        200, {"handled": True})
    resp = await app.client.get(ME, headers=bearer(token))
    assert (resp.status, await resp.json()) == (401, {"detail": "invalid token: user disabled"})
    await send(app, scaikey_server, "user.created", {"user_id": "usr_dave"})
    assert (await app.client.get(ME, headers=bearer(token))).status == 200
    await send(app, scaikey_server, "user.suspended", {"user_id": "usr_dave"})
    assert (await app.client.get(ME, headers=bearer(token))).status == 401
    # Deleted before ever signing in: the token's first use is refused too.
    await send(app, scaikey_server, "user.deleted", {"user_id": "usr_ghost"})
    ghost = scaikey_server.mint(sub="usr_ghost", tenant_id="tnt_acme")
    assert (await app.client.get(ME, headers=bearer(ghost))).status == 401


async def test_an_acl_granted_to_a_group_applies_the_moment_a_membership_webhook_adds_you(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    owner = bearer(scaikey_server.mint(sub="usr_owner", tenant_id="tnt_acme"))
    bob = bearer(scaikey_server.mint(sub="usr_bob", tenant_id="tnt_acme"))
    resp = await app.client.post("/api/v1/flows", headers=owner,
                                 json={"name": "Shared", "content": hello_content()})
    flow_id = (await resp.json())["id"]
    await send(app, scaikey_server, "group.created", {"id": "grp_editors", "name": "Editors"})
    resp = await app.client.post(f"/api/v1/flows/{flow_id}/acls", headers=owner, json={
        "principal_type": "group", "principal_id": "grp_editors", "level": "edit"})
    assert resp.status == 201
    flow = f"/api/v1/flows/{flow_id}"
    assert (await app.client.get(flow, headers=bob)).status == 404
    await send(app, scaikey_server, "group_membership.added",
               {"group_id": "grp_editors", "user_id": "usr_bob"})
    assert (await app.client.get(flow, headers=bob)).status == 200
    resp = await app.client.put(flow, headers=bob, json={"name": "Edited by Bob"})
    assert resp.status == 200
    await send(app, scaikey_server, "group.member_removed",
               {"group_id": "grp_editors", "user_id": "usr_bob"})
    assert (await app.client.get(flow, headers=bob)).status == 404
    await send(app, scaikey_server, "group.member_added",
               {"group_id": "grp_editors", "user_id": "usr_bob"})
    assert (await app.client.get(flow, headers=bob)).status == 200
    await send(app, scaikey_server, "group.deleted", {"id": "grp_editors"})
    assert (await app.client.get(flow, headers=bob)).status == 404


async def test_membership_webhooks_re_reconcile_super_admins(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    for user_id in ("usr_x", "usr_manual"):
        await send(app, scaikey_server, "user.created", {"id": user_id})
    await app.db.write(lambda conn: user_rows.set_admin_role(conn, "tnt_acme", "usr_manual",
                                                             "super_admin", "manual"))
    for user_id in ("usr_x", "usr_manual"):
        await send(app, scaikey_server, "group_membership.added",
                   {"group_id": "grp_admins", "user_id": user_id})

    def role(user_id: str) -> tuple[Any, Any]:
        row = user(app, user_id)
        assert row is not None
        return row["admin_role"], row["admin_role_source"]

    assert role("usr_x") == ("super_admin", "group")
    assert role("usr_manual") == ("super_admin", "manual")
    x = bearer(scaikey_server.mint(sub="usr_x", tenant_id="tnt_acme"))
    assert (await (await app.client.get(ME, headers=x)).json())["admin_role"] == "super_admin"
    await send(app, scaikey_server, "group_membership.removed",
               {"group_id": "grp_admins", "user_id": "usr_x"})
    assert role("usr_x") == (None, None)
    assert (await (await app.client.get(ME, headers=x)).json())["admin_role"] is None
    await send(app, scaikey_server, "group.member_added",
               {"group_id": "grp_admins", "user_id": "usr_x"})
    assert role("usr_x") == ("super_admin", "group")
    await send(app, scaikey_server, "group.deleted", {"id": "grp_admins"})
    assert role("usr_x") == (None, None)
    assert role("usr_manual") == ("super_admin", "manual")


async def test_webhook_activity_is_in_the_sync_status(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    await send(app, scaikey_server, "user.created", {"id": "usr_x"})
    await send(app, scaikey_server, "something.else", {})
    root = await app.headers("usr_root", "tnt_ops", role="super_admin")
    status = await (await app.client.get("/api/v1/admin/sync/status", headers=root)).json()
    webhooks = status["webhooks"]
    assert webhooks["configured"] is True
    assert (webhooks["received_24h"], webhooks["handled_24h"]) == (2, 1)
    assert webhooks["last_event_type"] == "something.else"
    assert webhooks["last_received_at"].endswith("Z")


async def test_a_user_of_another_tenant_is_not_moved(app: Appliance,
                                                     scaikey_server: FakeScaiKey) -> None:
    await send(app, scaikey_server, "user.created", {"id": "usr_x"})
    status, reply = await send(app, scaikey_server, "user.updated",
                               {"id": "usr_x", "email": "x@beta.test"}, tenant_id="tnt_beta")
    assert status == 400 and reply["detail"]["error"] == "invalid_event"
    assert user(app, "usr_x")["tenant_id"] == "tnt_acme"  # type: ignore[index]
