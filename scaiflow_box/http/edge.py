"""The request edge: one wrapper around every registered handler, instead of a chain of
aiohttp middlewares.

For each request, in this order: its id; a CORS preflight answered (preflights carry no
token); authentication (every route is authenticated unless the route table marks it
public); the handler; domain errors, aiohttp's own errors and anything unexpected mapped to
the documented JSON shape; the edge headers (request id, CORS, `Vary`, `no-store` on errors);
then the request's measurement (always, for the operator's dashboard; per route for
`/metrics` when enabled) and, with `SCAIFLOW_ACCESS_LOG`, one access-log line.

Why one wrapper: each aiohttp middleware costs every request a `partial` call and a
coroutine, aiohttp adds one more layer of its own when any middleware is installed, the
authentication layer had to look its route up again, and the `on_response_prepare` signal
costs a signal dispatch per answer. The wrapper knows its route when it is built (callgrind:
359,063 -> 327,244 instructions a GET by id, docs/performance.md). Paths no route declares reach
it too, through a catch-all resource registered last (`http/dispatch.py`).

Authentication asks a resolver it is handed (built in `app.py`): `http/` knows how to find a
token in a request, not how to turn one into a principal. A handler that prepares its own
answer (an event stream, a WebSocket) adds the edge headers first through `prepare_stream`
(`http/answer_headers.py`).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from scaiflow_box.auth.principal import Principal
from scaiflow_box.errors import DomainError, NotAuthenticated
from scaiflow_box.http.answer_headers import edge_headers, preflight, prepare_stream
from scaiflow_box.http.call import is_utf8
from scaiflow_box.http.errors import error_response, json_response
from scaiflow_box.http.metrics import METHODS, RequestMetrics, TrafficWindow
from scaiflow_box.http.parsing import ClientGone
from scaiflow_box.http.route import Route
from scaiflow_box.http.state import PRINCIPAL, REQUEST_ID

log = logging.getLogger("scaiflow_box.http")
ACCESS_LOG = logging.getLogger("scaiflow_box.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Turns the bearer token of a request (None when absent) into the caller, or raises
# NotAuthenticated.
PrincipalResolver = Callable[[web.Application, str | None], Awaitable[Principal]]
# Checks the bearer token of a `dev_token` route (None when absent) against the dev token:
# returns when it is the dev token, raises NotConfigured or NotAuthenticated otherwise.
DevTokenCheck = Callable[[web.Application, str | None], None]

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A request id needs to be unique, not secret: a random prefix per process and a counter
# (`secrets.token_hex` per request is a `getrandom` system call: 0.57 µs against 0.19).
_REQUEST_ID_PREFIX = "req_" + secrets.token_hex(4)
_REQUEST_SEQUENCE = itertools.count(1)


@dataclass(frozen=True)
class Edge:
    """What every request passes through; `wrap` builds the wrapper of one handler."""

    traffic: TrafficWindow
    series: RequestMetrics | None  # per-route histograms, when `SCAIFLOW_METRICS` is on
    access_log: bool
    resolve: PrincipalResolver
    check_dev_token: DevTokenCheck | None = None

    def wrap(self, route: Route | None, handler: Handler, template: str) -> Handler:
        """`handler` behind the edge. `route` is None for the catch-alls (other methods of
        a path, paths no route declares), which are public; `template` labels the request's
        measurement (a path template, never the raw path: label values stay few and carry
        no ids)."""
        traffic, series, access_log = self.traffic, self.series, self.access_log
        resolve, check_dev_token = self.resolve, self.check_dev_token
        auth = "public" if route is None else route.auth
        websocket = route is not None and route.kind == "websocket"
        perf_counter = time.perf_counter

        async def edge(request: web.Request) -> web.StreamResponse:
            request_id = request.headers.get("X-Request-ID", "")
            if not _SAFE_REQUEST_ID.match(request_id):
                request_id = f"{_REQUEST_ID_PREFIX}{next(_REQUEST_SEQUENCE):08x}"
            request[REQUEST_ID] = request_id
            started = perf_counter()
            status = 500
            streamed = False
            response: web.StreamResponse
            try:
                try:
                    if (request.method == "OPTIONS"
                            and "Access-Control-Request-Method" in request.headers):
                        response = preflight(request)
                    elif auth == "token":
                        try:
                            request[PRINCIPAL] = await resolve(
                                request.app, bearer_token(request, route))  # type: ignore[arg-type]
                        except NotAuthenticated as exc:
                            if not websocket:
                                raise
                            response = await _refuse_websocket(request, exc)
                        else:
                            response = await handler(request)
                    elif auth == "dev_token":
                        if check_dev_token is None:
                            raise NotAuthenticated()
                        # Before the body is read: a caller without the dev token learns
                        # nothing about what the body would have done.
                        check_dev_token(request.app, _dev_token(request))
                        response = await handler(request)
                    else:
                        response = await handler(request)
                except DomainError as exc:
                    response = error_response(exc)
                except ClientGone:
                    log.debug("client went away while sending its body (%s %s)",
                              request.method, request.rel_url.path)
                    response = web.Response(status=400)  # written to nobody; aiohttp drops it
                except web.HTTPException as exc:
                    if exc.status < 400:
                        raise
                    # aiohttp's own errors (a body over its limit): the same shape as ours.
                    detail = {404: "Not Found",
                              413: "request body too large"}.get(exc.status, exc.reason)
                    response = json_response({"detail": detail}, status=exc.status)
                except Exception:
                    log.exception("unhandled error in %s %s (request %s)", request.method,
                                  request.rel_url.path, request_id)
                    response = json_response({"detail": "internal error",
                                              "request_id": request_id}, status=500)
                status = response.status
                if response.prepared:
                    streamed = True  # written by the handler: an event stream, a WebSocket
                else:
                    edge_headers(request, response, request_id)
                return response
            except web.HTTPException as exc:  # a redirect raised by a handler
                status = exc.status
                raise
            except asyncio.CancelledError:
                status = 0  # the client went away: no answer to count
                raise
            finally:
                seconds = perf_counter() - started
                if status:
                    traffic.observe(status, seconds, streamed)
                    if series is not None:
                        series.observe(request.method, template, status, seconds)
                if access_log:
                    log_access(request, status, seconds, request_id)

        edge.__name__ = handler.__name__
        return edge


def log_access(request: web.Request, status: int, seconds: float, request_id: str) -> None:
    """One line per request: method, path, status, duration, request id. Never the query
    string (`?token=` travels there for event streams and WebSockets), never a header. The
    path is logged as sent (percent-encoded, so it cannot break the line), cut at 500
    characters."""
    path = request.rel_url.raw_path
    if len(path) > 500:
        path = path[:500] + "…"
    method = request.method if request.method in METHODS else "OTHER"
    shown = str(status) if status else "gone"  # gone: the client left before the answer
    ACCESS_LOG.info("%s %s %s %.1fms %s", method, path, shown, seconds * 1000, request_id,
                    extra={"access": {"method": method, "path": path, "status": status or None,
                                      "duration_ms": round(seconds * 1000, 3),
                                      "request_id": request_id}})


def bearer_token(request: web.Request, route: Route) -> str | None:
    """The token of a request: `Authorization: Bearer`; for WebSocket routes (where browsers
    cannot set headers) also the `bearer, <token>` subprotocol or `?token=`, and `?token=`
    on routes that ask for it (event streams)."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        # A token is ASCII: anything else (bytes that are not even UTF-8 included, which
        # nothing could encode again) is malformed, answered without quoting it.
        if scheme.lower() != "bearer" or not token.strip() or not token.isascii():
            raise NotAuthenticated("malformed authorization header")
        return token.strip()
    if route.kind != "websocket":
        return (request.query.get("token") or None) if route.token_in_query else None
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if len(protocols) >= 2 and protocols[0].lower() == "bearer" and protocols[1]:
        return protocols[1]
    return request.query.get("token") or None


def _dev_token(request: web.Request) -> str | None:
    """The bearer of a `dev_token` route; None when absent or malformed (bytes that are not
    UTF-8 included: they are no dev token, and are never quoted)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not (token.isascii() or is_utf8(token)):
        return None
    return token


async def _refuse_websocket(request: web.Request,
                            exc: NotAuthenticated) -> web.StreamResponse:
    """A browser cannot read the status of a refused upgrade, so a WebSocket client without
    valid credentials is accepted and closed at once with code 4401 and the reason."""
    socket = web.WebSocketResponse(protocols=("bearer",))
    if not socket.can_prepare(request).ok:
        raise exc  # not an upgrade request: the ordinary 401
    await prepare_stream(request, socket)
    await socket.close(code=4401, message=exc.message.encode()[:120])
    return socket
