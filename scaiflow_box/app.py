"""create_app(settings) -> web.Application.

Resources live in cleanup_ctx generators; services are classes built here with their
dependencies passed in and reached by handlers through the AppKeys of `keys.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Iterable

from aiohttp import web

from scaiflow_box.api.table import all_routes
from scaiflow_box.auth.jwks import JwksCache
from scaiflow_box.auth.principal import Principal
from scaiflow_box.auth.tokens import TokenVerifier
from scaiflow_box.build_info import build_info
from scaiflow_box.config import Settings, check_serving
from scaiflow_box.http.cursors import CursorCodec
from scaiflow_box.http.dispatch import register_routes
from scaiflow_box.http.edge import Edge
from scaiflow_box.http.metrics import ApplianceMetrics, upstream_trace_config
from scaiflow_box.http.route import Route
from scaiflow_box.keys import (
    ACLS,
    ADMIN,
    CATALOG,
    CREDENTIALS,
    CURSORS,
    DB,
    DEPLOY,
    DIRECTORY_SYNC,
    EVENT_HUB,
    FLOWS,
    IDENTITY,
    ISSUER,
    JWKS,
    KEY_RETENTION,
    KEY_ROTATION,
    KEYRING,
    LEASES,
    LIVE_SYNC,
    LOG_RING,
    LOOKUPS,
    METRICS,
    PRESENCE,
    PREVIEW,
    READINESS,
    RETENTION,
    SETTINGS,
    SIGN_IN,
    SYSTEM,
    UPSTREAM_SESSION,
    WEBHOOKS,
)
from scaiflow_box.log_ring import LogRing
from scaiflow_box.services.acls import AclService
from scaiflow_box.services.admin import AdminService
from scaiflow_box.services.bootstrap import initialize, open_settings_database
from scaiflow_box.services.catalog import CatalogService
from scaiflow_box.services.credentials import CredentialService
from scaiflow_box.services.deploy import DeployService
from scaiflow_box.services.directory_sync import DirectorySync
from scaiflow_box.services.event_stream import EventHub
from scaiflow_box.services.flows import FlowService
from scaiflow_box.services.identity import IdentityService
from scaiflow_box.services.key_retention import KeyRetentionService
from scaiflow_box.services.key_rotation import KeyRotationService
from scaiflow_box.services.leases import LeaseKeeper
from scaiflow_box.services.live_docs import LiveDocuments
from scaiflow_box.services.live_sync import LiveLimits, LiveSync
from scaiflow_box.services.lookups import LookupService
from scaiflow_box.services.presence import PresenceBoard, PresenceService
from scaiflow_box.services.preview import PreviewService
from scaiflow_box.services.readiness import Readiness
from scaiflow_box.services.retention import RetentionService
from scaiflow_box.services.sign_in import SignInService
from scaiflow_box.services.system import SystemService
from scaiflow_box.services.webhooks import WebhookReceiver
from scaiflow_box.store.content_cache import VersionContentCache
from scaiflow_box.upstream.client import create_upstream_session, scaigrid_allow_list
from scaiflow_box.upstream.scaigrid import ScaiGridClient
from scaiflow_box.upstream.scaikey import ScaiKeyClient, discovery_url
from scaiflow_box.upstream.scaikey_admin import ScaiKeyAdminClient
from scaiflow_box.upstream.scaikey_discovery import DiscoveryCache


async def _log_ring(app: web.Application) -> AsyncIterator[None]:
    """The recent log lines super admins read (`/admin/logs`): on the root logger from the
    first start-up step (migrations log) to the last clean-up step."""
    ring = app[LOG_RING]
    root = logging.getLogger()
    root.addHandler(ring)
    try:
        yield
    finally:
        root.removeHandler(ring)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    loop = asyncio.get_running_loop()
    db = await loop.run_in_executor(None, open_settings_database, settings)
    try:
        report = await loop.run_in_executor(None, initialize, settings, db)
    except BaseException:
        await loop.run_in_executor(None, db.close)
        raise
    app[DB] = db
    app[ISSUER] = report.issuer
    app[CURSORS] = CursorCodec.from_master_key(report.master_key.key)
    flows = FlowService(db, VersionContentCache())
    app[FLOWS] = flows
    app[ACLS] = AclService(db)
    app[PREVIEW] = PreviewService(flows)
    app[CATALOG] = CatalogService(db, flows)
    app[KEYRING] = report.keyring
    app[CREDENTIALS] = CredentialService(db, report.keyring, settings)
    app[ADMIN] = AdminService(db, report.issuer, app[CREDENTIALS])
    app[KEY_ROTATION] = KeyRotationService(db, report.keyring)
    app[KEY_RETENTION] = KeyRetentionService(db, report.keyring)
    yield
    await loop.run_in_executor(None, db.close)


async def _upstream(app: web.Application) -> AsyncIterator[None]:
    session = create_upstream_session(app[SETTINGS])
    if app[SETTINGS].metrics:
        session.trace_configs.append(upstream_trace_config(app[METRICS].upstream_failures))
    app[UPSTREAM_SESSION] = session
    yield
    await session.close()


async def _identity(app: web.Application) -> AsyncIterator[None]:
    jwks = JwksCache(app[SETTINGS], app[DB], lambda: app[UPSTREAM_SESSION])
    await jwks.start()
    app[JWKS] = jwks
    verifier = TokenVerifier(app[SETTINGS], app[ISSUER], jwks)
    app[IDENTITY] = IdentityService(app[DB], app[SETTINGS], verifier)
    app[READINESS] = Readiness(app[DB], jwks, issuer_loaded=True)
    yield
    await jwks.close()


async def _system(app: web.Application) -> AsyncIterator[None]:
    """The operator's dashboard and log views (after readiness exists)."""
    traffic = app[METRICS].traffic
    app[SYSTEM] = SystemService(app[SETTINGS], app[DB], app[READINESS], app[LOG_RING],
                                started_at=app[METRICS].started_at,
                                recent_traffic=traffic.summary, traffic_totals=traffic.totals,
                                process=lambda: app[LEASES].status())
    # Read once, off the loop: from a source checkout it asks git.
    await asyncio.get_running_loop().run_in_executor(None, build_info)
    yield


