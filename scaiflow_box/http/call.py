"""What a handler receives (`Call`: the parsed request) and returns (`Reply`).

A handler never reads the raw request for its inputs: the body and query arrive parsed into
the models its route declares, headers only when declared, cursors verified. Its `Reply` is
checked against the route's declared responses before it is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from aiohttp import web
from pydantic import BaseModel

from scaiflow_box.auth.principal import Principal
from scaiflow_box.http.answer_headers import prepare_stream
from scaiflow_box.http.cursors import CursorCodec
from scaiflow_box.http.errors import HttpError
from scaiflow_box.http.state import CURSORS, PRINCIPAL, REQUEST_ID

B = TypeVar("B")
Q = TypeVar("Q")


class RouteFacts(Protocol):
    """What a call needs to know of its route (`http.route.Route` has it)."""

    @property
    def name(self) -> str: ...

    @property
    def path_params(self) -> tuple[str, ...]: ...

    @property
    def header_names(self) -> frozenset[str]: ...


# Reply and RawJson are built for every answer: named tuples, which are built by one call,
# where a frozen dataclass sets each field through object.__setattr__.
class RawJson(NamedTuple):
    """JSON bytes serialized by the service (e.g. a cached FlowDetail) that conform to
    `model`; the route must declare that model for the reply's status."""

    data: bytes
    model: type[BaseModel]


@dataclass(frozen=True, slots=True)
class Blob:
    """A non-JSON body (the API reference's HTML and assets)."""

    data: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Streamed:
    """An answer the handler has already prepared and written itself: a WebSocket run to its
    end, or a Server-Sent Events stream."""

    response: web.StreamResponse


class Reply(NamedTuple):
    status: int
    body: BaseModel | RawJson | Blob | Streamed | None = None
    headers: Mapping[str, str] | None = None


def ok(body: BaseModel | RawJson | Blob, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(200, body, headers)


def created(body: BaseModel | RawJson, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(201, body, headers)


NO_CONTENT = Reply(204)


def is_utf8(value: str) -> bool:
    """False for a header value aiohttp decoded from bytes that are not UTF-8 (it keeps them
    as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Call(Generic[B, Q]):
    """One request as its handler sees it."""

    __slots__ = ("body", "query", "request", "route")

    def __init__(self, request: web.Request, route: RouteFacts, body: B, query: Q) -> None:
        self.request = request
        self.route = route
        self.body = body
        self.query = query

    @property
    def app(self) -> web.Application:
        return self.request.app

    @property
    def principal(self) -> Principal:
        """The authenticated caller (only on routes that require a token)."""
        return self.request[PRINCIPAL]

    @property
    def request_id(self) -> str | None:
        return self.request.get(REQUEST_ID)

    def header(self, name: str) -> str | None:
        """A request header the route declares (reading an undeclared one is a bug)."""
        if name.lower() not in self.route.header_names:
            raise RuntimeError(f"{self.route.name} reads undeclared header {name}")
        value = self.request.headers.get(name)
        if value is not None and not value.isascii() and not is_utf8(value):
            # aiohttp keeps bytes that are not UTF-8 as lone surrogates, which nothing can
            # encode again (a 500 when an answer or a log line quoted them): refused, unquoted.
            raise HttpError(400, "invalid_header", f"the {name} header is not valid UTF-8",
                            fix=f"Send {name} as ASCII (an entity-tag, a token, a number).")
        return value

    # -- cursors: signed, bound to this operation, tenant and path ------------------------
    def _cursor_context(self) -> str:
        tenant = self.principal.tenant_id if PRINCIPAL in self.request else "-"
        params = "|".join(self.request.match_info.get(p, "") for p in self.route.path_params)
        return f"{self.route.name}|{tenant}|{params}"

    def cursor(self, arity: int) -> list[Any] | None:
        """The values of the `cursor` query parameter, or None when absent.
        A cursor this operation did not issue (forged, edited, foreign) is 400."""
        raw = getattr(self.query, "cursor", None)
        if not raw:
            return None
        codec: CursorCodec = self.app[CURSORS]
        return codec.decode(self._cursor_context(), raw, arity)

    def next_cursor(self, *values: Any) -> str:
        codec: CursorCodec = self.app[CURSORS]
        return codec.encode(self._cursor_context(), list(values))

    async def accept_websocket(self, **options: Any) -> web.WebSocketResponse:
        """Upgrade to a WebSocket. A client that authenticated with the `bearer, <token>`
        subprotocol gets `bearer` back, as browsers require."""
        socket = web.WebSocketResponse(protocols=("bearer",), **options)
        await self.prepare_stream(socket)
        return socket

    async def prepare_stream(self, response: web.StreamResponse) -> None:
        """Send the head of an answer this handler writes itself (an event stream, a
        WebSocket), with the headers of every answer (request id, CORS, `Vary`)."""
        await prepare_stream(self.request, response)
