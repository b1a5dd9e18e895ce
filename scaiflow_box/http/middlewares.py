"""The fixed middleware chain: request id → CORS → error mapping → authentication.

CORS sits outside authentication so a browser's preflight (which carries no token) is
answered, and outside error mapping so error responses carry the CORS headers too.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from scaiflow_box.auth.principal import MANAGE, VIEW, Principal
from scaiflow_box.auth.tokens import InvalidToken
from scaiflow_box.http.errors import ApiError, ValidationFailed, json_response, not_authenticated
from scaiflow_box.keys import DB, PRINCIPAL, REQUEST_ID, ROUTES, SETTINGS, VERIFIER
from scaiflow_box.services.identity import resolve_principal

log = logging.getLogger("scaiflow_box.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, If-Match, X-Request-ID"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else "req_" + secrets.token_hex(8)
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-ID"] = request_id
        raise
    response.headers["X-Request-ID"] = request_id
    return response


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin.rstrip("/") in request.app[SETTINGS].cors_origins
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not allowed:
            return json_response({"detail": "CORS origin not allowed"}, status=403)
        response: web.StreamResponse = web.Response(status=204)
        response.headers.update({
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Access-Control-Allow-Headers": CORS_HEADERS,
            "Access-Control-Max-Age": "600",
        })
    else:
        response = await handler(request)
    if allowed and origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Expose-Headers"] = "ETag, X-Request-ID, Retry-After"
        response.headers.add("Vary", "Origin")
    return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return json_response({"detail": exc.detail}, status=exc.status, headers=exc.headers)
    except ValidationFailed as exc:
        return json_response({"detail": exc.errors}, status=422)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own 404/405/413: same `{"detail": ...}` shape as everything else.
        detail = {404: "Not Found", 405: "Method Not Allowed",
                  413: "request body too large"}.get(exc.status, exc.reason)
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return json_response({"detail": detail}, status=exc.status, headers=headers)
    except Exception:
        request_id = request.get(REQUEST_ID)
        log.exception("unhandled error in %s %s (request %s)", request.method,
                      request.rel_url.path, request_id)
        return json_response({"detail": "internal error", "request_id": request_id},
                             status=500)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise not_authenticated("malformed authorization header")
    return token.strip()


def _dev_principal() -> Principal:
    """SCAIFLOW_AUTH_DISABLED (loopback-only dev mode): the bootstrap operator."""
    return Principal(sub="usr_operator", tenant_id="tnt_local", email=None,
                     display_name="Operator (auth disabled)",
                     permissions=frozenset({VIEW, MANAGE}), admin_role="super_admin",
                     admin_role_source="bootstrap", token_source="service")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route is authenticated unless the route table marks it public."""
    route = request.app[ROUTES].get(
        (request.method, request.match_info.route.resource.canonical
         if request.match_info.route.resource is not None else "")
    )
    if route is None or route.auth != "token":
        # Unmatched paths (404/405) and the listed public routes; /dev/deploy checks the
        # dev token in its own handler.
        return await handler(request)
    db = request.app[DB]
    db.inline_cache.check()  # once per request: cached reads never predate the last commit
    token = _bearer(request)
    settings = request.app[SETTINGS]
    if token is None:
        if settings.auth_disabled:
            request[PRINCIPAL] = _dev_principal()
            return await handler(request)
        raise not_authenticated()
    try:
        verified = await request.app[VERIFIER].verify(token)
        request[PRINCIPAL] = await resolve_principal(db, settings, verified, token)
    except InvalidToken as exc:
        raise not_authenticated(exc.reason) from None
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def request_id_of(request: web.Request) -> str | None:
    return request.get(REQUEST_ID)
