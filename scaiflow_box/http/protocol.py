"""Requests that never reach the application: answered as JSON, never echoed, never logged
with their bytes.

aiohttp's HTTP parser refuses a request line or header over its limits, too many headers, and
bodies whose Content-Encoding it cannot decode, before the request edge runs; its default answer
is a plain-text 400 that quotes the offending bytes (a bearer token, say) and an ERROR log
line with a traceback. `ApplianceRunner` serves with a request handler that answers those as
414 (request line over 8 KB), 431 (a header over 8 KB, or too many), 415 (an encoding this
server does not decode: br, zstd) or 400 (anything else malformed), in the documented JSON
shape, and logs one line without the request's bytes.

The same handler enforces the connection limits of `http/connections.py`: the header-read
timeout, the keep-alive timeout (aiohttp's) and the cap on open connections.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from aiohttp import web, web_protocol, web_server
from aiohttp.http_exceptions import BadHttpMessage, ContentEncodingError, LineTooLong
from aiohttp.streams import StreamReader

from scaiflow_box.http.connections import (
    ACCEPT_BATCH,
    LISTEN_BACKLOG,
    TOO_MANY_CONNECTIONS,
    ConnectionLimits,
    WaitingConnections,
    header_timeout_answer,
)
from scaiflow_box.http.errors import HttpError, error_response
from scaiflow_box.http.state import SETTINGS

log = logging.getLogger("scaiflow_box.http")

MAX_REQUEST_LINE = 8192  # 8 KB, SPEC §1 (the parser's own default is 8190)
MAX_HEADER_FIELD = 8190
MAX_HEADERS = 128


def refusal_for(exc: BaseException | None, status: int) -> HttpError:
    """The JSON error for a request the parser refused. The two line limits differ by design,
    so the limit a LineTooLong names tells whether the request line or a header overflowed."""
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else None
        if limit == MAX_REQUEST_LINE:
            return HttpError(414, "uri_too_long", "the request line is longer than 8 KB",
                             close=True)
        return HttpError(431, "request_header_fields_too_large",
                         "a request header is longer than 8 KB", close=True)
    if isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc.message):
        return HttpError(431, "request_header_fields_too_large",
                         f"more than {MAX_HEADERS} request headers", close=True)
    if isinstance(exc, ContentEncodingError):
        return HttpError(415, "unsupported_content_encoding",
                         "Content-Encoding must be gzip or deflate, or absent", close=True)
    if status >= 500:
        return HttpError(status, "internal_error", "internal error", close=True)
    return HttpError(400, "bad_request", "the request is not valid HTTP", close=True)


class _RequestHandler(web_protocol.RequestHandler):
    _header_deadline: asyncio.TimerHandle | None = None
    # The body of the last request whose head was parsed: bytes that arrive before it ends
    # are body, not the head of the next request.
    _last_body: StreamReader | None = None

    @property
    def _registry(self) -> WaitingConnections | None:
        manager = cast("_Server | None", self._manager)
        return manager.registry if manager is not None else None

    # -- the cap --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        manager = cast("_Server", self._manager)
        if not manager.registry.admit(self, len(manager.connections)):
            self._refuse(TOO_MANY_CONNECTIONS)
            return
        manager.registry.waiting(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        registry = self._registry
        if registry is not None:
            registry.busy(self)
        self._cancel_header_deadline()
        super().connection_lost(exc)

    def evict(self) -> None:
        """Closed to make room for a new connection: nothing was in flight here."""
        log.debug("closed a connection waiting for a request, to make room for a new one")
        self._cancel_header_deadline()
        self.force_close()

    def _refuse(self, answer: bytes) -> None:
        self._cancel_header_deadline()
        if self.transport is not None:
            self.transport.write(answer)
        self.force_close()

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        answer = await super().finish_response(request, resp, start_time)
        if not self._messages:  # answered; waiting for the next request from now on
            registry = self._registry
            if registry is not None:
                registry.waiting(self)
        return answer

    # -- the header-read timeout ----------------------------------------------------------
    def _reading_head(self) -> bool:
        return (not self._upgraded and self._payload_parser is None
                and (self._last_body is None or self._last_body.is_eof()))

    def data_received(self, data: bytes) -> None:
        # Runs for every chunk read: the cheap tests first, `_reading_head` only without a
        # timer armed (it must see the state before the parser moves on).
        head_bytes = self._header_deadline is None and bool(data) and self._reading_head()
        parsed = self._request_count
        web_protocol.RequestHandler.data_received(self, data)
        if self._request_count != parsed:  # a request line and headers are complete
            if self._header_deadline is not None:
                self._cancel_header_deadline()
            if self._messages:
                self._last_body = self._messages[-1][1]
            registry = self._registry
            if registry is not None:
                registry.busy(self)
        elif head_bytes and not self._force_close and self._manager is not None:
            # The first bytes of a head that did not complete in this chunk (a whole request
            # in one chunk, the usual case, arms no timer). A pipelined request's head that
            # starts in the chunk completing the one before is left to the keep-alive timer.
            timeout = cast("_Server", self._manager).registry.limits.header_timeout
            self._header_deadline = self._loop.call_later(timeout, self._header_timed_out)

    def _cancel_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_timed_out(self) -> None:
        self._header_deadline = None
        if self._force_close or self.transport is None:
            return
        if self._request_in_progress or self._messages:
            # A pipelined request is still being answered: close after its answer.
            self.close()
            return
        log.debug("closed a connection whose request headers did not arrive in time")
        timeout = cast("_Server", self._manager).registry.limits.header_timeout
        self._refuse(header_timeout_answer(timeout))

    # -- malformed requests ---------------------------------------------------------------
    def stop_reading_body(self) -> None:
        """The answer is final and the connection closes after it: do not linger reading the
        rest of a body that is not coming (408) or cannot be decoded (400)."""
        self._lingering_time = 0.0

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, (web.RequestPayloadError, ConnectionError)):
            # The rest of a refused body, read while lingering: the client's problem, and
            # already answered.
            log.debug("discarded the rest of a request body (%s)", type(exc).__name__)
            return
        super().log_exception(*args, **kw)

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        refusal = refusal_for(exc, status)
        if refusal.status >= 500:
            log.error("error handling a request (%s)", type(exc).__name__ if exc else status)
        else:
            log.info("refused a malformed request: %s (%s)", refusal.code,
                     type(exc).__name__ if exc else status)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started")
        response = error_response(refusal)
        response.headers["Vary"] = "Origin"
        response.force_close()
        return response


class _Server(web_server.Server):
    registry: WaitingConnections

    def __call__(self) -> web_protocol.RequestHandler:
        return _RequestHandler(self, loop=self._loop, **self._kwargs)


def limits_of(app: web.Application) -> ConnectionLimits:
    """The limits the application's settings name (the defaults for an app without them)."""
    settings = app.get(SETTINGS)
    if settings is None:
        return ConnectionLimits()
    return ConnectionLimits(header_timeout=settings.header_timeout_seconds,
                            keepalive_timeout=settings.keepalive_timeout_seconds,
                            max_connections=settings.max_connections)


