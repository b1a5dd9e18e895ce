"""create_app(settings) -> web.Application; resources live in cleanup_ctx generators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from scaiflow_box.auth.jwks import JwksCache
from scaiflow_box.auth.tokens import TokenVerifier
from scaiflow_box.config import Settings
from scaiflow_box.http.middlewares import (
    auth_middleware,
    cors_middleware,
    error_middleware,
    request_id_middleware,
)
from scaiflow_box.http.parsing import FLOW_BODY_LIMIT
from scaiflow_box.http.routes import register_routes
from scaiflow_box.keys import (
    DB,
    FLOWS,
    ISSUER,
    JWKS,
    MASTER_KEY,
    SETTINGS,
    UPSTREAM_SESSION,
    VERIFIER,
)
from scaiflow_box.services.bootstrap import initialize
from scaiflow_box.services.flows import FlowService
from scaiflow_box.store.content_cache import VersionContentCache
from scaiflow_box.store.db import Database
from scaiflow_box.upstream.client import create_upstream_session


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    loop = asyncio.get_running_loop()
    db = await loop.run_in_executor(None, Database, settings.db_path)
    report = await loop.run_in_executor(None, initialize, settings, db)
    app[DB] = db
    app[MASTER_KEY] = report.master_key
    app[ISSUER] = report.issuer
    app[FLOWS] = FlowService(db, VersionContentCache())
    yield
    await loop.run_in_executor(None, db.close)


async def _upstream(app: web.Application) -> AsyncIterator[None]:
    session = create_upstream_session(app[SETTINGS])
    app[UPSTREAM_SESSION] = session
    yield
    await session.close()


async def _auth(app: web.Application) -> AsyncIterator[None]:
    jwks = JwksCache(app[SETTINGS], app[DB], lambda: app[UPSTREAM_SESSION])
    await jwks.start()
    app[JWKS] = jwks
    app[VERIFIER] = TokenVerifier(app[SETTINGS], app[ISSUER], jwks)
    yield
    await jwks.close()


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[request_id_middleware, cors_middleware, error_middleware, auth_middleware],
        client_max_size=FLOW_BODY_LIMIT + 64 * 1024,
    )
    app[SETTINGS] = settings
    register_routes(app)
    app.cleanup_ctx.extend([_database, _upstream, _auth])
    return app
