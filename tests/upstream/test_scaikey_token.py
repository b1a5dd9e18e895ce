"""ScaiKey's token endpoint (SPEC §18.2) through `ScaiKeyClient`, against the stand-in: form
encoding, HTTP Basic client auth (RFC 6749 §2.3.1), the typed refusal and failure errors, and
the cached discovery document."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest

from scaiflow_box.config import Settings
from scaiflow_box.upstream.client import UpstreamError, UpstreamUnreachable, create_upstream_session
from scaiflow_box.upstream.scaikey import (
    Discovery,
    ScaiKeyClient,
    ScaiKeyError,
    TokenRejected,
    TokenResponse,
    client_basic_auth,
)
from scaiflow_box.upstream.scaikey_discovery import DiscoveryCache
from tests.fakes.scaikey import FakeScaiKey

REDIRECT = "http://localhost:5173/cb"


@pytest.fixture
async def client() -> AsyncIterator[ScaiKeyClient]:
    session = create_upstream_session(Settings(upstream_timeout_seconds=2.0))
    try:
        yield ScaiKeyClient(session)
    finally:
        await session.close()


def test_basic_auth_form_encodes_both_halves() -> None:
    header = client_basic_auth("scai flow", "a:b+c/d=%é")
    scheme, _, value = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(value).decode() == "scai%20flow:a%3Ab%2Bc%2Fd%3D%25%C3%A9"
    plain = client_basic_auth("scaiflow", "scaiflow-secret")
    assert base64.b64decode(plain.split()[1]) == b"scaiflow:scaiflow-secret"


def test_a_token_response_shows_no_token() -> None:
    answer = TokenResponse(access_token="AT-SECRET", expires_in=60, refresh_token="RT-SECRET",
                           id_token="ID-SECRET", scope="openid")
    assert "SECRET" not in repr(answer) and "SECRET" not in str(answer)


async def test_exchange_and_refresh(scaikey_server: FakeScaiKey,
                                    client: ScaiKeyClient) -> None:
    discovery = await client.discover(scaikey_server.discovery_url)
    verifier, challenge = scaikey_server.pkce_pair()
    code = scaikey_server.issue_code(redirect_uri=REDIRECT, code_challenge=challenge,
                                     scope="openid scaicore:view")

    answer = await client.exchange_code(discovery, client_id="scaiflow",
                                        client_secret="scaiflow-secret", code=code,
                                        code_verifier=verifier, redirect_uri=REDIRECT)

    assert answer.expires_in == 300 and answer.scope == "openid scaicore:view"
    assert answer.access_token.count(".") == 2 and answer.id_token is not None
    assert answer.refresh_token is not None
    [request] = scaikey_server.token_requests
    assert request["basic_auth"] and "client_secret" not in request["form"]
    assert "client_id" not in request["form"]  # the client authenticates with Basic alone

    again = await client.refresh(discovery, client_id="scaiflow",
                                 client_secret="scaiflow-secret",
                                 refresh_token=answer.refresh_token)
    assert again.refresh_token not in (None, answer.refresh_token)
    with pytest.raises(TokenRejected) as refused:
        await client.refresh(discovery, client_id="scaiflow", client_secret="scaiflow-secret",
                             refresh_token=answer.refresh_token)
    assert (refused.value.error, refused.value.status) == ("invalid_grant", 400)
    assert not isinstance(refused.value, UpstreamError)  # ScaiKey worked and said no


async def test_a_wrong_secret_is_invalid_client(scaikey_server: FakeScaiKey,
                                               client: ScaiKeyClient) -> None:
    discovery = await client.discover(scaikey_server.discovery_url)
    with pytest.raises(TokenRejected) as refused:
        await client.refresh(discovery, client_id="scaiflow", client_secret="wrong",
                             refresh_token="rt_x")
    assert refused.value.error == "invalid_client" and refused.value.status == 401
    assert refused.value.description == "client authentication failed"


async def test_failures_are_upstream_errors(scaikey_server: FakeScaiKey,
                                            client: ScaiKeyClient) -> None:
    discovery = await client.discover(scaikey_server.discovery_url)
    scaikey_server.fail("token", 502)
    with pytest.raises(ScaiKeyError) as failed:
        await client.refresh(discovery, client_id="scaiflow", client_secret="s",
                             refresh_token="rt")
    assert failed.value.status == 502 and failed.value.reason == "token endpoint answered HTTP 502"

    with pytest.raises(ScaiKeyError, match="no http\\(s\\) token_endpoint"):
        await client.refresh(Discovery(issuer=None, jwks_uri=scaikey_server.jwks_uri,
                                       token_endpoint=None),
                             client_id="scaiflow", client_secret="s", refresh_token="rt")
    await scaikey_server.stop()
    with pytest.raises(UpstreamUnreachable):
        await client.refresh(discovery, client_id="scaiflow", client_secret="s",
                             refresh_token="rt")


async def test_the_discovery_cache(scaikey_server: FakeScaiKey, client: ScaiKeyClient) -> None:
    now = [0.0]
    cache = DiscoveryCache(client, scaikey_server.discovery_url, max_age=60,
                           clock=lambda: now[0])
    first, *others = await asyncio.gather(*(cache.get() for _ in range(5)))
    assert first.token_endpoint == scaikey_server.token_endpoint
    assert all(o is first for o in others)
    assert scaikey_server.hits["discovery"] == 1  # concurrent callers shared one fetch

    now[0] = 59.0
    assert await cache.get() is first and scaikey_server.hits["discovery"] == 1
    now[0] = 61.0
    await cache.get()
    assert scaikey_server.hits["discovery"] == 2  # too old: fetched again
    cache.invalidate()
    await cache.get()
    assert scaikey_server.hits["discovery"] == 3

    cache.invalidate()
    scaikey_server.fail("discovery", 500)
    for _ in range(2):  # a failure is not cached
        with pytest.raises(ScaiKeyError):
            await cache.get()
    assert scaikey_server.hits["discovery"] == 5

    with pytest.raises(ValueError, match="not configured"):
        await DiscoveryCache(client, None).get()


async def test_a_session_factory_is_accepted(scaikey_server: FakeScaiKey) -> None:
    async with aiohttp.ClientSession() as session:
        client = ScaiKeyClient(lambda: session)
        discovery = await client.discover(scaikey_server.discovery_url)
        assert discovery.token_endpoint == scaikey_server.token_endpoint