class ApplianceRunner(web.AppRunner):
    """`web.AppRunner` whose connections answer malformed requests as JSON and keep to the
    connection limits (see above); the limits come from the app's settings unless given."""

    def __init__(self, app: web.Application, *, limits: ConnectionLimits | None = None,
                 **kwargs: Any) -> None:
        self.limits = limits or limits_of(app)
        kwargs.setdefault("max_line_size", MAX_REQUEST_LINE)
        kwargs.setdefault("max_field_size", MAX_HEADER_FIELD)
        kwargs.setdefault("max_headers", MAX_HEADERS)
        kwargs.setdefault("keepalive_timeout", self.limits.keepalive_timeout)
        super().__init__(app, **kwargs)

    @property
    def registry(self) -> WaitingConnections:
        server = self.server
        if not isinstance(server, _Server):
            raise RuntimeError("the runner is not set up")
        return server.registry

    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        # Same server, same settings; only the protocol class it instantiates differs.
        server.__class__ = _Server
        cast(_Server, server).registry = WaitingConnections(self.limits)
        return server


class ApplianceSite(web.TCPSite):
    """`web.TCPSite` that accepts at most ACCEPT_BATCH connections per wake-up (so the cap
    sees them before the process's descriptors run out) while the kernel still queues up to
    LISTEN_BACKLOG: asyncio uses one number for both, so the queue is set again after."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int) -> None:
        super().__init__(runner, host, port, backlog=ACCEPT_BATCH)

    async def start(self) -> None:
        await super().start()
        if self._server is None:
            return
        for listening in getattr(self._server, "sockets", ()):
            with listening.dup() as sock:  # the same socket, without asyncio's wrapper
                sock.listen(LISTEN_BACKLOG)
