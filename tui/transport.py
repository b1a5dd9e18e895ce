"""How the TUI's client reaches the appliance: one HTTP exchange at a time, and what can go
wrong with it.

`AdminClient` (tui.client) builds a `Request` and hands it to a `Transport`; the real one is
`AiohttpTransport` (one `aiohttp.ClientSession`). Tests of the screens' rendering hand the
client a stub transport with canned answers instead, so every parser and screen still runs.

Every failure surfaces as one of two exceptions, so a screen can tell "nobody answered" from
"the appliance answered no":

- `ApiUnavailable`: no usable HTTP answer (connection refused, timeout, reset, DNS, a body
  that is not the appliance's JSON).
- `ApiError`: the appliance answered with an error status; `status`, `code`, `message` and
  `fix` come from its `{"detail": ...}` body (SPEC §1).

Both derive from `AdminClientError`, as does a failure to obtain credentials, so a worker
catches exactly one type and never crashes the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

USER_AGENT = "scaiflow-box-tui"
DEFAULT_TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 3.0


class AdminClientError(Exception):
    """Base of everything the client raises; `str()` is a full sentence for the operator."""


class ApiUnavailable(AdminClientError):
    """The appliance could not be reached or did not answer like the appliance."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(f"appliance unreachable at {base_url}: {reason}")
        self.base_url = base_url
        self.reason = reason


class ApiError(AdminClientError):
    """The appliance answered with an error status. `extra` holds the structured detail's
    other keys (e.g. a failed deploy's `deployment_id`, a compile error's `errors`)."""

    def __init__(self, status: int, code: str, message: str, fix: str | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        text = f"{status} {code}: {message}"
        super().__init__(f"{text} ({fix})" if fix else text)
        self.status = status
        self.code = code
        self.message = message
        self.fix = fix
        self.extra: Mapping[str, Any] = dict(extra or {})


class TokenSource(Protocol):
    """Where the client gets its bearer token. The command that starts the TUI hands it one
    (a local session token minted from the data directory); `tui/` never mints one itself."""

    async def bearer(self) -> str: ...

    def session_token_ids(self) -> frozenset[str]:
        """Ids of the service tokens this TUI session itself uses (never revoke those)."""
        ...


@dataclass(frozen=True)
class StaticToken:
    """A bearer token given from outside; it is not a service token of this session."""

    token: str = field(repr=False)

    async def bearer(self) -> str:
        return self.token

    def session_token_ids(self) -> frozenset[str]:
        return frozenset()


@dataclass(frozen=True)
class Request:
    """One HTTP request. `json` or `data` (raw bytes with `content_type`) is the body."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = None
    data: bytes | None = None
    content_type: str | None = None
    accept: str = "application/json"
    timeout_seconds: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class TransportUnavailable(Exception):
    """No HTTP answer; the message says why in a few words (the client adds the URL)."""


class Transport(Protocol):
    async def send(self, base_url: str, request: Request) -> Answer:
        """The answer, whatever its status; `TransportUnavailable` when there is none."""
        ...

    async def close(self) -> None: ...


class AiohttpTransport:
    """One `aiohttp.ClientSession`, created on first use in the running loop."""

    def __init__(self, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.timeout_seconds = timeout_seconds
        self._session: aiohttp.ClientSession | None = None

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def send(self, base_url: str, request: Request) -> Answer:
        total = request.timeout_seconds or self.timeout_seconds
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=CONNECT_TIMEOUT_SECONDS)
        headers = {"Accept": request.accept, **request.headers}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        try:
            async with self._session_now().request(
                    request.method, base_url + request.path, json=request.json,
                    data=request.data, params=request.params, headers=headers,
                    allow_redirects=False, timeout=timeout) as response:
                body = await response.read()
                return Answer(response.status, response.content_type, body,
                              {k.lower(): v for k, v in response.headers.items()})
        except TimeoutError:
            raise TransportUnavailable(f"no answer within {total:g} s") from None
        except aiohttp.ClientConnectorError as exc:
            raise TransportUnavailable(_connect_reason(exc)) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportUnavailable(str(exc) or type(exc).__name__) from None


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    if isinstance(os_error, ConnectionRefusedError):
        return "connection refused (is `scaiflow-box serve` running?)"
    if isinstance(os_error, TimeoutError):
        return "connection timed out"
    return os_error.strerror or str(os_error) or "cannot connect"


def error_from(status: int, body: Any) -> ApiError:
    """Read SPEC §1's error shapes: a string, a structured detail, or the 422 list."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return ApiError(status, default_code(status), detail)
    if isinstance(detail, dict):
        return ApiError(status, str(detail.get("error") or default_code(status)),
                        str(detail.get("message") or "no message"),
                        detail.get("fix") if isinstance(detail.get("fix"), str) else None,
                        {k: v for k, v in detail.items()
                         if k not in ("error", "message", "fix")})
    if isinstance(detail, list) and detail:
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{loc}: {item.get('msg', 'invalid')}" if loc
                             else str(item.get("msg", "invalid")))
        return ApiError(status, "validation_failed", "; ".join(parts) or "invalid input")
    return ApiError(status, default_code(status), "the appliance gave no detail")


def default_code(status: int) -> str:
    return {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
            409: "conflict", 412: "precondition_failed", 422: "validation_failed",
            502: "upstream_failed", 503: "unavailable"}.get(status, f"http_{status}")
