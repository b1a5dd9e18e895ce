"""The fixed middleware chain: request (id, measurement, access log) → CORS → error mapping →
authentication.

CORS sits outside authentication so a browser's preflight (which carries no token) is
answered, and outside error mapping so error responses carry the CORS headers too.
Authentication asks a resolver it is handed (built in `app.py`): `http/` knows how to find a
token in a request, not how to turn one into a principal.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from scaiflow_box.auth.principal import Principal
from scaiflow_box.errors import DomainError, NotAuthenticated
from scaiflow_box.http.call import is_utf8
from scaiflow_box.http.errors import error_response, json_response
from scaiflow_box.http.metrics import (
    METHODS,
    RequestMetrics,
    TrafficWindow,
    is_stream,
    route_template,
)
from scaiflow_box.http.parsing import ClientGone
from scaiflow_box.http.route import Route
from scaiflow_box.http.state import PRINCIPAL, REQUEST_ID, ROUTES, SETTINGS

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
CORS_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_HEADERS = ("Authorization, Content-Type, Content-Encoding, If-Match, If-None-Match, "
                "Last-Event-ID, X-Request-ID")


def request_middleware(traffic: TrafficWindow, series: RequestMetrics | None, *,
                       access_log: bool) -> Middleware:
    """The outermost middleware: gives the request its id, measures it (always for the
    operator's dashboard; per route for `/metrics` when `series` is given) and, with
    `SCAIFLOW_ACCESS_LOG`, logs one line for it. One middleware for the three, because each
    layer costs every request a coroutine call."""

    @web.middleware
    async def handle(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get("X-Request-ID", "")
        if not _SAFE_REQUEST_ID.match(incoming):
            incoming = f"{_REQUEST_ID_PREFIX}{next(_REQUEST_SEQUENCE):08x}"
        request_id = request[REQUEST_ID] = incoming
        started = time.perf_counter()
        status = 500
        streamed = False
        try:
            response = await handler(request)
            status = response.status
            streamed = is_stream(response)
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 0  # the client went away: no answer to count
            raise
        finally:
            seconds = time.perf_counter() - started
            if status:
                traffic.observe(status, seconds, streamed)
                if series is not None:
                    series.observe(request.method, route_template(request), status, seconds)
            if access_log:
                log_access(request, status, seconds, request_id)

    return handle


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


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answers CORS preflights (they carry no token); the CORS headers of every other answer
    are added by `add_response_headers`."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not _origin_allowed(request):
            return json_response({"detail": "CORS origin not allowed"}, status=403)
        response = web.Response(status=204)
        response.headers.update({
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Access-Control-Allow-Headers": CORS_HEADERS,
            "Access-Control-Max-Age": "600",
        })
        return response
    return await handler(request)


def _origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is not None and origin.rstrip("/") in request.app[SETTINGS].cors_origins


async def add_response_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: runs just before any answer's headers are sent — ordinary
    responses, errors, and streams (SSE, WebSocket) that a handler prepares itself."""
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        response.headers["X-Request-ID"] = request_id
    origin = request.headers.get("Origin")
    if origin is not None and _origin_allowed(request):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        # What a canvas reads from answers: the flow's ETag, the catalog list's next page and a
        # download's file name (browsers hide any other header from cross-origin scripts).
        response.headers["Access-Control-Expose-Headers"] = (
            "ETag, X-Request-ID, Retry-After, Link, Content-Disposition")
    # Answers differ by Origin (CORS headers), so every one says so to caches.
    if "Origin" not in response.headers.getall("Vary", ()):
        response.headers.add("Vary", "Origin")
    # An error answers this request alone (a refused sign-in, a 404 that a grant turns into a
    # 200): no cache may keep one.
    if response.status >= 400 and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return error_response(exc)
    except ClientGone:
        log.debug("client went away while sending its body (%s %s)", request.method,
                  request.rel_url.path)
        return web.Response(status=400)  # written to nobody; aiohttp drops it
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own 404/413: the same `{"detail": ...}` shape as everything else.
        detail = {404: "Not Found", 413: "request body too large"}.get(exc.status, exc.reason)
        return json_response({"detail": detail}, status=exc.status)
    except Exception:
        request_id = request.get(REQUEST_ID)
        log.exception("unhandled error in %s %s (request %s)", request.method,
                      request.rel_url.path, request_id)
        return json_response({"detail": "internal error", "request_id": request_id},
                             status=500)


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


def auth_middleware(resolve: PrincipalResolver,
                    check_dev_token: DevTokenCheck | None = None) -> Middleware:
    """Every route is authenticated unless the route table marks it public. A `dev_token`
    route is authenticated here too, by `check_dev_token`, before its body is read: a caller
    without the dev token learns nothing about what the body would have done."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.app[ROUTES].route_of(request)
        if route is None or route.auth == "public":
            # Unmatched paths (404), OPTIONS and 405 answers, and the listed public routes.
            return await handler(request)
        if route.auth == "dev_token":
            if check_dev_token is None:
                raise NotAuthenticated()
            check_dev_token(request.app, _dev_token(request))
            return await handler(request)
        try:
            request[PRINCIPAL] = await resolve(request.app, bearer_token(request, route))
        except NotAuthenticated as exc:
            if route.kind == "websocket":
                return await _refuse_websocket(request, exc)
            raise
        return await handler(request)

    return authenticate


async def _refuse_websocket(request: web.Request,
                            exc: NotAuthenticated) -> web.StreamResponse:
    """A browser cannot read the status of a refused upgrade, so a WebSocket client without
    valid credentials is accepted and closed at once with code 4401 and the reason."""
    socket = web.WebSocketResponse(protocols=("bearer",))
    if not socket.can_prepare(request).ok:
        raise exc  # not an upgrade request: the ordinary 401
    await socket.prepare(request)
    await socket.close(code=4401, message=exc.message.encode()[:120])
    return socket

