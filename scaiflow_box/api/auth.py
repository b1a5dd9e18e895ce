"""Auth router [upstream]: public config and the local issuer's JWKS, and `GET /me`."""

from __future__ import annotations

from aiohttp import web

from scaiflow_box.http.errors import json_response
from scaiflow_box.http.middlewares import principal_of
from scaiflow_box.http.routes import Route
from scaiflow_box.keys import DB, ISSUER, SETTINGS
from scaiflow_box.services.identity import describe_me


async def auth_config(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    scaikey = bool(settings.scaikey_base_url and settings.scaikey_client_id)
    return json_response({
        "auth_mode": "scaikey" if scaikey else "dev_token",
        "scaikey_base_url": settings.scaikey_base_url,
        "client_id": settings.scaikey_client_id,
        "audience": settings.expected_audience,
        "redirect_uri": None,
    })


async def local_jwks(request: web.Request) -> web.Response:
    return json_response(request.app[ISSUER].public_jwks(),
                         headers={"Cache-Control": "public, max-age=300"})


async def me(request: web.Request) -> web.Response:
    return json_response(await describe_me(request.app[DB], principal_of(request)))


ROUTES = [
    Route("GET", "/api/v1/auth/config", auth_config, "How the canvas should sign in",
          auth="public"),
    Route("GET", "/api/v1/auth/jwks", local_jwks, "The appliance issuer's public keys",
          auth="public"),
    Route("GET", "/api/v1/me", me, "Who the caller is"),
]
