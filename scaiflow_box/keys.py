"""Typed application and request keys (no string keys in app[...])."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:
    from scaiflow_box.auth.issuer import LocalIssuer
    from scaiflow_box.auth.jwks import JwksCache
    from scaiflow_box.auth.principal import Principal
    from scaiflow_box.auth.tokens import TokenVerifier
    from scaiflow_box.config import Settings
    from scaiflow_box.crypto.envelope import MasterKey
    from scaiflow_box.http.routes import Route
    from scaiflow_box.services.flows import FlowService
    from scaiflow_box.store.db import Database

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
MASTER_KEY: web.AppKey[MasterKey] = web.AppKey("master_key")
ISSUER: web.AppKey[LocalIssuer] = web.AppKey("issuer")
JWKS: web.AppKey[JwksCache] = web.AppKey("jwks")
VERIFIER: web.AppKey[TokenVerifier] = web.AppKey("verifier")
FLOWS: web.AppKey[FlowService] = web.AppKey("flows")
UPSTREAM_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("upstream_session")
ROUTES: web.AppKey[dict[tuple[str, str], Route]] = web.AppKey("routes")

PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id")
