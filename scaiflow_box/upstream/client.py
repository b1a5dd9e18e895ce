"""The one HTTP client the appliance uses to call ScaiKey and ScaiGrid (SPEC §18).

Every upstream call goes through a single shared `aiohttp.ClientSession` made by
`create_upstream_session`: one total timeout (`SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS`), http and
https only, and a destination guard. The helpers here add the rest of the contract: no
redirects (a 3xx is returned to the caller, never followed), a cap on the response size, and
one exception type, `UpstreamError`, whose `reason` is short and safe to show (no URL, no
credentials).

Destination guard, always on, for every call: the destinations no call may ever reach
(`upstream/destinations.py`: link-local, cloud metadata, "this network", the reserved IPv6
block with its IPv4-compatible form, Teredo) are refused as URLs and as DNS answers. Which
hosts ScaiGrid calls may reach is the operator's allow-list (`SCAIFLOW_UPSTREAM_ALLOW` plus
the host of `SCAIGRID_BASE_URL`, see `scaigrid_allow_list`), applied by the ScaiGrid client
and when a tenant's base URL is stored; ScaiKey URLs are the operator's own settings and are
not limited by it.

How: a session middleware checks every request's URL (every hop, so a redirect cannot get
past it); IP addresses are read through their IPv4-mapped, NAT64 and 6to4 IPv6 forms and the
legacy numeric spellings `inet_aton` accepts (`2852039166`, `0251.0376.0251.0376`, `127.1`),
which aiohttp would otherwise hand to the OS unresolved. The connector's resolver drops
refused addresses from DNS answers (a name that resolves only to such addresses fails), and
the connection is made to the addresses the resolver returned, so a name cannot be
re-resolved to a refused address between check and connect. Limitation, documented on
purpose: connections made through an HTTP proxy are checked on the URL only (the proxy
resolves the name).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from multidict import CIMultiDictProxy
from yarl import URL

from scaiflow_box.config import Settings
from scaiflow_box.upstream.destinations import (
    NEVER_ALLOWED,
    AllowedDestination,
    UpstreamAllowList,
    is_never_allowed_address,
    is_never_allowed_host,
    normalize_host,
    parse_address,
)

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


class UpstreamUnreachable(UpstreamError):
    """No answer: the connection failed, timed out, or broke while the body was read."""


class UpstreamBadAnswer(UpstreamError):
    """An answer arrived but cannot be used: larger than the cap, or a 2xx that is not JSON.
    `status` is the answer's HTTP status."""

    def __init__(self, reason: str, *, status: int) -> None:
        super().__init__(reason)
        self.status = status


ALWAYS_REFUSED = NEVER_ALLOWED


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
def url_destination(url: str | URL) -> tuple[str, int]:
    """The (normalized host, effective port) a URL connects to, as aiohttp reads it: names
    in their IDNA (ASCII) form, addresses without brackets. ValueError for a URL without a
    host or port."""
    parsed = URL(url) if isinstance(url, str) else url
    host = parsed.host or ""
    if not host.isascii():
        host = parsed.raw_host or ""
    port = parsed.port
    if not host or port is None:
        raise ValueError("URL has no host or port")
    return normalize_host(host), port


def check_destination(url: str | URL) -> None:
    """Raise DestinationNotAllowed unless `url` is http(s) with a host some call may reach
    (never a link-local, metadata or reserved destination; see `destinations.py`).

    Only the URL is looked at: names are checked by the session's resolver at connect time.
    """
    try:
        parsed = URL(url) if isinstance(url, str) else url
    except (TypeError, ValueError) as exc:
        raise DestinationNotAllowed("invalid URL") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise DestinationNotAllowed("only http and https URLs are allowed")
    if not (parsed.host or "").rstrip("."):
        raise DestinationNotAllowed("URL has no host")
    if is_never_allowed_host(parsed.host or ""):
        raise DestinationNotAllowed(NEVER_ALLOWED)


