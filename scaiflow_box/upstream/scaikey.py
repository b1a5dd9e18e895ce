"""The ScaiKey HTTP contract (SPEC §18.2): what the appliance asks ScaiKey and what it accepts
as an answer.

Today: the OIDC discovery document (where it lives, and the fields the appliance relies on)
and the JWKS fetch that `auth.jwks` caches. The rest of §18.2 (the token endpoint with HTTP
Basic client auth, the client-credentials token and the admin API for directory sync) belongs
here too, as more methods of `ScaiKeyClient`, so that every ScaiKey URL, status rule and
size cap is in one module.

Every call goes through `upstream.client` (the shared session, no redirects, capped answers).
Failures raise `UpstreamError` (connection, timeout, oversized or non-JSON answer) or its
subclass `ScaiKeyError` (ScaiKey answered, but not as the contract says: a bad status or a
malformed document). Both carry a short `reason` that names neither a URL nor a secret.

What to make of a document (caching, key vetting, which issuer tokens must carry) is the
caller's business: `auth.jwks` decides max-age from the Cache-Control header returned here
and vets keys with `auth.jwk_set`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from scaiflow_box.upstream.client import UpstreamError, check_destination, get_json

__all__ = [
    "DISCOVERY_SUFFIX",
    "MAX_DISCOVERY_BYTES",
    "MAX_JWKS_BYTES",
    "PLATFORM_ISSUER_PATH",
    "Discovery",
    "FetchedJwks",
    "ScaiKeyClient",
    "ScaiKeyError",
    "discovery_url",
    "platform_issuer",
]

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
PLATFORM_ISSUER_PATH = "/api/v1/platform/oauth"
MAX_DISCOVERY_BYTES = 256 * 1024
MAX_JWKS_BYTES = 512 * 1024
MAX_ISSUER_LENGTH = 1024


class ScaiKeyError(UpstreamError):
    """ScaiKey answered, but not as SPEC §18.2 says it does. `status` is the HTTP status of
    the answer; `reason` is short and safe to log or show."""

    def __init__(self, reason: str, *, status: int) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Discovery:
    """The parts of an OIDC discovery document the appliance uses.

    `jwks_uri` is required and an http(s) URL. `token_endpoint` is None when absent or not an
    http(s) URL (it is not needed to verify tokens, so a bad one does not fail discovery; a
    caller that needs it refuses None). `issuer` is the document's issuer as given (an
    identifier compared by equality, not a URL to call), None when absent, empty or longer
    than 1024 characters.
    """

    issuer: str | None
    jwks_uri: str
    token_endpoint: str | None


@dataclass(frozen=True)
class FetchedJwks:
    """A JWKS answer: the parsed JSON `document` (not yet vetted: see `auth.jwk_set`) and the
    answer's `Cache-Control` header, None when absent."""

    document: Any
    cache_control: str | None


def _is_http_url(value: str) -> bool:
    """True for an http(s) URL with a host (the destination policy is applied at request
    time by the shared session, not here)."""
    try:
        check_destination(value, allow_private=True)
    except UpstreamError:
        return False
    return True


def platform_issuer(base_url: str) -> str:
    """The ScaiKey platform issuer under `SCAIKEY_BASE_URL`."""
    return base_url.rstrip("/") + PLATFORM_ISSUER_PATH


def discovery_url(*, issuer: str | None, base_url: str | None) -> str | None:
    """Where the discovery document lives: under `SCAIKEY_ISSUER` when it is an http(s) URL,
    else under the platform issuer of `SCAIKEY_BASE_URL`; None when neither gives one."""
    if issuer and _is_http_url(issuer):
        return issuer.rstrip("/") + DISCOVERY_SUFFIX
    if base_url:
        return platform_issuer(base_url) + DISCOVERY_SUFFIX
    return None


def _parse_discovery(document: Any) -> Discovery:
    """Validate a discovery document (see `Discovery`); raises ValueError with a safe reason."""
    if not isinstance(document, dict):
        raise ValueError("discovery document is not a JSON object")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not _is_http_url(jwks_uri):
        raise ValueError("discovery document has no http(s) jwks_uri")
    token_endpoint = document.get("token_endpoint")
    if not isinstance(token_endpoint, str) or not _is_http_url(token_endpoint):
        token_endpoint = None
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or not issuer or len(issuer) > MAX_ISSUER_LENGTH:
        issuer = None
    return Discovery(issuer=issuer, jwks_uri=jwks_uri, token_endpoint=token_endpoint)


class ScaiKeyClient:
    """Calls ScaiKey over the shared upstream session.

    `session` is that session, or a callable returning it (for owners built before the
    session exists); it is looked up on every call and never closed here.
    """

    def __init__(
        self, session: aiohttp.ClientSession | Callable[[], aiohttp.ClientSession]
    ) -> None:
        if isinstance(session, aiohttp.ClientSession):
            shared = session
            self._session: Callable[[], aiohttp.ClientSession] = lambda: shared
        else:
            self._session = session

    async def discover(self, url: str) -> Discovery:
        """Fetch and validate the discovery document at `url` (see `discovery_url`).

        Raises ScaiKeyError for a status other than 200 or a malformed document, and
        UpstreamError for a failed call or an answer over 256 KiB or not JSON.
        """
        response = await get_json(self._session(), url, max_bytes=MAX_DISCOVERY_BYTES)
        if response.status != 200:
            raise ScaiKeyError(f"discovery answered HTTP {response.status}",
                               status=response.status)
        try:
            return _parse_discovery(response.body)
        except ValueError as exc:
            raise ScaiKeyError(str(exc), status=response.status) from exc

    async def fetch_jwks(self, url: str) -> FetchedJwks:
        """Fetch the JWKS at `url` (a `jwks_uri` or `SCAIKEY_JWKS_URL`).

        Raises ScaiKeyError for a status other than 200, and UpstreamError for a failed call
        or an answer over 512 KiB or not JSON. The document itself is not checked here.
        """
        response = await get_json(self._session(), url, max_bytes=MAX_JWKS_BYTES)
        if response.status != 200:
            raise ScaiKeyError(f"JWKS answered HTTP {response.status}", status=response.status)
        return FetchedJwks(document=response.body,
                           cache_control=response.headers.get("Cache-Control"))
