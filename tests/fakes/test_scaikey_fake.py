"""The fake ScaiKey behaves like SPEC §18.2 says ScaiKey does (other tests rely on it)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest

from tests.fakes.scaikey import ADMIN_FORBIDDEN, FakeScaiKey


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def post_token(http: aiohttp.ClientSession, fake: FakeScaiKey, form: dict[str, str],
                     headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    headers = basic(fake.client_id, fake.client_secret) if headers is None else headers
    async with http.post(fake.token_endpoint, data=form, headers=headers) as response:
        return response.status, await response.json()


def decode(fake: FakeScaiKey, token: str, audience: str | None = None) -> dict[str, Any]:
    key = fake.key(jwt.get_unverified_header(token)["kid"])
    claims: dict[str, Any] = jwt.decode(token, key.private_key.public_key(),
                                        algorithms=[key.alg], audience=audience or fake.audience,
                                        issuer=fake.issuer)
    return claims


async def test_discovery_documents(scaikey_server: FakeScaiKey,
                                   http: aiohttp.ClientSession) -> None:
    for url in (scaikey_server.discovery_url, scaikey_server.platform_discovery_url):
        async with http.get(url) as response:
            doc = await response.json()
        assert doc["issuer"] == scaikey_server.issuer
        assert doc["jwks_uri"] == scaikey_server.jwks_uri
        assert doc["token_endpoint"] == scaikey_server.token_endpoint
    assert scaikey_server.hits["discovery"] == 1
    assert scaikey_server.hits["platform_discovery"] == 1


async def test_jwks_counter_cache_control_and_rotation(
    scaikey_server: FakeScaiKey, http: aiohttp.ClientSession
) -> None:
    async with http.get(scaikey_server.jwks_uri) as response:
        assert response.headers["Cache-Control"] == "public, max-age=600"
        assert [k["kid"] for k in (await response.json())["keys"]] == ["key-1"]
    new_kid = scaikey_server.rotate_keys(keep_old=False, alg="ES256")
    async with http.get(scaikey_server.jwks_uri) as response:
        [key] = (await response.json())["keys"]
    assert (key["kid"], key["kty"], key["alg"]) == (new_kid, "EC", "ES256")
    assert "d" not in key
    assert scaikey_server.jwks_fetches == 2
    assert decode(scaikey_server, scaikey_server.mint())["sub"] == "usr_alice"


async def test_authorization_code_with_pkce_and_rotating_refresh(
    scaikey_server: FakeScaiKey, http: aiohttp.ClientSession
) -> None:
    verifier, challenge = scaikey_server.pkce_pair()
    code = scaikey_server.issue_code(redirect_uri="http://localhost:5173/cb",
                                     code_challenge=challenge, sub="usr_bob",
                                     tenant_id="tnt_x", scope="openid scaicore:view")
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": "http://localhost:5173/cb", "code_verifier": verifier}
    status, body = await post_token(http, scaikey_server, form)
    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    claims = decode(scaikey_server, body["access_token"])
    assert (claims["sub"], claims["tenant_id"], claims["scope"]) == \
        ("usr_bob", "tnt_x", "openid scaicore:view")
    assert decode(scaikey_server, body["id_token"], audience=scaikey_server.client_id)["sub"] \
        == "usr_bob"
    # A code works once.
    assert await post_token(http, scaikey_server, form) == (400, {
        "error": "invalid_grant", "error_description": "authorization code is invalid or expired"})

    first_refresh = body["refresh_token"]
    status, refreshed = await post_token(http, scaikey_server,
                                         {"grant_type": "refresh_token",
                                          "refresh_token": first_refresh})
    assert status == 200 and refreshed["refresh_token"] != first_refresh
    status, reused = await post_token(http, scaikey_server,
                                      {"grant_type": "refresh_token",
                                       "refresh_token": first_refresh})
    assert (status, reused["error"]) == (400, "invalid_grant")
    assert scaikey_server.token_requests[0]["basic_auth"] is True
    assert scaikey_server.token_requests[0]["client_id"] == scaikey_server.client_id


async def test_token_endpoint_errors(scaikey_server: FakeScaiKey,
                                     http: aiohttp.ClientSession) -> None:
    _verifier, challenge = scaikey_server.pkce_pair()
    code = scaikey_server.issue_code(redirect_uri="http://a/cb", code_challenge=challenge)
    status, body = await post_token(http, scaikey_server, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://a/cb",
        "code_verifier": "wrong"})
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await post_token(http, scaikey_server, {"grant_type": "password"})
    assert (status, body["error"]) == (400, "unsupported_grant_type")
    status, body = await post_token(http, scaikey_server, {"grant_type": "client_credentials"},
                                    headers=basic(scaikey_server.client_id, "bad"))
    assert (status, body["error"]) == (401, "invalid_client")
    # Client credentials in the form instead of HTTP Basic are not accepted.
    status, body = await post_token(http, scaikey_server, {
        "grant_type": "client_credentials", "client_id": scaikey_server.client_id,
        "client_secret": scaikey_server.client_secret}, headers={})
    assert (status, body["error"]) == (401, "invalid_client")
    assert "client_secret" not in scaikey_server.token_requests[-1]["form"]
    async with http.post(scaikey_server.token_endpoint, json={"grant_type": "x"},
                         headers=basic(scaikey_server.client_id,
                                       scaikey_server.client_secret)) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "invalid_request"


async def admin_token(http: aiohttp.ClientSession, fake: FakeScaiKey,
                      scope: str = "admin:read") -> str:
    status, body = await post_token(http, fake, {"grant_type": "client_credentials",
                                                 "scope": scope})
    assert status == 200, body
    assert "refresh_token" not in body
    token: str = body["access_token"]
    return token


async def test_admin_api_paging(scaikey_server: FakeScaiKey,
                                http: aiohttp.ClientSession) -> None:
    for i in range(5):
        scaikey_server.add_user(f"usr_{i}", "tnt_acme")
    scaikey_server.add_user("usr_other", "tnt_other")
    scaikey_server.add_group("grp_a", "tnt_acme", name="Admins", members=["usr_0", "usr_3"])
    scaikey_server.add_group("grp_b", "tnt_other", members=["usr_other"])
    headers = {"Authorization": f"Bearer {await admin_token(http, scaikey_server)}"}

    url = scaikey_server.url("/api/v1/tenants/tnt_acme/applications/me/effective-users")
    async with http.get(url, params={"page": "2", "per_page": "2"}, headers=headers) as r:
        page = await r.json()
    assert [u["id"] for u in page["items"]] == ["usr_2", "usr_3"]
    assert (page["total"], page["page"], page["per_page"], page["pages"]) == (5, 2, 2, 3)
    assert set(page["items"][0]) == {"id", "tenant_id", "email", "display_name", "status"}

    async with http.get(scaikey_server.url("/api/v1/admin/groups/"),
                        params={"tenant_id": "tnt_acme"}, headers=headers) as r:
        groups = await r.json()
    assert groups["items"] == [{"id": "grp_a", "tenant_id": "tnt_acme", "name": "Admins",
                                "description": "", "member_count": 2}]
    async with http.get(scaikey_server.url("/api/v1/admin/groups/grp_a/members"),
                        headers=headers) as r:
        members = await r.json()
    assert [m["id"] for m in members["items"]] == ["usr_0", "usr_3"]

    scaikey_server.effective_users_forbidden = True
    async with http.get(url, headers=headers) as r:
        assert (r.status, await r.json()) == (403, {"detail": ADMIN_FORBIDDEN})
    async with http.get(url) as r:
        assert r.status == 401
    weak = {"Authorization": f"Bearer {await admin_token(http, scaikey_server, 'openid')}"}
    async with http.get(scaikey_server.url("/api/v1/admin/groups/"), headers=weak) as r:
        assert (r.status, await r.json()) == (403, {"detail": ADMIN_FORBIDDEN})


async def test_fail_and_stall_knobs(scaikey_server: FakeScaiKey,
                                    http: aiohttp.ClientSession) -> None:
    scaikey_server.fail("jwks", 429)
    async with http.get(scaikey_server.jwks_uri) as r:
        assert (r.status, r.headers["Retry-After"]) == (429, "1")
    async with http.get(scaikey_server.discovery_url) as r:
        assert r.status == 200
    scaikey_server.clear_faults()
    scaikey_server.stall(0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with http.get(scaikey_server.jwks_uri) as r:
        assert r.status == 200
    assert loop.time() - started >= 0.2
    await scaikey_server.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(scaikey_server.jwks_uri):
            pass
    await scaikey_server.start()  # same port again
    async with http.get(scaikey_server.jwks_uri) as r:
        assert r.status == 200


async def test_redirect_and_discovery_override_knobs(scaikey_server: FakeScaiKey,
                                                     http: aiohttp.ClientSession) -> None:
    scaikey_server.redirect("discovery", scaikey_server.url("/elsewhere"))
    async with http.get(scaikey_server.discovery_url, allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (302, scaikey_server.url("/elsewhere"))
    async with http.get(scaikey_server.platform_discovery_url) as r:
        assert r.status == 200  # only the named route redirects
    scaikey_server.clear_faults()

    scaikey_server.discovery_override = {"issuer": "x"}
    for url in (scaikey_server.discovery_url, scaikey_server.platform_discovery_url):
        async with http.get(url) as r:
            assert (r.status, await r.json()) == (200, {"issuer": "x"})
    scaikey_server.discovery_override = "not json"
    async with http.get(scaikey_server.discovery_url) as r:
        assert (r.content_type, await r.text()) == ("application/json", "not json")
    assert scaikey_server.hits["discovery"] == 3
