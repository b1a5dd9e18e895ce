"""Sign-in through the appliance against a real, maintained OpenID Connect provider: panva's
node-oidc-provider (npm `oidc-provider`, pinned by tests/interop/oidc/package-lock.json and
installed by `make interop-deps`, which `make test` runs).

The test plays the canvas: it reads the provider's discovery document, sends a browser (an
HTTP client with a cookie jar) through the provider's own authorization endpoint with PKCE,
takes the code from the redirect, and hands it to the appliance's `/auth/exchange`; then
`/auth/refresh`, twice with the same refresh token. The appliance is pointed at the provider
the way an operator points it at ScaiKey: `SCAIKEY_BASE_URL` (the provider's host, with no
platform discovery there), `SCAIKEY_ISSUER` (an http(s) URL with a path: discovery under it),
the client id, its secret (one with characters RFC 6749 §2.3.1 makes us form-encode in the
Basic header) and the redirect URI.

Skipped, saying why, when node (≥ 20) or the installed package is missing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from tests.conftest import AppFactory, Appliance

HERE = Path(__file__).resolve().parent / "oidc"
PROVIDER_SCRIPT = HERE / "provider.mjs"
CLIENT_ID = "scaiflow-interop"
CLIENT_SECRET = "s3cr:t+/=% ok&"  # reserved characters: the Basic header must form-encode
REDIRECT = "http://localhost:5173/auth/callback"
USER = {"sub": "usr_interop", "tenant_id": "tnt_interop", "email": "ada@interop.test",
        "name": "Ada"}
START_TIMEOUT_S = 20.0


def _node_problem() -> str | None:
    node = shutil.which("node")
    if node is None:
        return ("node is not installed (apt-get install nodejs npm, then make interop-deps); "
                "the OpenID Connect interop tests need it")
    version = subprocess.run([node, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        return f"cannot read the node version ({version!r})"
    if major < 20:
        return f"node {version} is too old for oidc-provider 9 (needs 20 or later)"
    if not (HERE / "node_modules" / "oidc-provider" / "package.json").is_file():
        return ("oidc-provider is not installed: run `make interop-deps` "
                "(npm ci in tests/interop/oidc)")
    return None


pytestmark = pytest.mark.skipif(_node_problem() is not None, reason=_node_problem() or "")


@dataclass
class Provider:
    issuer: str
    proc: subprocess.Popen[str]

    @property
    def base_url(self) -> str:
        return str(URL(self.issuer).origin())

    def env(self, **extra: str) -> dict[str, str]:
        return {"SCAIKEY_BASE_URL": self.base_url, "SCAIKEY_ISSUER": self.issuer,
                "SCAIFLOW_SCAIKEY_CLIENT_ID": CLIENT_ID,
                "SCAIFLOW_SCAIKEY_CLIENT_SECRET": CLIENT_SECRET,
                "SCAIFLOW_SCAIKEY_REDIRECT_URI": REDIRECT, **extra}


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    config = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": REDIRECT,
              **USER}
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["node", str(PROVIDER_SCRIPT), json.dumps(config)], cwd=HERE,
                                stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        started = time.monotonic()
        line = proc.stdout.readline()  # the script prints its issuer once it listens
        if not line:
            proc.wait(timeout=5)
            raise RuntimeError(f"the provider did not start (exit {proc.returncode}):\n"
                               f"{log_path.read_text()}")
        assert time.monotonic() - started < START_TIMEOUT_S
        yield Provider(issuer=json.loads(line)["issuer"], proc=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def sign_in_at_provider(provider: Provider, challenge: str) -> str:
    """What the canvas and the user's browser do: discovery, the authorization request with
    PKCE (S256), the provider's redirects (login, consent, back to the authorization
    endpoint), and the code from the redirect to the canvas."""
    state = secrets.token_urlsafe(16)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(provider.issuer + "/.well-known/openid-configuration") as resp:
            assert resp.status == 200
            discovery = await resp.json()
        url = URL(discovery["authorization_endpoint"]).with_query({
            "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": REDIRECT,
            "scope": "openid email profile scaicore:view scaicore:manage", "state": state,
            "code_challenge": challenge, "code_challenge_method": "S256"})
        for _ in range(10):
            async with browser.get(url, allow_redirects=False) as resp:
                assert resp.status in (302, 303), (resp.status, await resp.text())
                location = url.join(URL(resp.headers["Location"]))
            if str(location).startswith(REDIRECT):
                query = location.query
                assert query.get("state") == state and query.get("iss") == provider.issuer
                assert "error" not in query, dict(query)
                return query["code"]
            url = location
    raise AssertionError("the provider never redirected back to the canvas")


async def post(box: Appliance, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    resp = await box.client.post(path, json=body)
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.status, await resp.json()


async def me(box: Appliance, access_token: str) -> tuple[int, Any]:
    resp = await box.client.get("/api/v1/me",
                                headers={"Authorization": f"Bearer {access_token}"})
    return resp.status, await resp.json()


async def test_exchange_and_refresh_against_node_oidc_provider(
        provider: Provider, make_appliance: AppFactory) -> None:
    box = await make_appliance(**provider.env())
    config = await (await box.client.get("/api/v1/auth/config")).json()
    assert config["auth_mode"] == "scaikey" and config["redirect_uri"] == REDIRECT
    verifier, challenge = pkce_pair()
    code = await sign_in_at_provider(provider, challenge)

    status, tokens = await post(box, "/api/v1/auth/exchange", {
        "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT})

    assert status == 200, tokens
    assert set(tokens) == {"access_token", "refresh_token", "id_token", "token_type",
                           "expires_in"}
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 300
    assert tokens["refresh_token"] and tokens["id_token"].count(".") == 2
    # The provider's JWT access token is accepted by the appliance, validated offline
    # against the provider's JWKS (found through discovery under the issuer).
    status, caller = await me(box, tokens["access_token"])
    assert status == 200, caller
    assert (caller["sub"], caller["tenant_id"], caller["email"], caller["token_source"]) == (
        USER["sub"], USER["tenant_id"], USER["email"], "scaikey")
    assert set(caller["permissions"]) == {"scaicore:view", "scaicore:manage"}

    # Refresh: the provider rotates; the appliance passes the new refresh token through.
    status, fresh = await post(box, "/api/v1/auth/refresh",
                               {"refresh_token": tokens["refresh_token"]})
    assert status == 200, fresh
    assert fresh["token_type"] == "Bearer"
    assert fresh["refresh_token"] and fresh["refresh_token"] != tokens["refresh_token"]
    assert fresh["access_token"] != tokens["access_token"]
    status, caller = await me(box, fresh["access_token"])
    assert status == 200 and caller["sub"] == USER["sub"]

    # The used refresh token is refused by the provider: 400 with its OAuth error.
    status, refused = await post(box, "/api/v1/auth/refresh",
                                 {"refresh_token": tokens["refresh_token"]})
    assert status == 400
    assert refused["detail"]["error"] == "invalid_grant"
    assert refused["detail"]["error_description"]

    # And the code cannot be redeemed twice.
    status, again = await post(box, "/api/v1/auth/exchange", {
        "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT})
    assert status == 400 and again["detail"]["error"] == "invalid_grant"


async def test_the_provider_enforces_pkce_through_the_appliance(
        provider: Provider, make_appliance: AppFactory) -> None:
    box = await make_appliance(**provider.env())
    verifier, challenge = pkce_pair()
    code = await sign_in_at_provider(provider, challenge)
    wrong_verifier, _ = pkce_pair()

    status, body = await post(box, "/api/v1/auth/exchange", {
        "code": code, "code_verifier": wrong_verifier, "redirect_uri": REDIRECT})

    assert status == 400, body
    assert body["detail"]["error"] == "invalid_grant"
    assert body["detail"]["error_description"] == "grant request is invalid"
    # It was the verifier: the provider still redeems the code with the right one.
    status, body = await post(box, "/api/v1/auth/exchange", {
        "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT})
    assert status == 200, body


async def test_a_wrong_client_secret_is_the_providers_invalid_client(
        provider: Provider, make_appliance: AppFactory) -> None:
    box = await make_appliance(**provider.env(SCAIFLOW_SCAIKEY_CLIENT_SECRET="wrong-secret"))
    verifier, challenge = pkce_pair()
    code = await sign_in_at_provider(provider, challenge)

    status, body = await post(box, "/api/v1/auth/exchange", {
        "code": code, "code_verifier": verifier, "redirect_uri": REDIRECT})

    assert status == 400, body
    assert body["detail"]["error"] == "invalid_client"
    assert "wrong-secret" not in json.dumps(body)