async def _scaigrid(app: web.Application) -> AsyncIterator[None]:
    """The ScaiGrid client and what is built on it (after the database and the session)."""
    settings = app[SETTINGS]
    scaigrid = ScaiGridClient(lambda: app[UPSTREAM_SESSION],
                              allowed=scaigrid_allow_list(settings))
    hub = EventHub(scaigrid, poll_interval=settings.event_poll_seconds)
    app[EVENT_HUB] = hub
    app[DEPLOY] = DeployService(app[DB], settings, app[FLOWS], app[CREDENTIALS], scaigrid)
    app[LOOKUPS] = LookupService(app[DB], app[CREDENTIALS], scaigrid, hub)
    yield
    await hub.close()


async def _sign_in(app: web.Application) -> AsyncIterator[None]:
    """Browser sign-in through the appliance (the auth router's exchange and refresh)."""
    settings = app[SETTINGS]
    scaikey = ScaiKeyClient(lambda: app[UPSTREAM_SESSION])
    url = discovery_url(issuer=settings.scaikey_issuer, base_url=settings.scaikey_base_url)
    app[SIGN_IN] = SignInService(settings, scaikey, DiscoveryCache(scaikey, url))
    yield


async def _leases(app: web.Application) -> AsyncIterator[None]:
    """This process's leases: taken before the background work that asks for them starts,
    given up at stop so another process takes over at once."""
    keeper = LeaseKeeper(app[DB], app[SETTINGS].lease_seconds)
    app[LEASES] = keeper
    await keeper.begin()
    yield
    await keeper.close()


async def _directory(app: web.Application) -> AsyncIterator[None]:
    """Directory sync (now, and in the background) and the webhook receiver."""
    settings = app[SETTINGS]
    client = ScaiKeyAdminClient.from_settings(settings, lambda: app[UPSTREAM_SESSION])
    sync = DirectorySync(app[DB], settings, client,
                         leader=lambda: app[LEASES].holds("directory_sync"))
    app[DIRECTORY_SYNC] = sync
    app[WEBHOOKS] = WebhookReceiver(app[DB], settings, sync)
    sync.start()
    yield
    await sync.close()


async def _retention(app: web.Application) -> AsyncIterator[None]:
    """Audit and webhook-event retention, through the writer, in the background."""
    service = RetentionService(app[DB], app[SETTINGS],
                               leader=lambda: app[LEASES].holds("retention"))
    app[RETENTION] = service
    task = asyncio.create_task(service.run_forever(), name="retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _live_editing(app: web.Application) -> AsyncIterator[None]:
    """Presence and the live-editing relay (after identity: sessions re-check their tokens)."""
    settings = app[SETTINGS]
    board = PresenceBoard(expiry_seconds=settings.presence_expiry_seconds)
    app[PRESENCE] = PresenceService(app[DB], board)
    limits = LiveLimits(max_clients_per_flow=settings.live_max_clients_per_flow,
                        max_message_bytes=settings.live_max_message_bytes,
                        send_queue_bytes=settings.live_send_queue_bytes,
                        idle_seconds=settings.live_idle_seconds,
                        ping_seconds=settings.live_ping_seconds,
                        max_document_bytes=settings.live_max_document_bytes)
    documents = LiveDocuments(app[DB], max_bytes=limits.max_document_bytes)
    live = LiveSync(app[DB], app[IDENTITY].authenticate, board, documents, limits)
    app[LIVE_SYNC] = live
    live.start()
    yield
    await live.close()


async def _close_live_sockets(app: web.Application) -> None:
    """on_shutdown: before the server waits for its handlers, every live-editing socket is
    closed with 1001 and every live document stored."""
    if LIVE_SYNC in app:
        await app[LIVE_SYNC].shutdown()


def _resolve_principal(app: web.Application, token: str | None) -> Awaitable[Principal]:
    return app[IDENTITY].authenticate(token)  # its coroutine itself: no layer of our own


def _check_dev_token(app: web.Application, token: str | None) -> None:
    app[DEPLOY].check_dev_token(token)


def create_app(settings: Settings, routes: Iterable[Route] | None = None) -> web.Application:
    """The appliance; `routes` defaults to the whole table (tests add routes of their own).
    ConfigError when the settings cannot serve (`config.check_serving`)."""
    check_serving(settings)
    metrics = ApplianceMetrics()
    app = web.Application(
        # Bodies are read by the dispatcher with each route's own limit (http/route.py).
        client_max_size=16 * 1024 * 1024,
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[LOG_RING] = LogRing()
    edge = Edge(metrics.traffic, metrics.requests if settings.metrics else None,
                settings.access_log, _resolve_principal, _check_dev_token)
    register_routes(app, all_routes() if routes is None else routes, edge)
    app.cleanup_ctx.extend([_log_ring, _database, _upstream, _identity, _system, _scaigrid,
                            _sign_in, _leases, _directory, _retention,
                            _live_editing])
    app.on_shutdown.append(_close_live_sockets)
    return app
