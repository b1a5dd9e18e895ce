"""A user is (issuer, subject) (SPEC §2.1): a ScaiKey token never becomes a user this
appliance created (the bootstrap operator, a service-token subject), a service token never
becomes a ScaiKey user, and ScaiKey's directory (sync, webhooks) never rewrites a local user.
Status and body of every answer, and the rows as stored."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from scaiflow_box.keys import ISSUER, JWKS
from scaiflow_box.services.bootstrap import bootstrap_operator
from scaiflow_box.services.service_tokens import SubjectTaken, mint_service_token
from tests.conftest import AppFactory, Appliance
from tests.fakes.scaikey import WEBHOOK_PATH, FakeScaiKey

ME = "/api/v1/me"
SECRET = "whsec_test_0123456789"
OTHER_ISSUER = {"detail": "invalid token: user belongs to another issuer"}


@pytest.fixture
async def app(make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> Appliance:
    """A ScaiKey box that also holds the bootstrap operator (made by `init` before ScaiKey was
    configured: the row `init` writes, super_admin, source bootstrap)."""
    appliance = await make_appliance(**scaikey_server.env(
        SCAIFLOW_SCAIKEY_WEBHOOK_SECRET=SECRET, SCAIFLOW_SUPER_ADMIN_GROUPS="grp_admins"))
    await appliance.client.app[JWKS].wait_first_fetch()
    await appliance.db.write(bootstrap_operator)
    return appliance


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def row(app: Appliance, user_id: str) -> dict[str, Any] | None:
    rows = app.sql("SELECT tenant_id, email, display_name, status, source, issuer, admin_role,"
                   " admin_role_source, deleted_at FROM users WHERE id = ?", user_id)
    return dict(rows[0]) if rows else None


OPERATOR_ROW = {"tenant_id": "tnt_local", "email": None, "display_name": "Appliance operator",
                "status": "ACTIVE", "source": "bootstrap", "issuer": "local",
                "admin_role": "super_admin", "admin_role_source": "bootstrap",
                "deleted_at": None}


async def get(app: Appliance, path: str, token: str) -> tuple[int, Any]:
    resp = await app.client.get(path, headers=bearer(token))
    return resp.status, await resp.json()


@pytest.mark.parametrize("tenant", ["tnt_local", "tnt_acme"])
async def test_a_scaikey_token_naming_the_bootstrap_operator_is_refused(
        app: Appliance, scaikey_server: FakeScaiKey, tenant: str) -> None:
    users_before = app.sql("SELECT count(*) FROM users")[0][0]
    token = scaikey_server.mint(sub="usr_operator", tenant_id=tenant, email="evil@acme.test")
    for path in (ME, "/api/v1/admin/users", "/api/v1/flows"):
        resp = await app.client.get(path, headers=bearer(token))
        assert (resp.status, await resp.json()) == (401, OTHER_ISSUER), path
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert row(app, "usr_operator") == OPERATOR_ROW  # not taken over, not rewritten
    assert app.sql("SELECT count(*) FROM users")[0][0] == users_before  # nothing created
    assert not app.sql("SELECT 1 FROM audit_log WHERE action = 'user.provisioned'")
    # The operator's own service tokens (local issuer) keep working.
    local = await app.token("usr_operator", "tnt_local")
    status, me = await get(app, ME, local)
    assert status == 200
    assert (me["sub"], me["admin_role"], me["token_source"]) == (
        "usr_operator", "super_admin", "service")


async def test_a_service_token_never_becomes_a_scaikey_user(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    status, me = await get(app, ME, scaikey_server.mint(sub="usr_alice", tenant_id="tnt_acme"))
    assert (status, me["token_source"]) == (200, "scaikey")
    assert row(app, "usr_alice") == {
        "tenant_id": "tnt_acme", "email": "alice@acme.test", "display_name": "Alice",
        "status": "ACTIVE", "source": "token", "issuer": "scaikey", "admin_role": None,
        "admin_role_source": None, "deleted_at": None}
    [provisioned] = app.sql("SELECT actor, details FROM audit_log"
                            " WHERE action = 'user.provisioned'")
    assert (provisioned["actor"], provisioned["details"]) == (
        "usr_alice", '{"source":"scaikey","issuer":"scaikey"}')
    operator = await app.token("usr_operator", "tnt_local")
    resp = await app.client.post("/api/v1/admin/service-tokens", headers=bearer(operator),
                                 json={"sub": "usr_alice", "tenant_id": "tnt_acme",
                                       "scope": "scaicore:view", "ttl_seconds": 600})
    body = await resp.json()
    assert resp.status == 409, body
    assert body["detail"]["error"] == "subject_taken"
    assert body["detail"]["message"].startswith("usr_alice is a ScaiKey user: a service token")
    assert not app.sql("SELECT 1 FROM service_tokens WHERE sub = 'usr_alice'")
    # The CLI and the TUI mint through the same function: the same refusal.
    with pytest.raises(SubjectTaken, match="usr_alice is a ScaiKey user"):
        await app.db.write(lambda conn: mint_service_token(
            conn, app.client.app[ISSUER], sub="usr_alice", tenant_id="tnt_acme",
            created_by="cli"))
    # A local subject in another tenant is refused too (it would be refused at first use).
    resp = await app.client.post("/api/v1/admin/service-tokens", headers=bearer(operator),
                                 json={"sub": "usr_operator", "tenant_id": "tnt_acme",
                                       "scope": "scaicore:view", "ttl_seconds": 600})
    body = await resp.json()
    assert (resp.status, body["detail"]["message"]) == (
        409, "usr_operator is a user of tenant tnt_local, not tnt_acme")
    assert row(app, "usr_alice")["issuer"] == "scaikey"  # type: ignore[index]


async def test_minting_claims_a_new_subject_for_this_appliance(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    """A token minted for an unknown subject records it as a local user at once: ScaiKey's
    token of the same `sub` is refused from then on, and a role can be granted before the
    token is ever used."""
    operator = await app.token("usr_operator", "tnt_local")
    resp = await app.client.post("/api/v1/admin/service-tokens", headers=bearer(operator),
                                 json={"sub": "ci-bot", "tenant_id": "tnt_acme",
                                       "scope": "scaicore:view", "ttl_seconds": 600})
    minted = await resp.json()
    assert resp.status == 201, minted
    assert row(app, "ci-bot") == {
        "tenant_id": "tnt_acme", "email": None, "display_name": None, "status": "ACTIVE",
        "source": "token", "issuer": "local", "admin_role": None, "admin_role_source": None,
        "deleted_at": None}
    [provisioned] = app.sql("SELECT actor, details FROM audit_log"
                            " WHERE action = 'user.provisioned' AND target_id = 'ci-bot'")
    assert (provisioned["actor"], provisioned["details"]) == (
        "usr_operator", '{"source":"service","issuer":"local"}')
    assert await get(app, ME, scaikey_server.mint(sub="ci-bot", tenant_id="tnt_acme")) == (
        401, OTHER_ISSUER)
    status, me = await get(app, ME, minted["token"])
    assert (status, me["sub"], me["token_source"]) == (200, "ci-bot", "service")
    listed = await (await app.client.get("/api/v1/admin/users", headers=bearer(operator),
                                         params={"tenant_id": "tnt_acme"})).json()
    assert [(u["id"], u["issuer"]) for u in listed["users"]] == [("ci-bot", "local")]


async def test_directory_sync_leaves_a_local_user_alone(
        app: Appliance, scaikey_server: FakeScaiKey, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="scaiflow_box.services.directory_sync")
    operator = await app.token("usr_operator", "tnt_local")
    await app.token("ci-bot", "tnt_acme")  # a local subject in a ScaiKey tenant
    scaikey_server.add_user("ci-bot", email="impostor@acme.test", status="SUSPENDED")
    scaikey_server.add_user("usr_carol")
    scaikey_server.add_group("grp_admins", members=["ci-bot", "usr_carol"])
    resp = await app.client.post("/api/v1/admin/sync", headers=bearer(operator))
    result = await resp.json()
    assert resp.status == 200, result
    assert (result["users_seen"], result["users_added"], result["memberships_seen"],
            result["super_admins_group_promoted"]) == (1, 1, 1, 1)
    assert row(app, "ci-bot") == {
        "tenant_id": "tnt_acme", "email": None, "display_name": None, "status": "ACTIVE",
        "source": "token", "issuer": "local", "admin_role": None, "admin_role_source": None,
        "deleted_at": None}
    assert [tuple(r) for r in app.sql("SELECT group_id, user_id FROM memberships")] == [
        ("grp_admins", "usr_carol")]
    assert row(app, "usr_carol")["admin_role"] == "super_admin"  # type: ignore[index]
    assert any("ci-bot" in r.getMessage() and "local" in r.getMessage()
               for r in caplog.records)


async def test_webhooks_never_change_a_local_user(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    url = str(app.client.make_url(WEBHOOK_PATH))
    for event_type, data, tenant in (
            ("user.updated", {"id": "usr_operator", "email": "evil@acme.test"}, "tnt_local"),
            ("user.deleted", {"id": "usr_operator"}, "tnt_local"),
            ("user.suspended", {"id": "usr_operator"}, None),
            ("group_membership.added", {"group_id": "grp_admins", "user_id": "usr_operator"},
             "tnt_local")):
        status, body = await scaikey_server.send_webhook(url, event_type, data, secret=SECRET,
                                                         tenant_id=tenant)
        assert status == 400, (event_type, body)
        assert body["detail"]["error"] == "invalid_event"
        assert "usr_operator is this appliance's own (local) user" in body["detail"]["message"]
    assert row(app, "usr_operator") == OPERATOR_ROW
    assert not app.sql("SELECT 1 FROM memberships")
    assert app.sql("SELECT count(*) FROM webhook_events")[0][0] == 0  # may be sent again


async def test_the_election_never_promotes_a_local_user(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    """A membership ScaiKey recorded for an id nobody held yet does not make the local user
    who later takes that id a super admin."""
    url = str(app.client.make_url(WEBHOOK_PATH))
    status, _ = await scaikey_server.send_webhook(
        url, "group_membership.added", {"group_id": "grp_admins", "user_id": "svc_deploy"},
        secret=SECRET)
    assert status == 200
    await app.token("svc_deploy", "tnt_acme")  # claimed by this appliance
    status, _ = await scaikey_server.send_webhook(  # any event re-runs the election
        url, "group.updated", {"id": "grp_admins", "name": "Admins"}, secret=SECRET)
    assert status == 200
    assert row(app, "svc_deploy")["admin_role"] is None  # type: ignore[index]
    assert not app.sql("SELECT 1 FROM audit_log WHERE action = 'role.granted'")
