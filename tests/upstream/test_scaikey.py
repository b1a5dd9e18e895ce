"""The ScaiKey HTTP contract (SPEC §18.2) against the fake ScaiKey on loopback: discovery and
the JWKS fetch, their status rules, document checks, size caps and the no-redirect rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from scaiflow_box.config import Settings
from scaiflow_box.upstream.client import UpstreamError, create_upstream_session
from scaiflow_box.upstream.scaikey import (
    MAX_DISCOVERY_BYTES,
    MAX_JWKS_BYTES,
    Discovery,
    FetchedJwks,
    ScaiKeyClient,
    ScaiKeyError,
    discovery_url,
    platform_issuer,
)
from tests.fakes.scaikey import FakeScaiKey


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    s = create_upstream_session(Settings(upstream_timeout_seconds=2.0))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def client(session: aiohttp.ClientSession) -> ScaiKeyClient:
    return ScaiKeyClient(session)


def assert_safe(reason: str, fake: FakeScaiKey) -> None:
    """A reason is shown in /readyz and logs: it names no host, path or secret."""
    assert "127.0.0.1" not in reason
    assert fake.issuer_path not in reason
    assert fake.client_secret not in reason


# -- where the discovery document lives ---------------------------------------------------
@pytest.mark.parametrize(
    ("issuer", "base_url", "expected"),
    [
        ("https://idp.example/oauth", "https://base.example",
         "https://idp.example/oauth/.well-known/openid-configuration"),
        ("https://idp.example/oauth/", None,
         "https://idp.example/oauth/.well-known/openid-configuration"),
        ("scaikey-prod", "https://base.example/",
         "https://base.example/api/v1/platform/oauth/.well-known/openid-configuration"),
        ("ftp://idp.example/oauth", "https://base.example",
         "https://base.example/api/v1/platform/oauth/.well-known/openid-configuration"),
        (None, "http://10.0.0.5:8080",
         "http://10.0.0.5:8080/api/v1/platform/oauth/.well-known/openid-configuration"),
        ("scaikey-prod", None, None),
        ("", "", None),
        (None, None, None),
    ],
)
def test_discovery_url_rules(issuer: str | None, base_url: str | None,
                             expected: str | None) -> None:
    assert discovery_url(issuer=issuer, base_url=base_url) == expected


def test_platform_issuer() -> None:
    assert platform_issuer("https://base.example/") == "https://base.example/api/v1/platform/oauth"


# -- discovery ------------------------------------------------------------------------------
async def test_discovery_happy_path(scaikey_server: FakeScaiKey, client: ScaiKeyClient) -> None:
    found = await client.discover(scaikey_server.discovery_url)

    assert found == Discovery(issuer=scaikey_server.issuer, jwks_uri=scaikey_server.jwks_uri,
                              token_endpoint=scaikey_server.token_endpoint)
    assert scaikey_server.hits["discovery"] == 1
    assert scaikey_server.jwks_fetches == 0  # discovery does not fetch the keys
    with pytest.raises(AttributeError):
        found.jwks_uri = "https://elsewhere.example/jwks"  # type: ignore[misc]


async def test_discovery_at_the_platform_url_from_the_base_url(
    scaikey_server: FakeScaiKey, session: aiohttp.ClientSession
) -> None:
    url = discovery_url(issuer=None, base_url=scaikey_server.base_url)
    assert url == scaikey_server.platform_discovery_url
    # A session factory works as well as the session itself.
    found = await ScaiKeyClient(lambda: session).discover(url)

    assert found.jwks_uri == scaikey_server.jwks_uri
    assert scaikey_server.hits["platform_discovery"] == 1
    assert scaikey_server.hits["discovery"] == 0


@pytest.mark.parametrize("status", [500, 503, 404, 401])
async def test_discovery_with_a_bad_status(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient, status: int
) -> None:
    scaikey_server.fail("discovery", status)

    with pytest.raises(ScaiKeyError) as caught:
        await client.discover(scaikey_server.discovery_url)

    assert caught.value.reason == f"discovery answered HTTP {status}"
    assert caught.value.status == status
    assert str(caught.value) == caught.value.reason
    assert_safe(caught.value.reason, scaikey_server)
    assert scaikey_server.hits["discovery"] == 1  # not retried here


async def test_discovery_that_is_not_json(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient
) -> None:
    scaikey_server.discovery_override = "<html>maintenance</html>"

    with pytest.raises(UpstreamError) as caught:
        await client.discover(scaikey_server.discovery_url)

    # Raised by the shared client for any 2xx answer that is not JSON (same reason as for
    # every upstream), so it is the base type, not ScaiKeyError.
    assert not isinstance(caught.value, ScaiKeyError)
    assert caught.value.reason == "response is not JSON"


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ([1, 2, 3], "discovery document is not a JSON object"),
        ("null", "discovery document is not a JSON object"),
        ({"issuer": "https://idp.example"}, "discovery document has no http(s) jwks_uri"),
        ({"jwks_uri": None}, "discovery document has no http(s) jwks_uri"),
        ({"jwks_uri": 42}, "discovery document has no http(s) jwks_uri"),
        ({"jwks_uri": ""}, "discovery document has no http(s) jwks_uri"),
        ({"jwks_uri": "file:///etc/passwd"}, "discovery document has no http(s) jwks_uri"),
        ({"jwks_uri": "ftp://idp.example/jwks"}, "discovery document has no http(s) jwks_uri"),
        ({"jwks_uri": "/oauth/jwks"}, "discovery document has no http(s) jwks_uri"),
        ({"jwks_uri": "https:///jwks"}, "discovery document has no http(s) jwks_uri"),
    ],
)
async def test_malformed_discovery_document(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient, document: Any, reason: str
) -> None:
    scaikey_server.discovery_override = document

    with pytest.raises(ScaiKeyError) as caught:
        await client.discover(scaikey_server.discovery_url)

    assert caught.value.reason == reason
    assert caught.value.status == 200
    assert_safe(caught.value.reason, scaikey_server)
    assert scaikey_server.jwks_fetches == 0


@pytest.mark.parametrize(
    ("extra", "issuer", "token_endpoint"),
    [
        ({}, None, None),
        ({"issuer": "", "token_endpoint": ""}, None, None),
        ({"issuer": "i" * 1025, "token_endpoint": "javascript:alert(1)"}, None, None),
        ({"issuer": ["https://idp.example"], "token_endpoint": 7}, None, None),
        ({"issuer": "i" * 1024, "token_endpoint": "http://idp.example/token"},
         "i" * 1024, "http://idp.example/token"),
        # The issuer is an identifier compared by equality, not a URL the appliance calls.
        ({"issuer": "urn:scaikey:prod", "token_endpoint": "https://idp.example/token"},
         "urn:scaikey:prod", "https://idp.example/token"),
    ],
)
async def test_optional_discovery_fields(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient, extra: dict[str, Any],
    issuer: str | None, token_endpoint: str | None,
) -> None:
    scaikey_server.discovery_override = {"jwks_uri": "https://idp.example/jwks", **extra}

    found = await client.discover(scaikey_server.discovery_url)

    assert found == Discovery(issuer=issuer, jwks_uri="https://idp.example/jwks",
                              token_endpoint=token_endpoint)


async def test_oversized_discovery_document(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient
) -> None:
    scaikey_server.discovery_override = {"jwks_uri": scaikey_server.jwks_uri,
                                         "padding": "x" * MAX_DISCOVERY_BYTES}

    with pytest.raises(UpstreamError) as caught:
        await client.discover(scaikey_server.discovery_url)

    assert caught.value.reason == "response too large"
    # Just under the cap is still read.
    scaikey_server.discovery_override = {"jwks_uri": scaikey_server.jwks_uri,
                                         "padding": "x" * (MAX_DISCOVERY_BYTES - 100)}
    assert (await client.discover(scaikey_server.discovery_url)).jwks_uri \
        == scaikey_server.jwks_uri


async def test_discovery_redirect_is_not_followed(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient
) -> None:
    scaikey_server.redirect("discovery", scaikey_server.platform_discovery_url)

    with pytest.raises(ScaiKeyError) as caught:
        await client.discover(scaikey_server.discovery_url)

    assert (caught.value.reason, caught.value.status) == ("discovery answered HTTP 302", 302)
    assert scaikey_server.hits["discovery"] == 1
    assert scaikey_server.hits["platform_discovery"] == 0  # the Location was never fetched


async def test_discovery_when_scaikey_is_down(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient
) -> None:
    url = scaikey_server.discovery_url
    await scaikey_server.stop()

    with pytest.raises(UpstreamError) as caught:
        await client.discover(url)

    assert not isinstance(caught.value, ScaiKeyError)
    assert caught.value.reason == "connection failed"


# -- JWKS -----------------------------------------------------------------------------------
async def test_jwks_fetch_happy_path(scaikey_server: FakeScaiKey, client: ScaiKeyClient) -> None:
    scaikey_server.max_age = 300

    fetched = await client.fetch_jwks(scaikey_server.jwks_uri)

    assert fetched == FetchedJwks(document=scaikey_server.jwks(),
                                  cache_control="public, max-age=300")
    assert [k["kid"] for k in fetched.document["keys"]] == ["key-1"]
    assert scaikey_server.jwks_fetches == 1


async def test_jwks_fetch_without_cache_control(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient
) -> None:
    scaikey_server.max_age = None

    fetched = await client.fetch_jwks(scaikey_server.jwks_uri)

    assert fetched.cache_control is None
    assert fetched.document == scaikey_server.jwks()


async def test_jwks_document_is_returned_unvetted(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient
) -> None:
    # Vetting keys is auth.jwk_set's job; the contract layer hands back what ScaiKey sent.
    scaikey_server.jwks_override = {"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}

    fetched = await client.fetch_jwks(scaikey_server.jwks_uri)

    assert fetched.document == {"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}


async def test_jwks_fetch_404(scaikey_server: FakeScaiKey, client: ScaiKeyClient) -> None:
    # A jwks_uri that moved: the fake answers its plain-text 404 page.
    with pytest.raises(ScaiKeyError) as caught:
        await client.fetch_jwks(scaikey_server.issuer + "/moved-jwks")

    assert (caught.value.reason, caught.value.status) == ("JWKS answered HTTP 404", 404)
    assert_safe(caught.value.reason, scaikey_server)
    assert scaikey_server.jwks_fetches == 0


async def test_jwks_fetch_with_an_injected_error(
    scaikey_server: FakeScaiKey, client: ScaiKeyClient
) -> None:
    scaikey_server.fail("jwks", 503)

    with pytest.raises(ScaiKeyError) as caught:
        await client.fetch_jwks(scaikey_server.jwks_uri)

    assert (caught.value.reason, caught.value.status) == ("JWKS answered HTTP 503", 503)
    assert scaikey_server.jwks_fetches == 1


async def test_jwks_fetch_limits(scaikey_server: FakeScaiKey, client: ScaiKeyClient) -> None:
    scaikey_server.jwks_override = {"keys": [], "padding": "x" * MAX_JWKS_BYTES}
    with pytest.raises(UpstreamError) as caught:
        await client.fetch_jwks(scaikey_server.jwks_uri)
    assert caught.value.reason == "response too large"

    scaikey_server.jwks_override = "<html>oops</html>"
    with pytest.raises(UpstreamError) as caught:
        await client.fetch_jwks(scaikey_server.jwks_uri)
    assert caught.value.reason == "response is not JSON"

    scaikey_server.jwks_override = None
    scaikey_server.redirect("jwks", scaikey_server.url("/attacker/jwks.json"))
    with pytest.raises(ScaiKeyError) as caught:
        await client.fetch_jwks(scaikey_server.jwks_uri)
    assert (caught.value.reason, caught.value.status) == ("JWKS answered HTTP 302", 302)
    assert scaikey_server.hits["attacker_jwks"] == 0