def scaigrid_allow_list(settings: Settings) -> UpstreamAllowList:
    """Where ScaiGrid calls may go: `SCAIFLOW_UPSTREAM_ALLOW` and the host and port of
    `SCAIGRID_BASE_URL` (the operator's own ScaiGrid is always allowed). Empty when neither
    is set: then no tenant base URL can be stored or called."""
    entries = list(settings.upstream_allow)
    if settings.scaigrid_base_url is not None:
        host, port = url_destination(settings.scaigrid_base_url)
        address = parse_address(host)
        if address is not None:
            entries.append(AllowedDestination(settings.scaigrid_base_url,
                                              network=ipaddress.ip_network(address),
                                              port=port))
        else:
            entries.append(AllowedDestination(settings.scaigrid_base_url, name=host, port=port))
    return UpstreamAllowList(tuple(entries))


def _is_refused_answer(address: str) -> bool:
    ip = parse_address(address)
    return ip is not None and is_never_allowed_address(ip)


class _BlockedResolution(OSError):
    """Raised by the guarded resolver; aiohttp wraps it in a ClientConnectorError."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GuardedResolver(AbstractResolver):
    """Wraps a resolver and drops every address no call may reach (a name that resolves
    only to such addresses fails)."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        kept = [r for r in results if not _is_refused_answer(r["host"])]
        if not kept:
            raise _BlockedResolution(NEVER_ALLOWED)
        return kept

    async def close(self) -> None:
        await self._inner.close()


async def _destination_guard(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    # Runs for every hop, so even a caller that forgot allow_redirects=False cannot be
    # redirected to a refused destination.
    check_destination(request.url)
    return await handler(request)


def create_upstream_session(settings: Settings) -> aiohttp.ClientSession:
    """The shared client session. Create it inside the running loop; close it on shutdown."""
    connector = aiohttp.TCPConnector(limit=64, ttl_dns_cache=300, resolver=GuardedResolver())
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=settings.upstream_timeout_seconds),
        headers={"User-Agent": USER_AGENT},
        middlewares=(_destination_guard,),
        raise_for_status=False,
        trust_env=False,
    )


# -- requests -----------------------------------------------------------------------------
async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise UpstreamBadAnswer("response too large", status=response.status)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise UpstreamBadAnswer("response too large", status=response.status)
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
            raise UpstreamBadAnswer("response is not JSON", status=status) from exc
        return None


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    *,
    json_body: Any = None,
    form: Mapping[str, str] | None = None,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> UpstreamResponse:
    """One upstream request, redirects not followed, JSON answer read at most `max_bytes`.

    Give at most one of `json_body` (sent as JSON), `form` (sent form-encoded) or `data` (raw
    bytes; set Content-Type in `headers`). `url` may be a `yarl.URL` built with
    `encoded=True`, so that percent-encoded path segments (`%2F`, `%2E%2E`) reach the upstream
    as they are instead of being decoded and normalized.

    Raises DestinationNotAllowed for a refused destination, UpstreamUnreachable for a
    connection failure or timeout, UpstreamBadAnswer for an oversized answer or a 2xx answer
    that is not JSON (all are UpstreamError). Any status is returned.
    """
    if sum(x is not None for x in (json_body, form, data)) > 1:
        raise ValueError("give at most one of json_body, form and data")
    # Scheme and host first (the session's guard checks again on every hop).
    check_destination(url)
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
        raise UpstreamUnreachable("timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, _BlockedResolution):
            raise DestinationNotAllowed(exc.os_error.reason) from exc
        raise UpstreamUnreachable("connection failed") from exc
    except aiohttp.InvalidURL as exc:
        raise DestinationNotAllowed("invalid URL") from exc
    except aiohttp.ClientPayloadError as exc:
        raise UpstreamUnreachable("response body could not be read") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamUnreachable("connection failed") from exc
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


SessionSource = aiohttp.ClientSession | Callable[[], aiohttp.ClientSession]


def session_factory(session: SessionSource) -> Callable[[], aiohttp.ClientSession]:
    """The shared session, or a callable returning it (for owners built before the session
    exists): looked up on every call, never closed by the caller."""
    if isinstance(session, aiohttp.ClientSession):
        shared = session
        return lambda: shared
    return session
