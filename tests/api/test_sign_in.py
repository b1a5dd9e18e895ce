"""Browser sign-in through the appliance (SPEC §11): `POST /api/v1/auth/exchange` and
`/refresh` against the ScaiKey stand-in's token endpoint (discovered, HTTP Basic client auth,
PKCE, refresh-token rotation), with every failure the contract names, and `/auth/config`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from scaiflow_box.config import ConfigError, load_settings
from tests.conftest import AppFactory, Appliance
from tests.fakes.scaikey import FakeScaiKey

REDIRECT = "http://localhost:5173/auth/callback"
EXCHANGE = "/api/v1/auth/exchange"
REFRESH = "/api/v1/auth/refresh"
TOKEN_FIELDS = {"access_token", "refresh_token", "id_token", "token_type", "expires_in"}


async def signed_in_box(make_appliance: AppFactory, fake: FakeScaiKey, **env: str) -> Appliance:
    return await make_appliance(**fake.env(**env))


def code_for(fake: FakeScaiKey, **claims: Any) -> tuple[str, str]:
    """(code, verifier) as if the user had just signed in at ScaiKey from the canvas."""
    verifier, challenge = fake.pkce_pair()
    return fake.issue_code(redirect_uri=REDIRECT, code_challenge=challenge, **claims), verifier


async def jwks_cache_settled(fake: FakeScaiKey) -> None:
    """Wait for the JWKS cache's own start-up discovery and fetch, so that the discovery
    requests counted afterwards are sign-in's."""
    for _ in range(500):
        if fake.hits["jwks"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the JWKS cache never fetched")


async def exchange(box: Appliance, code: str, verifier: str,
                   redirect_uri: str = REDIRECT) -> tuple[int, Any, Any]:
    resp = await box.client.post(EXCHANGE, json={"code": code, "code_verifier": verifier,
                                                 "redirect_uri": redirect_uri})
    return resp.status, await resp.json(), resp.headers


async def refresh(box: Appliance, token: str) -> tuple[int, Any, Any]:
    resp = await box.client.post(REFRESH, json={"refresh_token": token})
    return resp.status, await resp.json(), resp.headers


# -- success ----------------------------------------------------------------------------------
async def test_exchange_returns_scaikeys_tokens_and_the_access_token_works_here(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    code, verifier = code_for(scaikey_server, sub="usr_bea", tenant_id="tnt_acme",
                              email="bea@acme.test", name="Bea")

    status, body, headers = await exchange(box, code, verifier)

    assert status == 200, body
    assert set(body) == TOKEN_FIELDS
    assert body["token_type"] == "Bearer" and body["expires_in"] == scaikey_server.access_ttl
    assert body["refresh_token"].startswith("rt_") and body["id_token"].count(".") == 2
    assert headers["Cache-Control"] == "no-store" and headers["Pragma"] == "no-cache"
    # What ScaiKey saw: HTTP Basic client auth, the code, the verifier and the redirect URI as
    # sent, and no secret in the form.
    [request] = scaikey_server.token_requests
    assert request["basic_auth"] and request["client_id"] == "scaiflow"
    assert request["form"] == {"grant_type": "authorization_code", "code": code,
                               "code_verifier": verifier, "redirect_uri": REDIRECT}
    # The access token is a ScaiKey token: validated offline, the user provisioned.
    me = await box.client.get("/api/v1/me",
                              headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status == 200
    assert (await me.json())["sub"] == "usr_bea"
    assert (await me.json())["token_source"] == "scaikey"
    [user] = box.sql("SELECT tenant_id, email FROM users WHERE id = 'usr_bea'")
    assert tuple(user) == ("tnt_acme", "bea@acme.test")


async def test_refresh_passes_the_rotated_refresh_token_through(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    _, first, _ = await exchange(box, *code_for(scaikey_server))

    status, second, headers = await refresh(box, first["refresh_token"])

    assert status == 200, second
    assert set(second) == TOKEN_FIELDS and second["token_type"] == "Bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert headers["Cache-Control"] == "no-store"
    assert scaikey_server.token_requests[-1]["form"] == {
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    me = await box.client.get("/api/v1/me",
                              headers={"Authorization": f"Bearer {second['access_token']}"})
    assert me.status == 200

    # Rotation: the old refresh token is refused once used, the new one works.
    status, body, _ = await refresh(box, first["refresh_token"])
    assert status == 400
    assert body["detail"]["error"] == "invalid_grant"
    assert body["detail"]["error_description"] == "refresh token is invalid or was used"
    assert body["detail"]["fix"].startswith("Sign in again")
    status, third, _ = await refresh(box, second["refresh_token"])
    assert status == 200 and third["refresh_token"] not in (first["refresh_token"],
                                                             second["refresh_token"])


async def test_discovery_is_fetched_once_and_again_after_a_failure(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    await jwks_cache_settled(scaikey_server)
    before = scaikey_server.hits["discovery"]
    for _ in range(2):
        status, _, _ = await exchange(box, *code_for(scaikey_server))
        assert status == 200
    results = await asyncio.gather(*(exchange(box, *code_for(scaikey_server))
                                     for _ in range(3)))
    assert [r[0] for r in results] == [200] * 3
    assert scaikey_server.hits["discovery"] == before + 1  # cached, fetched by one caller

    scaikey_server.fail("token", 503)
    assert (await exchange(box, *code_for(scaikey_server)))[0] == 502
    scaikey_server.clear_faults()
    assert (await exchange(box, *code_for(scaikey_server)))[0] == 200
    assert scaikey_server.hits["discovery"] == before + 2  # dropped by the failure


async def test_without_an_issuer_url_discovery_is_the_platform_issuers(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    env = scaikey_server.env()
    del env["SCAIKEY_ISSUER"]
    box = await make_appliance(**env)
    await jwks_cache_settled(scaikey_server)
    before = scaikey_server.hits["platform_discovery"]
    status, body, _ = await exchange(box, *code_for(scaikey_server))
    assert status == 200, body
    assert scaikey_server.hits["platform_discovery"] == before + 1


async def test_a_client_secret_with_reserved_characters_is_form_encoded(
        make_appliance: AppFactory) -> None:
    secret = "s3cr:t+/=%&é ok"
    fake = await FakeScaiKey(client_secret=secret).start()
    try:
        box = await signed_in_box(make_appliance, fake)
        status, body, _ = await exchange(box, *code_for(fake))
        assert status == 200, body
    finally:
        await fake.stop()


# -- ScaiKey refuses: 400 with its error --------------------------------------------------
async def test_a_wrong_pkce_verifier_is_scaikeys_invalid_grant(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    code, _ = code_for(scaikey_server)
    other_verifier, _ = scaikey_server.pkce_pair()

    status, body, headers = await exchange(box, code, other_verifier)

    assert status == 400
    assert body["detail"] == {
        "error": "invalid_grant", "error_description": "PKCE verification failed",
        "message": "ScaiKey refused the authorization code: PKCE verification failed",
        "fix": "Start the sign-in again at ScaiKey."}
    assert headers["Cache-Control"] == "no-store"


async def test_a_used_or_expired_code_is_refused(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    code, verifier = code_for(scaikey_server)
    assert (await exchange(box, code, verifier))[0] == 200
    status, body, _ = await exchange(box, code, verifier)
    assert status == 400 and body["detail"]["error"] == "invalid_grant"
    assert body["detail"]["error_description"] == "authorization code is invalid or expired"

    verifier, challenge = scaikey_server.pkce_pair()
    expired = scaikey_server.issue_code(redirect_uri=REDIRECT, code_challenge=challenge,
                                        ttl=-1)
    status, body, _ = await exchange(box, expired, verifier)
    assert status == 400 and body["detail"]["error"] == "invalid_grant"

    # A code issued for another redirect URI (no URI configured here: sent as it is).
    verifier, challenge = scaikey_server.pkce_pair()
    elsewhere = scaikey_server.issue_code(redirect_uri="http://localhost:5173/other",
                                          code_challenge=challenge)
    status, body, _ = await exchange(box, elsewhere, verifier)
    assert status == 400 and body["detail"]["error_description"] == \
        "redirect_uri does not match"


async def test_a_wrong_client_secret_is_invalid_client_and_never_shown(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-secret-0xC0FFEE"
    box = await signed_in_box(make_appliance, scaikey_server,
                              SCAIFLOW_SCAIKEY_CLIENT_SECRET=wrong)
    code, verifier = code_for(scaikey_server)

    resp = await box.client.post(EXCHANGE, json={"code": code, "code_verifier": verifier,
                                                 "redirect_uri": REDIRECT})
    text = await resp.text()

    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert detail["error"] == "invalid_client"
    assert detail["error_description"] == "client authentication failed"
    assert "SCAIFLOW_SCAIKEY_CLIENT_SECRET" in detail["fix"]
    assert wrong not in text and wrong not in caplog.text
    assert any("invalid_client" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    status, body, _ = await refresh(box, "rt_whatever")
    assert status == 400 and body["detail"]["error"] == "invalid_client"


async def test_secret_tokens_codes_and_verifiers_never_reach_the_logs(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    box = await signed_in_box(make_appliance, scaikey_server)
    code, verifier = code_for(scaikey_server)
    _, tokens, _ = await exchange(box, code, verifier)
    _, refreshed, _ = await refresh(box, tokens["refresh_token"])
    await refresh(box, tokens["refresh_token"])  # refused
    await exchange(box, code, verifier)  # refused
    scaikey_server.fail("token", 500)
    await exchange(box, *code_for(scaikey_server))

    secrets = [scaikey_server.client_secret, code, verifier, *tokens.values(),
               *refreshed.values()]
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    for value in secrets:
        if isinstance(value, str) and len(value) > 8:
            assert value not in logged
    assert "sign-in: authorization code exchanged at ScaiKey" in caplog.text
    assert "sign-in: tokens refreshed at ScaiKey" in caplog.text


# -- ScaiKey fails: 502 ------------------------------------------------------------------
async def test_scaikey_5xx_is_502_with_its_status(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    scaikey_server.fail("token", 500)
    status, body, headers = await exchange(box, *code_for(scaikey_server))
    assert status == 502
    assert body["detail"]["error"] == "scaikey_error"
    assert body["detail"]["status"] == 500
    assert "HTTP 500" in body["detail"]["message"]
    assert "127.0.0.1" not in body["detail"]["message"]
    assert headers["Cache-Control"] == "no-store"
    status, body, _ = await refresh(box, "rt_x")
    assert status == 502 and body["detail"]["error"] == "scaikey_error"


async def test_a_4xx_that_is_not_an_oauth_error_is_502(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    scaikey_server.fail("token", 404)  # {"detail": "injected failure"}
    status, body, _ = await exchange(box, *code_for(scaikey_server))
    assert status == 502 and body["detail"]["status"] == 404


async def test_a_stalled_token_endpoint_is_502_after_the_timeout(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server,
                              SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS="0.5")
    assert (await exchange(box, *code_for(scaikey_server)))[0] == 200  # discovery cached
    # Answered after the 0.5 s timeout, well before the 3 s stall ends (the margin is for a
    # loaded CI machine).
    scaikey_server.stall(3.0, "token")
    started = asyncio.get_running_loop().time()
    status, body, _ = await exchange(box, *code_for(scaikey_server))
    elapsed = asyncio.get_running_loop().time() - started
    assert status == 502 and body["detail"]["error"] == "scaikey_unreachable"
    assert "timed out" in body["detail"]["message"]
    assert 0.4 < elapsed < 2.5


async def test_unreachable_scaikey_is_502(make_appliance: AppFactory,
                                          scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    await scaikey_server.stop()
    status, body, _ = await exchange(box, *code_for(scaikey_server))
    assert status == 502
    assert body["detail"]["error"] == "scaikey_unreachable"
    assert body["detail"]["fix"].startswith("Check SCAIKEY_BASE_URL")
    status, body, _ = await refresh(box, "rt_x")
    assert status == 502 and body["detail"]["error"] == "scaikey_unreachable"


async def test_failing_discovery_is_502(make_appliance: AppFactory,
                                        scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    scaikey_server.fail("discovery", 500)
    status, body, _ = await exchange(box, *code_for(scaikey_server))
    assert status == 502 and body["detail"]["error"] == "scaikey_error"
    assert scaikey_server.token_requests == []

    scaikey_server.clear_faults()
    document = {"issuer": scaikey_server.issuer, "jwks_uri": scaikey_server.jwks_uri}
    scaikey_server.discovery_override = document  # no token_endpoint
    status, body, _ = await exchange(box, *code_for(scaikey_server))
    assert status == 502 and "token_endpoint" in body["detail"]["message"]


async def test_a_redirect_from_the_token_endpoint_is_not_followed(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    scaikey_server.redirect("token", scaikey_server.url("/attacker/jwks.json"))
    status, body, _ = await exchange(box, *code_for(scaikey_server))
    assert status == 502 and body["detail"]["status"] == 302
    assert scaikey_server.hits["attacker_jwks"] == 0


# Token endpoint answers a stand-in cannot give: served by a small app of this test, the
# discovery document of the stand-in pointing at it.
Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def custom_token_endpoint(fake: FakeScaiKey, reply: Reply) -> TestServer:
    app = web.Application()
    app.router.add_post("/token", reply)
    server = TestServer(app)
    await server.start_server()
    fake.discovery_override = {"issuer": fake.issuer, "jwks_uri": fake.jwks_uri,
                               "token_endpoint": str(server.make_url("/token"))}
    return server


@pytest.mark.parametrize("answer", [
    {"token_type": "Bearer"},  # no access_token
    {"access_token": "", "token_type": "Bearer"},
    {"access_token": "at", "token_type": "DPoP"},
    {"access_token": "at"},  # no token_type
    {"access_token": "at", "token_type": "Bearer", "expires_in": "soon"},
    {"access_token": "at", "token_type": "Bearer", "expires_in": -5},
    {"access_token": "at", "token_type": "Bearer", "refresh_token": 42},
    ["access_token", "at"],
    "not json at all",
])
async def test_a_malformed_token_answer_is_502(make_appliance: AppFactory,
                                               scaikey_server: FakeScaiKey,
                                               answer: Any) -> None:
    async def reply(request: web.Request) -> web.Response:
        if isinstance(answer, str):
            return web.Response(text=answer, content_type="application/json")
        return web.json_response(answer)

    server = await custom_token_endpoint(scaikey_server, reply)
    try:
        box = await signed_in_box(make_appliance, scaikey_server)
        status, body, _ = await exchange(box, *code_for(scaikey_server))
        assert status == 502, body
        assert body["detail"]["error"] == "scaikey_error"
        assert "at" not in body["detail"]["message"].split()
    finally:
        await server.close()


async def test_an_oversized_token_answer_is_502(make_appliance: AppFactory,
                                                scaikey_server: FakeScaiKey) -> None:
    async def reply(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "a" * 300_000, "token_type": "Bearer"})

    server = await custom_token_endpoint(scaikey_server, reply)
    try:
        box = await signed_in_box(make_appliance, scaikey_server)
        status, body, _ = await exchange(box, *code_for(scaikey_server))
        assert status == 502 and "too large" in body["detail"]["message"]
    finally:
        await server.close()


async def test_a_refresh_scaikey_does_not_rotate_keeps_the_refresh_token(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    async def reply(request: web.Request) -> web.Response:
        # lower-case token type and a string expires_in, as some providers send
        return web.json_response({"access_token": "at-new", "token_type": "bearer",
                                  "expires_in": "3600"})

    server = await custom_token_endpoint(scaikey_server, reply)
    try:
        box = await signed_in_box(make_appliance, scaikey_server)
        status, body, _ = await refresh(box, "rt_kept")
        assert status == 200
        assert body == {"access_token": "at-new", "refresh_token": "rt_kept",
                        "id_token": None, "token_type": "Bearer", "expires_in": 3600}
        status, body, _ = await exchange(box, *code_for(scaikey_server))
        assert status == 200 and body["refresh_token"] is None and body["id_token"] is None
    finally:
        await server.close()


async def test_scaikeys_error_text_is_cleaned_and_an_odd_error_code_is_502(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    answers = iter([
        ({"error": "invalid_request", "error_description": "bad\x00 thing\n" + "x" * 900}, 400),
        ({"error": "has space", "error_description": "no"}, 400),
        ({"error": "invalid_grant"}, 400),
    ])

    async def reply(request: web.Request) -> web.Response:
        body, status = next(answers)
        return web.json_response(body, status=status)

    server = await custom_token_endpoint(scaikey_server, reply)
    try:
        box = await signed_in_box(make_appliance, scaikey_server)
        status, body, _ = await exchange(box, *code_for(scaikey_server))
        assert status == 400 and body["detail"]["error"] == "invalid_request"
        description = body["detail"]["error_description"]
        assert description.startswith("bad thing") and len(description) == 500
        assert "fix" not in body["detail"]
        status, body, _ = await exchange(box, *code_for(scaikey_server))
        assert status == 502 and body["detail"]["status"] == 400
        status, body, _ = await exchange(box, *code_for(scaikey_server))
        assert status == 400 and body["detail"]["error_description"] is None
        assert body["detail"]["message"] == "ScaiKey refused the authorization code: " \
                                            "invalid_grant"
    finally:
        await server.close()


async def test_an_oauth_code_rfc_6749_does_not_define_is_scaikey_refused(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    """The codes a client can see are a closed set (the document lists each): ScaiKey's
    RFC 6749 §5.2 codes pass as they are, any other is `scaikey_refused` naming it."""
    async def reply(request: web.Request) -> web.Response:
        return web.json_response({"error": "access_denied", "error_description": "no"},
                                 status=400)

    server = await custom_token_endpoint(scaikey_server, reply)
    try:
        box = await signed_in_box(make_appliance, scaikey_server)
        status, body, _ = await exchange(box, *code_for(scaikey_server))
        assert status == 400
        assert body == {"detail": {
            "error": "scaikey_refused", "oauth_error": "access_denied",
            "error_description": "no",
            "message": "ScaiKey refused the authorization code: no"}}
        assert box.sql("SELECT count(*) AS n FROM users")[0]["n"] == 0
    finally:
        await server.close()


# -- not configured: 503 ----------------------------------------------------------------------
@pytest.mark.parametrize("missing", ["SCAIKEY_BASE_URL", "SCAIFLOW_SCAIKEY_CLIENT_ID",
                                     "SCAIFLOW_SCAIKEY_CLIENT_SECRET"])
async def test_sign_in_needs_all_three_settings(make_appliance: AppFactory,
                                                scaikey_server: FakeScaiKey,
                                                missing: str) -> None:
    env = scaikey_server.env(SCAIKEY_AUDIENCE=scaikey_server.audience)  # tokens still work
    del env[missing]
    box = await make_appliance(**env)
    code, verifier = code_for(scaikey_server)

    status, body, _ = await exchange(box, code, verifier)
    assert status == 503
    assert body["detail"]["error"] == "scaikey_not_configured"
    assert missing in body["detail"]["message"]
    assert "Signing in with ScaiKey" in body["detail"]["fix"]
    status, body, _ = await refresh(box, "rt_x")
    assert status == 503 and body["detail"]["error"] == "scaikey_not_configured"
    assert scaikey_server.token_requests == []
    config = await (await box.client.get("/api/v1/auth/config")).json()
    assert config["auth_mode"] == "dev_token"


async def test_a_box_without_scaikey_answers_503(appliance: Appliance) -> None:
    resp = await appliance.client.post(REFRESH, json={"refresh_token": "rt_x"})
    assert resp.status == 503
    detail = (await resp.json())["detail"]
    assert detail["message"].endswith("(missing: SCAIKEY_BASE_URL, SCAIFLOW_SCAIKEY_CLIENT_ID, "
                                      "SCAIFLOW_SCAIKEY_CLIENT_SECRET)")


# -- the request body: 422, nothing sent to ScaiKey ---------------------------------------
GOOD = {"code": "code_x", "code_verifier": "v" * 43, "redirect_uri": REDIRECT}


@pytest.mark.parametrize(("body", "loc"), [
    ({**GOOD, "client_secret": "mine"}, ["body", "client_secret"]),
    ({k: v for k, v in GOOD.items() if k != "code"}, ["body", "code"]),
    ({**GOOD, "code": ""}, ["body", "code"]),
    ({**GOOD, "code": 12345}, ["body", "code"]),
    ({**GOOD, "code": "line\nbreak"}, ["body", "code"]),
    ({**GOOD, "code_verifier": "too-short"}, ["body", "code_verifier"]),
    ({**GOOD, "code_verifier": "v" * 129}, ["body", "code_verifier"]),
    ({**GOOD, "code_verifier": "+" * 43}, ["body", "code_verifier"]),
    ({**GOOD, "redirect_uri": "ftp://localhost/cb"}, ["body", "redirect_uri"]),
    ({**GOOD, "redirect_uri": "http://local host/cb"}, ["body", "redirect_uri"]),
    ({**GOOD, "redirect_uri": None}, ["body", "redirect_uri"]),
])
async def test_exchange_body_validation(make_appliance: AppFactory,
                                        scaikey_server: FakeScaiKey, body: dict[str, Any],
                                        loc: list[str]) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    resp = await box.client.post(EXCHANGE, json=body)
    assert resp.status == 422
    assert [item["loc"] for item in (await resp.json())["detail"]] == [loc]
    assert scaikey_server.token_requests == []


@pytest.mark.parametrize("body", [
    {}, {"refresh_token": ""}, {"refresh_token": None}, {"refresh_token": "rt", "scope": "x"},
    {"refresh_token": "r" * 8193}, {"refresh_token": "tab\there"},
])
async def test_refresh_body_validation(make_appliance: AppFactory,
                                       scaikey_server: FakeScaiKey,
                                       body: dict[str, Any]) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    resp = await box.client.post(REFRESH, json=body)
    assert resp.status == 422
    assert scaikey_server.token_requests == []


async def test_a_form_body_is_415(make_appliance: AppFactory,
                                  scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    resp = await box.client.post(REFRESH, data={"refresh_token": "rt_x"})
    assert resp.status == 415


# -- the configured redirect URI ------------------------------------------------------------
async def test_a_configured_redirect_uri_is_the_only_one_accepted(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server,
                              SCAIFLOW_SCAIKEY_REDIRECT_URI=REDIRECT)
    code, verifier = code_for(scaikey_server)

    for other in (REDIRECT + "/", "http://localhost:5173/auth/Callback",
                  "http://evil.example/auth/callback"):
        status, body, _ = await exchange(box, code, verifier, redirect_uri=other)
        assert status == 400
        assert body["detail"]["error"] == "redirect_uri_mismatch"
        assert other not in body["detail"]["message"]
    assert scaikey_server.token_requests == []
    status, _, _ = await exchange(box, code, verifier)
    assert status == 200


async def test_auth_config_reports_scaikey_mode_and_the_redirect_uri(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server,
                              SCAIFLOW_SCAIKEY_REDIRECT_URI=REDIRECT)
    resp = await box.client.get("/api/v1/auth/config")
    config = await resp.json()
    assert config == {"auth_mode": "scaikey", "scaikey_base_url": scaikey_server.base_url,
                      "client_id": "scaiflow", "audience": "scaiflow", "redirect_uri": REDIRECT}
    assert scaikey_server.client_secret not in await resp.text()

    plain = await signed_in_box(make_appliance, scaikey_server)
    config = await (await plain.client.get("/api/v1/auth/config")).json()
    assert config["auth_mode"] == "scaikey" and config["redirect_uri"] is None


async def test_the_canvas_may_call_exchange_across_origins(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    box = await signed_in_box(make_appliance, scaikey_server)
    origin = "http://localhost:5173"
    resp = await box.client.options(EXCHANGE, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert resp.status in (200, 204)
    assert resp.headers["Access-Control-Allow-Origin"] == origin
    code, verifier = code_for(scaikey_server)
    resp = await box.client.post(EXCHANGE, headers={"Origin": origin}, json={
        "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT})
    assert resp.status == 200 and resp.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(("value", "problem"), [
    ("localhost:5173/cb", "must be an http(s) URL with a host"),
    ("ftp://host/cb", "must be an http(s) URL with a host"),
    ("http://host/cb#frag", "must not have a fragment"),
    ("http://user:pw@host/cb", "must not carry a user or password"),
    ("http://host:99999/cb", "is not a valid URL"),
    ("http://host/a b", "must be printable ASCII without spaces"),
])
def test_the_redirect_uri_setting_is_validated(tmp_path: Any, value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_DATA_DIR": str(tmp_path),
                       "SCAIFLOW_SCAIKEY_REDIRECT_URI": value})
    assert raised.value.problems == [
        f"SCAIFLOW_SCAIKEY_REDIRECT_URI: {problem}, got {value!r}"]


def test_the_redirect_uri_setting_is_kept_exactly(tmp_path: Any) -> None:
    settings = load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_DATA_DIR": str(tmp_path),
                              "SCAIFLOW_SCAIKEY_REDIRECT_URI": "https://canvas.example/cb/"})
    assert settings.scaikey_redirect_uri == "https://canvas.example/cb/"
