"""Typed keys of what the HTTP layer itself keeps on the application and each request
(re-exported by `scaiflow_box.keys`, the one place to look them up). The route table's key
lives beside the table (`http/route_table.py`): this module stays below every other of
`http/`, which all may read a request's id or principal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from scaiflow_box.auth.principal import Principal
    from scaiflow_box.config import Settings
    from scaiflow_box.http.cursors import CursorCodec

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
CURSORS: web.AppKey[CursorCodec] = web.AppKey("cursors")
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
