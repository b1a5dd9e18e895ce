"""The registered routes and each path's methods (filled by `http/dispatch.py`, read by the
catch-alls' `Allow` and the OpenAPI endpoint)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from scaiflow_box.http.route import Route

AiohttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class RouteTable:
    """Every registered route, and the methods of each path."""

    routes: list[Route] = field(default_factory=list)
    document: bytes | None = None  # the OpenAPI document, built on first request
    methods_by_path: dict[str, list[str]] = field(default_factory=dict)

    def allow_header(self, path: str) -> str:
        methods = list(self.methods_by_path.get(path, ()))
        if "GET" in methods:
            methods.append("HEAD")
        return ", ".join([*methods, "OPTIONS"])


ROUTES: web.AppKey[RouteTable] = web.AppKey("routes")
