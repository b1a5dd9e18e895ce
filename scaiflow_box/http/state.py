"""Typed keys of what the HTTP layer itself keeps on the application and each request
(re-exported by `scaiflow_box.keys`, the one place to look them up)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from scaiflow_box.auth.principal import Principal
    from scaiflow_box.config import Settings
    from scaiflow_box.http.cursors import CursorCodec
    from scaiflow_box.http.route_table import RouteTable

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
ROUTES: web.AppKey[RouteTable] = web.AppKey("routes")
CURSORS: web.AppKey[CursorCodec] = web.AppKey("cursors")
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
