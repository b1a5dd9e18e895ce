"""The one table of every route and its authentication requirement.

Routes are authenticated unless marked otherwise, and only the paths in PUBLIC_ALLOW_LIST may
be marked public (a test fails on any other). Preview routes (`/flows/validate`, `/flows/compile`,
`/flows/import`) are registered before `/flows/{flow_id}` so they are never read as ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from scaiflow_box.keys import ROUTES

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Auth = Literal["token", "public", "dev_token"]

PUBLIC_ALLOW_LIST = frozenset({
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/auth/config",
    "/api/v1/auth/exchange",
    "/api/v1/auth/refresh",
    "/api/v1/auth/jwks",
    "/api/v1/webhooks/scaikey",
    "/api/v1/dev/deploy",
})


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    auth: Auth = "token"
    needs: str | None = None  # the permission or role named in the docs (for OpenAPI)
    tags: tuple[str, ...] = field(default=())


def all_routes() -> list[Route]:
    # Imported here: the api modules import services, which import this package's siblings.
    from scaiflow_box.api import acls, admin, auth, flows, ops, preview

    return [*ops.ROUTES, *auth.ROUTES, *preview.ROUTES, *flows.ROUTES, *acls.ROUTES,
            *admin.ROUTES]


def register_routes(app: web.Application, routes: list[Route] | None = None) -> None:
    table: dict[tuple[str, str], Route] = {}
    for route in routes if routes is not None else all_routes():
        if route.auth != "token" and route.path not in PUBLIC_ALLOW_LIST:
            raise ValueError(f"{route.path} is public but not on the public allow-list")
        app.router.add_route(route.method, route.path, route.handler)
        table[(route.method, route.path)] = route
    app[ROUTES] = table
