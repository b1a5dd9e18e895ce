"""Token attacks end to end (SPEC §2.1): a real appliance pointed at the fake ScaiKey, every
forged token answered 401 `invalid token: <reason>` with `WWW-Authenticate: Bearer`, and no
user row created for the forger; a validly signed token with a bad claim provisions nothing
(no user, no tenant, no audit row)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from scaiflow_box.config import ConfigError
from scaiflow_box.keys import ISSUER, JWKS
from scaiflow_box.store import users as user_rows
from tests.conftest import AppFactory, Appliance
from tests.fakes.scaikey import FakeScaiKey
from tests.fakes.tokens import tamper_payload, unsigned_token, with_header

ME = "/api/v1/me"


@pytest.fixture
async def app(make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> Appliance:
    appliance = await make_appliance(**scaikey_server.env())
    await appliance.client.app[JWKS].wait_first_fetch()
    assert scaikey_server.jwks_fetches == 1
    return appliance


async def get_me(app: Appliance, token: str) -> tuple[int, Any, dict[str, str]]:
    resp = await app.client.get(ME, headers={"Authorization": f"Bearer {token}"})
    return resp.status, await resp.json(), dict(resp.headers)


async def assert_refused(app: Appliance, token: str, reason: str) -> None:
    status, body, headers = await get_me(app, token)
    assert (status, body) == (401, {"detail": f"invalid token: {reason}"})
    assert headers["WWW-Authenticate"] == "Bearer"


def user_ids(app: Appliance) -> set[str]:
    return {row["id"] for row in app.sql("SELECT id FROM users")}


async def test_a_good_scaikey_token_reaches_me_and_provisions_the_user(
    app: Appliance, scaikey_server: FakeScaiKey
) -> None:
    token = scaikey_server.mint(sub="usr_bob", tenant_id="tnt_acme", email="bob@acme.test",
                                name="Bob", scope="scaicore:view")
    status, body, _ = await get_me(app, token)
    assert status == 200
    assert body == {"sub": "usr_bob", "tenant_id": "tnt_acme", "email": "bob@acme.test",
                    "display_name": "Bob", "permissions": ["scaicore:view"],
                    "admin_role": None, "admin_role_source": None, "groups": [],
                    "token_source": "scaikey"}
    [row] = app.sql("SELECT tenant_id, status, source FROM users WHERE id = 'usr_bob'")
    assert tuple(row) == ("tnt_acme", "ACTIVE", "token")


Forge = Callable[[FakeScaiKey], str]
ATTACKS: list[tuple[str, Forge, str]] = [
    ("alg_none", lambda f: unsigned_token(f.claims(sub="usr_mallory"), {"kid": "key-1"}),
     "algorithm not allowed"),
    ("alg_none_real_signature", lambda f: with_header(f.mint(sub="usr_mallory"), alg="none"),
     "algorithm not allowed"),
    ("hs256_public_key", lambda f: f.mint_hs256_with_public_key(sub="usr_mallory"),
     "algorithm not allowed"),
    ("wrong_issuer", lambda f: f.mint(sub="usr_mallory", iss="https://evil.example"),
     "wrong issuer"),
    ("wrong_audience", lambda f: f.mint(sub="usr_mallory", aud="another-app"),
     "wrong audience"),
    ("expired", lambda f: f.mint(sub="usr_mallory", exp=int(time.time()) - 120), "expired"),
    ("not_yet_valid", lambda f: f.mint(sub="usr_mallory", nbf=int(time.time()) + 120),
     "not yet valid"),
    ("tampered_tenant", lambda f: tamper_payload(f.mint(sub="usr_mallory"),
                                                 tenant_id="tnt_victim"), "bad signature"),
    ("typ_jwe", lambda f: f.mint(sub="usr_mallory", headers={"typ": "JWE"}),
     "unsupported token type"),
    ("typ_id_token", lambda f: f.mint(sub="usr_mallory", headers={"typ": "id_token+jwt"}),
     "unsupported token type"),
    ("kid_path", lambda f: f.mint(sub="usr_mallory", kid="../../../etc/passwd"),
     "unknown key id"),
    ("kid_sql", lambda f: f.mint(sub="usr_mallory", kid="' OR 1=1 --"), "unknown key id"),
    ("attacker_key_jku", lambda f: f.mint_with_attacker_key(sub="usr_mallory"),
     "unknown key id"),
    ("attacker_key_real_kid", lambda f: f.mint_with_attacker_key(sub="usr_mallory",
                                                                 headers={"kid": "key-1"}),
     "bad signature"),
]


@pytest.mark.parametrize(("forge", "reason"), [(f, r) for _, f, r in ATTACKS],
                         ids=[name for name, _, _ in ATTACKS])
async def test_forged_tokens_are_refused(
    app: Appliance, scaikey_server: FakeScaiKey, forge: Forge, reason: str
) -> None:
    before = user_ids(app)
    await assert_refused(app, forge(scaikey_server), reason)
    assert "usr_mallory" not in user_ids(app)
    assert user_ids(app) == before
    assert scaikey_server.hits["attacker_jwks"] == 0
    assert scaikey_server.jwks_fetches <= 2  # at most the one unknown-kid refresh


async def test_unknown_kid_refetches_once_then_not_inside_the_cooldown(
    app: Appliance, scaikey_server: FakeScaiKey
) -> None:
    await assert_refused(app, scaikey_server.mint(kid="ghost-1"), "unknown key id")
    assert scaikey_server.jwks_fetches == 2
    for kid in ("ghost-1", "ghost-2", "ghost-3"):
        await assert_refused(app, scaikey_server.mint(kid=kid), "unknown key id")
    assert scaikey_server.jwks_fetches == 2


async def test_jku_header_is_ignored_and_never_fetched(
    app: Appliance, scaikey_server: FakeScaiKey
) -> None:
    token = scaikey_server.mint(headers={"jku": scaikey_server.url("/attacker/jwks.json"),
                                         "x5u": scaikey_server.url("/attacker/jwks.json")})
    status, body, _ = await get_me(app, token)
    assert (status, body["sub"], body["token_source"]) == (200, "usr_alice", "scaikey")
    assert scaikey_server.hits["attacker_jwks"] == 0


async def test_rotated_key_is_accepted_after_one_refresh(
    app: Appliance, scaikey_server: FakeScaiKey
) -> None:
    scaikey_server.rotate_keys(keep_old=False)
    status, body, _ = await get_me(app, scaikey_server.mint(sub="usr_carol"))
    assert (status, body["sub"]) == (200, "usr_carol")
    assert scaikey_server.jwks_fetches == 2


async def test_missing_or_malformed_authorization(app: Appliance) -> None:
    resp = await app.client.get(ME)
    assert (resp.status, await resp.json()) == (401, {"detail": "Not authenticated"})
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    await assert_refused(app, "not-a-jwt", "malformed")


async def test_revoked_service_token_is_refused(app: Appliance) -> None:
    admin = await app.headers("usr_root", "tnt_acme", role="super_admin")
    resp = await app.client.post("/api/v1/admin/service-tokens", headers=admin, json={
        "tenant_id": "tnt_acme", "sub": "ci-bot", "scope": "scaicore:view",
        "ttl_seconds": 3600, "description": "CI"})
    assert resp.status == 201, await resp.text()
    minted = await resp.json()
    status, body, _ = await get_me(app, minted["token"])
    assert (status, body["sub"], body["token_source"]) == (200, "ci-bot", "service")

    resp = await app.client.delete(f"/api/v1/admin/service-tokens/{minted['id']}",
                                   headers=admin)
    assert resp.status == 204
    [row] = app.sql("SELECT revoked_at FROM service_tokens WHERE id = ?", minted["id"])
    assert row["revoked_at"] is not None
    # The verifier caches the signature check, not the revocation: refused immediately.
    await assert_refused(app, minted["token"], "revoked")


@pytest.mark.parametrize("change", [{"deleted": True}, {"status": "SUSPENDED"}])
async def test_disabled_users_still_valid_token_is_refused(
    app: Appliance, scaikey_server: FakeScaiKey, change: dict[str, Any]
) -> None:
    token = scaikey_server.mint(sub="usr_erin", tenant_id="tnt_acme")
    status, _, _ = await get_me(app, token)
    assert status == 200
    assert await app.db.write(
        lambda conn: user_rows.set_user_status(conn, "tnt_acme", "usr_erin", **change))
    await assert_refused(app, token, "user disabled")
    # A fresh token for the same user is refused too (the JWT itself is fine).
    await assert_refused(app, scaikey_server.mint(sub="usr_erin", tenant_id="tnt_acme"),
                         "user disabled")
    [row] = app.sql("SELECT status, deleted_at FROM users WHERE id = 'usr_erin'")
    assert (row["status"] != "ACTIVE") or (row["deleted_at"] is not None)


async def test_readyz_reports_the_scaikey_keys(app: Appliance,
                                                scaikey_server: FakeScaiKey) -> None:
    resp = await app.client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200
    [issuer] = body["issuers"]
    assert issuer["issuer"] == scaikey_server.issuer
    assert issuer["key_ids"] == ["key-1"]
    assert issuer["source"] == "discovery"


async def test_restarted_appliance_validates_with_scaikey_down(
    app: Appliance, scaikey_server: FakeScaiKey, aiohttp_client: Any
) -> None:
    from scaiflow_box.app import create_app

    token = scaikey_server.mint(sub="usr_dora")
    assert (await get_me(app, token))[0] == 200
    await app.client.close()  # the appliance stops ...
    await scaikey_server.stop()  # ... and ScaiKey is unreachable when it comes back
    restarted = await aiohttp_client(create_app(app.settings))
    resp = await restarted.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    assert (await resp.json())["sub"] == "usr_dora"
    resp = await restarted.get("/readyz")
    body = await resp.json()
    assert resp.status == 200
    [issuer] = body["issuers"]
    assert issuer["key_ids"] == [scaikey_server.current_kid]


# -- bad claims (issue #6): refused before anything is provisioned -------------------------------
def identity_state(app: Appliance) -> tuple[set[str], set[str], int]:
    """Users, tenants and the number of audit rows, read from the SQLite file."""
    users = {row["id"] for row in app.sql("SELECT id FROM users")}
    tenants = {row["id"] for row in app.sql("SELECT id FROM tenants")}
    [audit_rows] = app.sql("SELECT count(*) AS n FROM audit_log")
    return users, tenants, audit_rows["n"]


async def assert_refused_provisioning_nothing(app: Appliance, token: str, reason: str) -> None:
    before = identity_state(app)
    await assert_refused(app, token, reason)
    assert identity_state(app) == before
    users, tenants, _ = identity_state(app)
    assert not any("mallory" in user for user in users)
    assert not any("mallory" in tenant for tenant in tenants)


SCAIKEY_BAD_CLAIMS: list[tuple[str, dict[str, Any], str]] = [
    ("exp_string", {"exp": "9999999999"}, "bad claim exp"),
    ("exp_bool", {"exp": True}, "bad claim exp"),
    ("exp_huge", {"exp": 2**35 + 1}, "bad claim exp"),
    ("exp_negative", {"exp": -1}, "bad claim exp"),
    ("iat_future", {"iat": 2**34, "nbf": None}, "not yet valid"),
    ("nbf_future", {"nbf": 2**34}, "not yet valid"),
    ("iat_string", {"iat": "0"}, "bad claim iat"),
    ("scope_list", {"scope": ["scaicore:view", "scaicore:manage"]}, "bad claim scope"),
    ("scope_number", {"scope": 1}, "bad claim scope"),
    ("sub_nul", {"sub": "usr_mallory\x00"}, "bad claim sub"),
    ("sub_slash", {"sub": "usr_mallory/../usr_root"}, "bad claim sub"),
    ("sub_space", {"sub": "usr_mallory x"}, "bad claim sub"),
    ("sub_empty", {"sub": ""}, "bad claim sub"),
    ("sub_201_chars", {"sub": "usr_mallory" + "m" * 190}, "bad claim sub"),
    ("tenant_nul", {"tenant_id": "tnt_mallory\x00"}, "bad claim tenant_id"),
    ("tenant_slash", {"tenant_id": "tnt_mallory/x"}, "bad claim tenant_id"),
    ("tenant_space", {"tenant_id": "tnt_mallory x"}, "bad claim tenant_id"),
    ("tenant_empty", {"tenant_id": ""}, "bad claim tenant_id"),
    ("tenant_201_chars", {"tenant_id": "tnt_mallory" + "m" * 190}, "bad claim tenant_id"),
    ("email_number", {"email": 42}, "bad claim email"),
    ("email_too_long", {"email": "m" * 311 + "@acme.test"}, "bad claim email"),
    ("name_list", {"name": ["Mallory"]}, "bad claim name"),
    ("name_control", {"name": "Mallory\r\nX-Admin: yes"}, "bad claim name"),
]


@pytest.mark.parametrize(("claims", "reason"), [(c, r) for _, c, r in SCAIKEY_BAD_CLAIMS],
                         ids=[name for name, _, _ in SCAIKEY_BAD_CLAIMS])
async def test_scaikey_token_with_a_bad_claim_provisions_nothing(
    app: Appliance, scaikey_server: FakeScaiKey, claims: dict[str, Any], reason: str
) -> None:
    token = scaikey_server.mint(**{"sub": "usr_mallory", "tenant_id": "tnt_mallory", **claims})
    await assert_refused_provisioning_nothing(app, token, reason)


async def test_the_same_claims_done_right_do_provision(
    app: Appliance, scaikey_server: FakeScaiKey
) -> None:
    # The control for the test above: the state it checks is the one a good token changes.
    before_users, before_tenants, before_audit = identity_state(app)
    token = scaikey_server.mint(sub="usr_mallory", tenant_id="tnt_mallory")
    assert (await get_me(app, token))[0] == 200
    users, tenants, audit_rows = identity_state(app)
    assert (users - before_users, tenants - before_tenants) == ({"usr_mallory"}, {"tnt_mallory"})
    assert audit_rows == before_audit + 1


SERVICE_BAD_CLAIMS: list[tuple[str, dict[str, Any], str]] = [
    ("sub_nul", {"sub": "ci-mallory\x00"}, "bad claim sub"),
    ("sub_slash", {"sub": "ci/mallory"}, "bad claim sub"),
    ("tenant_space", {"tenant_id": "tnt mallory"}, "bad claim tenant_id"),
    ("tenant_trailing_newline", {"tenant_id": "tnt_mallory\n"}, "bad claim tenant_id"),
    ("email_number", {"email": 42}, "bad claim email"),
    ("name_list", {"name": ["Mallory"]}, "bad claim name"),
    ("iat_future", {"now": 2**34}, "not yet valid"),
]


@pytest.mark.parametrize(("claims", "reason"), [(c, r) for _, c, r in SERVICE_BAD_CLAIMS],
                         ids=[name for name, _, _ in SERVICE_BAD_CLAIMS])
async def test_service_token_with_a_bad_claim_provisions_nothing(
    app: Appliance, claims: dict[str, Any], reason: str
) -> None:
    # Signed by the appliance's own issuer, bypassing the mint request checks (as a leaked
    # signing key or a future bug in them would).
    values: dict[str, Any] = {"sub": "ci-mallory", "tenant_id": "tnt_mallory",
                              "scope": "scaicore:view", "ttl_seconds": 600,
                              "jti": "tok_mallory", **claims}
    token, _ = app.client.app[ISSUER].mint(**values)
    await assert_refused_provisioning_nothing(app, token, reason)


async def test_forged_tokens_with_bad_claims_still_fail_the_signature(
    app: Appliance, scaikey_server: FakeScaiKey
) -> None:
    bad = {"sub": "usr_mallory/\x00", "tenant_id": "tnt_mallory x", "exp": "never",
           "scope": ["scaicore:manage"], "email": 42, "name": ["Mallory"]}
    tampered = tamper_payload(scaikey_server.mint(), **bad)
    await assert_refused_provisioning_nothing(app, tampered, "bad signature")
    attacker = scaikey_server.mint_with_attacker_key(headers={"kid": "key-1"}, **bad)
    await assert_refused_provisioning_nothing(app, attacker, "bad signature")
    service, _ = app.client.app[ISSUER].mint(sub="ci-bot", tenant_id="tnt_acme", scope="",
                                             ttl_seconds=600, jti="tok_x")
    await assert_refused_provisioning_nothing(app, tamper_payload(service, **bad),
                                              "bad signature")


async def test_no_appliance_serves_scaikey_tokens_without_a_known_audience(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    env = scaikey_server.env()
    del env["SCAIFLOW_SCAIKEY_CLIENT_ID"]  # the audience's fallback; SCAIKEY_AUDIENCE unset
    with pytest.raises(ConfigError) as refused:
        await make_appliance(**env)
    assert refused.value.problems == [
        "SCAIKEY_AUDIENCE: ScaiKey tokens are accepted but their audience is unknown; set "
        "SCAIKEY_AUDIENCE or SCAIFLOW_SCAIKEY_CLIENT_ID (the `aud` of this appliance's "
        "ScaiKey tokens)"]
    box = await make_appliance(**env, SCAIKEY_AUDIENCE="scaiflow-box-acme")
    await box.client.app[JWKS].wait_first_fetch()
    await assert_refused(box, scaikey_server.mint(sub="usr_x", aud="some-other-client"),
                         "wrong audience")
    assert not box.sql("SELECT 1 FROM users WHERE id = 'usr_x'")
    status, body, _ = await get_me(box, scaikey_server.mint(sub="usr_x",
                                                             aud="scaiflow-box-acme"))
    assert (status, body["sub"]) == (200, "usr_x")
