"""The headers every answer carries, and the CORS preflight: set by the request edge
(`http/edge.py`) on the answers it returns, and by `prepare_stream` on those a handler writes
itself (an event stream, a WebSocket) before their head is sent."""

from __future__ import annotations

from aiohttp import web

from scaiflow_box.http.errors import json_response
from scaiflow_box.http.state import REQUEST_ID, SETTINGS

CORS_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_HEADERS = ("Authorization, Content-Type, Content-Encoding, If-Match, If-None-Match, "
                "Last-Event-ID, X-Request-ID")
# What a canvas reads from answers: the flow's ETag, the catalog list's next page and a
# download's file name (browsers hide any other header from cross-origin scripts).
CORS_EXPOSED = "ETag, X-Request-ID, Retry-After, Link, Content-Disposition"


def preflight(request: web.Request) -> web.Response:
    """A CORS preflight, for any path: 204 with what may be sent, or 403 for an origin not
    on `SCAIFLOW_CORS_ORIGINS`."""
    if not _origin_allowed(request):
        return json_response({"detail": "CORS origin not allowed"}, status=403)
    response = web.Response(status=204)
    response.headers.update({
        "Access-Control-Allow-Methods": CORS_METHODS,
        "Access-Control-Allow-Headers": CORS_HEADERS,
        "Access-Control-Max-Age": "600",
    })
    return response


def _origin_allowed(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is not None and origin.rstrip("/") in request.app[SETTINGS].cors_origins


def edge_headers(request: web.Request, response: web.StreamResponse,
                 request_id: str | None) -> None:
    """The headers of every answer, set before its head is sent: the request id, CORS for an
    allowed origin, `Vary: Origin`, and `Cache-Control: no-store` on errors."""
    headers = response.headers
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    origin = request.headers.get("Origin")
    if origin is not None and _origin_allowed(request):
        headers["Access-Control-Allow-Origin"] = origin
        headers["Access-Control-Allow-Credentials"] = "true"
        headers["Access-Control-Expose-Headers"] = CORS_EXPOSED
    # Answers differ by Origin (CORS headers), so every one says so to caches.
    vary = headers.get("Vary")
    if vary is None:
        headers["Vary"] = "Origin"
    elif "Origin" not in headers.getall("Vary"):
        headers.add("Vary", "Origin")
    # An error answers this request alone (a refused sign-in, a 404 that a grant turns into a
    # 200): no cache may keep one.
    if response.status >= 400 and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"


async def prepare_stream(request: web.Request, response: web.StreamResponse) -> None:
    """Send the head of an answer a handler writes itself, with the edge headers."""
    edge_headers(request, response, request.get(REQUEST_ID))
    await response.prepare(request)
