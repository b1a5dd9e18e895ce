"""The ScaiKey HTTP contract (SPEC §18.2): what the appliance asks ScaiKey and what it accepts
as an answer.

Today: the OIDC discovery document (where it lives, and the fields the appliance relies on),
the JWKS fetch that `auth.jwks` caches, and the token endpoint (`request_token`, with the
authorization-code exchange and the refresh of the sign-in flow on top of it). The rest of
§18.2 (the client-credentials token and the admin API for directory sync) belongs here too, as
more methods of `ScaiKeyClient`, so that every ScaiKey URL, status rule and size cap is in one
module.

Every call goes through `upstream.client` (the shared session, no redirects, capped answers).
Failures raise `UpstreamError` (connection, timeout, oversized or non-JSON answer) or its
subclass `ScaiKeyError` (ScaiKey answered, but not as the contract says: a bad status or a
malformed document). Both carry a short `reason` that names neither a URL nor a secret.
A token request ScaiKey refuses with an OAuth error (RFC 6749 §5.2: invalid_grant,
invalid_client, ...) raises `TokenRejected` instead, which is *not* an `UpstreamError`:
ScaiKey worked and said no.

What to make of a document (caching, key vetting, which issuer tokens must carry) is the
caller's business: `auth.jwks` decides max-age from the Cache-Control header returned here
and vets keys with `auth.jwk_set`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from scaiflow_box.upstream.client import (
    ALLOWED_SCHEMES,
    UpstreamError,
    get_json,
    request_json,
    session_factory,
)

__all__ = [
    "DISCOVERY_SUFFIX",
    "MAX_DISCOVERY_BYTES",
    "MAX_JWKS_BYTES",
    "MAX_TOKEN_RESPONSE_BYTES",
    "PLATFORM_ISSUER_PATH",
    "Discovery",
    "FetchedJwks",
    "ScaiKeyClient",
    "ScaiKeyError",
    "TokenRejected",
    "TokenResponse",
    "client_basic_auth",
    "discovery_url",
    "platform_issuer",
]

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
PLATFORM_ISSUER_PATH = "/api/v1/platform/oauth"
MAX_DISCOVERY_BYTES = 256 * 1024
MAX_JWKS_BYTES = 512 * 1024
MAX_TOKEN_RESPONSE_BYTES = 256 * 1024
MAX_ISSUER_LENGTH = 1024
# RFC 6749 §5.2: `error` is 1*NQSCHAR (printable ASCII but `"` and `\`); we also want no space,
# since it becomes a code callers branch on. `error_description` is shown to people: control
# characters are dropped and it is cut to a sane length.
_OAUTH_ERROR_CODE = re.compile(r"[!#-\[\]-~]{1,100}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_ERROR_DESCRIPTION = 500


class ScaiKeyError(UpstreamError):
    """ScaiKey answered, but not as SPEC §18.2 says it does. `status` is the HTTP status of
    the answer; `reason` is short and safe to log or show."""

    def __init__(self, reason: str, *, status: int) -> None:
        super().__init__(reason)
        self.status = status


class TokenRejected(Exception):
    """ScaiKey's token endpoint refused the request with an OAuth error (RFC 6749 §5.2).

    `error` is ScaiKey's code (`invalid_grant`, `invalid_client`, ...), checked to be a plain
    code; `description` its `error_description` (control characters dropped, at most 500
    characters) or None; `status` the HTTP status (400, or 401 for `invalid_client`). Neither
    text is ours to trust, but both are ScaiKey's answer to the caller's own request.
    """

    def __init__(self, error: str, description: str | None, *, status: int) -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class TokenResponse:
    """A successful token endpoint answer (RFC 6749 §5.1), Bearer tokens only.

    `expires_in` is None when ScaiKey did not say; `refresh_token`, `id_token` and `scope` are
    None when absent (or empty). `repr` shows no token.
    """

    access_token: str
    expires_in: int | None
    refresh_token: str | None
    id_token: str | None
    scope: str | None

    def __repr__(self) -> str:
        return (f"TokenResponse(expires_in={self.expires_in!r}, "
                f"refresh_token={'…' if self.refresh_token else None}, "
                f"id_token={'…' if self.id_token else None}, scope={self.scope!r})")


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
        parsed = URL(value)
    except (TypeError, ValueError):
        return False
    return parsed.scheme in ALLOWED_SCHEMES and bool((parsed.host or "").rstrip("."))


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


def client_basic_auth(client_id: str, client_secret: str) -> str:
    """The `Authorization` header of HTTP Basic client authentication (RFC 6749 §2.3.1): id and
    secret are form-urlencoded before they are joined and base64-encoded, so a secret holding
    `:`, `+`, `%` or non-ASCII characters reaches the provider as it is."""
    raw = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(raw.encode("ascii")).decode("ascii")


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"token response field {name} is not a string")
    return value


def _expires_in(value: Any) -> int | None:
    """Seconds as a JSON number (an integral float too) or a string of digits, which some
    providers send; None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("token response field expires_in is not a number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= 10 * 365 * 86_400:
        raise ValueError("token response field expires_in is not a number of seconds")
    return value


def _parse_token_response(body: Any) -> TokenResponse:
    """Validate a 200 answer of the token endpoint; raises ValueError with a safe reason (never
    a token)."""
    if not isinstance(body, dict):
        raise ValueError("token response is not a JSON object")
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ValueError("token response has no access_token")
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ValueError("token response is not a Bearer token")
    return TokenResponse(access_token=access_token,
                         expires_in=_expires_in(body.get("expires_in")),
                         refresh_token=_optional_text(body, "refresh_token"),
                         id_token=_optional_text(body, "id_token"),
                         scope=_optional_text(body, "scope"))


def _oauth_rejection(body: Any, status: int) -> TokenRejected | None:
    """The OAuth error of a 4xx answer, None when the body is not one."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if not isinstance(error, str) or not _OAUTH_ERROR_CODE.fullmatch(error):
        return None
    description = body.get("error_description")
    text: str | None = None
    if isinstance(description, str):
        text = _CONTROL.sub("", description).strip()[:MAX_ERROR_DESCRIPTION] or None
    return TokenRejected(error, text, status=status)


class ScaiKeyClient:
    """Calls ScaiKey over the shared upstream session.

    `session` is that session, or a callable returning it (for owners built before the
    session exists); it is looked up on every call and never closed here.
    """

    def __init__(
        self, session: aiohttp.ClientSession | Callable[[], aiohttp.ClientSession]
    ) -> None:
        self._session = session_factory(session)

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

    # -- the token endpoint ------------------------------------------------------------
    async def request_token(
        self, discovery: Discovery, *, client_id: str, client_secret: str,
        form: Mapping[str, str],
    ) -> TokenResponse:
        """POST `form` (with its `grant_type`) to the discovered `token_endpoint`:
        `application/x-www-form-urlencoded`, the client authenticated with HTTP Basic (the
        secret is in no form field), redirects not followed, the answer read at most 256 KiB.

        Raises TokenRejected when ScaiKey answers a 4xx with an OAuth error body; ScaiKeyError
        when the discovery document has no token endpoint, for any other status (5xx, a 4xx
        without an OAuth error, 3xx) and for a 200 that is not a Bearer token response; and
        UpstreamError when the call fails or the answer is oversized or not JSON.
        """
        endpoint = discovery.token_endpoint
        if endpoint is None:
            raise ScaiKeyError("discovery document has no http(s) token_endpoint", status=200)
        response = await request_json(
            self._session(), "POST", endpoint, form=dict(form),
            headers={"Authorization": client_basic_auth(client_id, client_secret)},
            max_bytes=MAX_TOKEN_RESPONSE_BYTES)
        if response.status == 200:
            try:
                return _parse_token_response(response.body)
            except ValueError as exc:
                raise ScaiKeyError(str(exc), status=200) from exc
        if 400 <= response.status < 500:
            rejected = _oauth_rejection(response.body, response.status)
            if rejected is not None:
                raise rejected
        raise ScaiKeyError(f"token endpoint answered HTTP {response.status}",
                           status=response.status)

    async def exchange_code(
        self, discovery: Discovery, *, client_id: str, client_secret: str, code: str,
        code_verifier: str, redirect_uri: str,
    ) -> TokenResponse:
        """The authorization-code grant with PKCE (RFC 6749 §4.1.3, RFC 7636 §4.5). Raises as
        `request_token`."""
        return await self.request_token(
            discovery, client_id=client_id, client_secret=client_secret,
            form={"grant_type": "authorization_code", "code": code,
                  "code_verifier": code_verifier, "redirect_uri": redirect_uri})

    async def refresh(
        self, discovery: Discovery, *, client_id: str, client_secret: str, refresh_token: str,
    ) -> TokenResponse:
        """The refresh-token grant (RFC 6749 §6). ScaiKey rotates refresh tokens: the answer's
        `refresh_token` replaces the one sent. Raises as `request_token`."""
        return await self.request_token(
            discovery, client_id=client_id, client_secret=client_secret,
            form={"grant_type": "refresh_token", "refresh_token": refresh_token})
