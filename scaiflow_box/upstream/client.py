"""The one HTTP client the appliance uses to call ScaiKey and ScaiGrid (SPEC §18).

Every upstream call goes through a single shared `aiohttp.ClientSession` made by
`create_upstream_session`: one total timeout (`SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS`), http and
https only, and a destination guard. The helpers here add the rest of the contract: no
redirects (a 3xx is returned to the caller, never followed), a cap on the response size, and
one exception type, `UpstreamError`, whose `reason` is short and safe to show (no URL, no
credentials).

Destination guard, always on: link-local addresses (169.254.0.0/16, fe80::/10) and cloud
metadata endpoints (169.254.169.254, fd00:ec2::254, Alibaba's 100.100.100.200, the names
`metadata.google.internal` and `metadata`) are refused whatever the settings say: nothing an
appliance must reach lives there, and a tenant's `base_url` pointing at the metadata service
would hand out the host's cloud credentials. The default (`SCAIFLOW_UPSTREAM_ALLOW_PRIVATE=
true`) allows everything else, since an appliance talks to its own LAN.

With `SCAIFLOW_UPSTREAM_ALLOW_PRIVATE=false` the guard also refuses a host `localhost` (or
`*.localhost`) and any IP address that is not globally routable (private, loopback, shared,
reserved, multicast, unspecified).

How: a session middleware checks every request's URL (every hop, so a redirect cannot get
past it); IP addresses are read through their IPv4-mapped, NAT64 and 6to4 IPv6 forms and the
legacy numeric spellings `inet_aton` accepts (`2852039166`, `0251.0376.0251.0376`, `127.1`),
which aiohttp would otherwise hand to the OS unresolved. The connector's resolver drops
refused addresses from DNS answers (a name that resolves only to such addresses fails), and
the connection is made to the addresses the resolver returned, so a name cannot be
re-resolved to a refused address between check and connect. Limitations, documented on
purpose: connections made through an HTTP proxy are checked on the URL only (the proxy
resolves the name), and the guard is about where the appliance connects, not an allow-list
of trusted hosts.
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


PRIVATE_REFUSED = "private or loopback destinations are not allowed"
ALWAYS_REFUSED = "link-local and cloud metadata destinations are never allowed"


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
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata services: AWS/Azure/GCP/OpenStack (169.254.169.254), AWS over IPv6
# (fd00:ec2::254), Alibaba (100.100.100.200). Link-local is refused as a whole besides.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NUMERIC_HOST_CHARS = frozenset("0123456789abcdefx.")


def _unwrap(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), else `ip` itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def _parse_address(address: str) -> IPAddress | None:
    try:
        return _unwrap(ipaddress.ip_address(address))
    except ValueError:
        return None


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast IP address; False for anything else (including
    text that is not an IP address)."""
    ip = _parse_address(address)
    return ip is not None and ip.is_global and not ip.is_multicast


def is_always_refused_address(address: str) -> bool:
    """True for a link-local or cloud metadata IP address (refused even when private
    destinations are allowed)."""
    ip = _parse_address(address)
    return ip is not None and (ip.is_link_local or ip in METADATA_ADDRESSES)


def _host_address(host: str) -> IPAddress | None:
    """The IP address `host` denotes: a literal address, or a legacy numeric spelling that
    `inet_aton` (and so the OS, which aiohttp hands digits-and-dots hosts to unresolved)
    accepts, such as `2852039166` or `0x7f.1`. None for a name."""
    ip = _parse_address(host)
    if ip is not None or not host or not set(host) <= _NUMERIC_HOST_CHARS:
        return ip
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def check_destination(url: str | URL, *, allow_private: bool) -> None:
    """Raise DestinationNotAllowed unless `url` is http(s) with a host the policy permits.

    Only the URL is looked at: names are checked by the session's resolver at connect time.
    Link-local and metadata destinations are refused even when `allow_private`.
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
    address = _host_address(host)
    if host in METADATA_HOSTS or (address is not None
                                  and is_always_refused_address(str(address))):
        raise DestinationNotAllowed(ALWAYS_REFUSED)
    if allow_private:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise DestinationNotAllowed(PRIVATE_REFUSED)
    if address is not None and not is_public_address(str(address)):
        raise DestinationNotAllowed(PRIVATE_REFUSED)


class _BlockedResolution(OSError):
    """Raised by the guarded resolver; aiohttp wraps it in a ClientConnectorError."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GuardedResolver(AbstractResolver):
    """Wraps a resolver and drops every address the destination policy refuses: link-local
    and metadata addresses always, every address that is not globally routable unless
    `allow_private`."""

    def __init__(
        self, inner: AbstractResolver | None = None, *, allow_private: bool = False
    ) -> None:
        self._inner = inner if inner is not None else DefaultResolver()
        self._allow_private = allow_private

    def _allowed(self, address: str) -> bool:
        if is_always_refused_address(address):
            return False
        return self._allow_private or is_public_address(address)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        addresses = [r["host"].split("%", 1)[0] for r in results]
        kept = [r for r, a in zip(results, addresses, strict=True) if self._allowed(a)]
        if not kept:
            if self._allow_private or all(is_always_refused_address(a) for a in addresses):
                raise _BlockedResolution(ALWAYS_REFUSED)
            raise _BlockedResolution(PRIVATE_REFUSED)
        return kept

    async def close(self) -> None:
        await self._inner.close()


class PublicOnlyResolver(GuardedResolver):
    """A GuardedResolver that keeps only globally routable addresses."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        super().__init__(inner, allow_private=False)


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
    resolver = GuardedResolver(allow_private=allow_private)
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
