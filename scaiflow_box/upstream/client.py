"""The one HTTP client the appliance uses to call ScaiKey and ScaiGrid (SPEC §18).

Every upstream call goes through a single shared `aiohttp.ClientSession` made by
`create_upstream_session`: one total timeout (`SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS`), http and
https only, and a destination guard. The helpers here add the rest of the contract: no
redirects (a 3xx is returned to the caller, never followed), a cap on the response size, and
one exception type, `UpstreamError`, whose `reason` is short and safe to show (no URL, no
credentials).

Destination guard (`SCAIFLOW_UPSTREAM_ALLOW_PRIVATE=false`): a session middleware refuses a
request whose host is `localhost` (or `*.localhost`) or a literal IP address that is not
globally routable (private, loopback, link-local, shared, reserved, multicast, unspecified,
and their IPv4-mapped IPv6 forms), and the connector's resolver drops non-global addresses
from DNS answers (a name that resolves only to such addresses fails). The connection is made
to the addresses the resolver returned, so a name cannot be re-resolved to a private address
between check and connect. Limitations, documented on purpose: connections made through an
HTTP proxy are checked on the URL only (the proxy resolves the name), and the guard is about
where the appliance connects, not an allow-list of trusted hosts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from multidict import CIMultiDictProxy
from yarl import URL

from scaiflow_box.config import Settings

DEFAULT_MAX_BYTES = 1_048_576
ALLOWED_SCHEMES = frozenset({"http", "https"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Parsing a large JSON body takes milliseconds: do it off the event loop.
_PARSE_INLINE_LIMIT = 256 * 1024
_READ_CHUNK = 64 * 1024
USER_AGENT = "scaiflow-box"


class UpstreamError(Exception):
    """An upstream call failed. `reason` is short and safe to log or show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DestinationNotAllowed(UpstreamError):
    """The URL's scheme or host is refused by the destination guard."""


@dataclass(frozen=True)
class UpstreamResponse:
    """A completed upstream call. `body` is the parsed JSON, or None when the body was empty
    (or, for a non-2xx status, not JSON: an HTML error page from a proxy says nothing more
    than its status)."""

    status: int
    headers: Mapping[str, str]
    body: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# -- destination guard ------------------------------------------------------------------
def is_public_address(address: str) -> bool:
    """True for a globally routable unicast IP address; False for anything else (including
    text that is not an IP address)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _is_literal_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_destination(url: str | URL, *, allow_private: bool) -> None:
    """Raise DestinationNotAllowed unless `url` is http(s) with a host the policy permits.

    Only the URL is looked at: names are checked by the session's resolver at connect time.
    """
    try:
        parsed = URL(url) if isinstance(url, str) else url
    except (TypeError, ValueError) as exc:
        raise DestinationNotAllowed("invalid URL") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise DestinationNotAllowed("only http and https URLs are allowed")
    host = (parsed.host or "").rstrip(".").lower()
    if not host:
        raise DestinationNotAllowed("URL has no host")
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise DestinationNotAllowed("private or loopback destinations are not allowed")
    if _is_literal_ip(host) and not is_public_address(host):
        raise DestinationNotAllowed("private or loopback destinations are not allowed")


class _BlockedResolution(OSError):
    """Raised by the guarded resolver; aiohttp wraps it in a ClientConnectorError."""


class PublicOnlyResolver(AbstractResolver):
    """Wraps a resolver and drops every address that is not globally routable."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        public = [r for r in results if is_public_address(r["host"].split("%", 1)[0])]
        if not public:
            raise _BlockedResolution("host resolves only to private or loopback addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


def _destination_middleware(allow_private: bool) -> aiohttp.ClientMiddlewareType:
    async def guard(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        # Runs for every hop, so even a caller that forgot allow_redirects=False cannot be
        # redirected to a refused destination.
        check_destination(request.url, allow_private=allow_private)
        return await handler(request)

    return guard


def create_upstream_session(settings: Settings) -> aiohttp.ClientSession:
    """The shared client session. Create it inside the running loop; close it on shutdown."""
    allow_private = settings.upstream_allow_private
    resolver: AbstractResolver | None = None if allow_private else PublicOnlyResolver()
    connector = aiohttp.TCPConnector(limit=64, ttl_dns_cache=300, resolver=resolver)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.upstream_timeout_seconds),
        headers={"User-Agent": USER_AGENT},
        middlewares=(_destination_middleware(allow_private),),
        raise_for_status=False,
        trust_env=False,
    )


# -- requests -----------------------------------------------------------------------------
async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise UpstreamError("response too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise UpstreamError("response too large")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(raw: bytes) -> Any:
    return json.loads(raw)


async def _decode_body(raw: bytes, status: int) -> Any:
    if not raw.strip():
        return None
    try:
        if len(raw) > _PARSE_INLINE_LIMIT:
            return await asyncio.get_running_loop().run_in_executor(None, _parse_json, raw)
        return _parse_json(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        if 200 <= status < 300:
            raise UpstreamError("response is not JSON") from exc
        return None


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> UpstreamResponse:
    """One upstream request, redirects not followed, JSON answer read at most `max_bytes`.

    Give at most one of `json_body` (sent as JSON), `form` (sent form-encoded) or `data` (raw
    bytes; set Content-Type in `headers`). Raises UpstreamError for connection failures,
    timeouts, oversized answers, and a 2xx answer that is not JSON. Any status is returned.
    """
    if sum(x is not None for x in (json_body, form, data)) > 1:
        raise ValueError("give at most one of json_body, form and data")
    # Scheme and host shape first (the session's guard applies the private-address policy).
    check_destination(url, allow_private=True)
    request_headers = {"Accept": "application/json", **(headers or {})}
    payload: Any = form if form is not None else data
    try:
        async with session.request(
            method,
            url,
            json=json_body,
            data=payload,
            headers=request_headers,
            allow_redirects=False,
        ) as response:
            raw = await _read_capped(response, max_bytes)
            status = response.status
            response_headers: Mapping[str, str] = CIMultiDictProxy(response.headers.copy())
    except UpstreamError:
        raise
    except TimeoutError as exc:
        raise UpstreamError("timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, _BlockedResolution):
            raise DestinationNotAllowed(
                "private or loopback destinations are not allowed"
            ) from exc
        raise UpstreamError("connection failed") from exc
    except aiohttp.InvalidURL as exc:
        raise DestinationNotAllowed("invalid URL") from exc
    except aiohttp.ClientPayloadError as exc:
        raise UpstreamError("response body could not be read") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamError("connection failed") from exc
    body = await _decode_body(raw, status)
    return UpstreamResponse(status=status, headers=response_headers, body=body)


async def get_json(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    headers: Mapping[str, str] | None = None,
) -> UpstreamResponse:
    """GET `url` (see `request_json`)."""
    return await request_json(session, "GET", url, headers=headers, max_bytes=max_bytes)
