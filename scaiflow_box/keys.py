"""Typed application and request keys (no string keys in app[...]).

Services are classes built in `app.py` with their dependencies passed in; handlers reach them
through these keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

from scaiflow_box.http.route_table import ROUTES
from scaiflow_box.http.state import CURSORS, PRINCIPAL, REQUEST_ID, SETTINGS

if TYPE_CHECKING:
    from scaiflow_box.auth.issuer import LocalIssuer
    from scaiflow_box.auth.jwks import JwksCache
    from scaiflow_box.crypto.keyring import Keyring
    from scaiflow_box.http.metrics import ApplianceMetrics
    from scaiflow_box.log_ring import LogRing
    from scaiflow_box.services.acls import AclService
    from scaiflow_box.services.admin import AdminService
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
    from scaiflow_box.services.live_sync import LiveSync
    from scaiflow_box.services.lookups import LookupService
    from scaiflow_box.services.presence import PresenceService
    from scaiflow_box.services.preview import PreviewService
    from scaiflow_box.services.readiness import Readiness
    from scaiflow_box.services.retention import RetentionService
    from scaiflow_box.services.sign_in import SignInService
    from scaiflow_box.services.system import SystemService
    from scaiflow_box.services.webhooks import WebhookReceiver
    from scaiflow_box.store.database import Database

DB: web.AppKey[Database] = web.AppKey("db")
ISSUER: web.AppKey[LocalIssuer] = web.AppKey("issuer")
JWKS: web.AppKey[JwksCache] = web.AppKey("jwks")
UPSTREAM_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("upstream_session")

IDENTITY: web.AppKey[IdentityService] = web.AppKey("identity")
FLOWS: web.AppKey[FlowService] = web.AppKey("flows")
ACLS: web.AppKey[AclService] = web.AppKey("acls")
PREVIEW: web.AppKey[PreviewService] = web.AppKey("preview")
CATALOG: web.AppKey[CatalogService] = web.AppKey("catalog")
ADMIN: web.AppKey[AdminService] = web.AppKey("admin")
READINESS: web.AppKey[Readiness] = web.AppKey("readiness")
METRICS: web.AppKey[ApplianceMetrics] = web.AppKey("metrics")
RETENTION: web.AppKey[RetentionService] = web.AppKey("retention")
LEASES: web.AppKey[LeaseKeeper] = web.AppKey("leases")
KEYRING: web.AppKey[Keyring] = web.AppKey("keyring")
CREDENTIALS: web.AppKey[CredentialService] = web.AppKey("credentials")
DEPLOY: web.AppKey[DeployService] = web.AppKey("deploy")
LOOKUPS: web.AppKey[LookupService] = web.AppKey("lookups")
EVENT_HUB: web.AppKey[EventHub] = web.AppKey("event_hub")
KEY_ROTATION: web.AppKey[KeyRotationService] = web.AppKey("key_rotation")
KEY_RETENTION: web.AppKey[KeyRetentionService] = web.AppKey("key_retention")
SIGN_IN: web.AppKey[SignInService] = web.AppKey("sign_in")
LOG_RING: web.AppKey[LogRing] = web.AppKey("log_ring")
SYSTEM: web.AppKey[SystemService] = web.AppKey("system")


DIRECTORY_SYNC: web.AppKey[DirectorySync] = web.AppKey("directory_sync")
WEBHOOKS: web.AppKey[WebhookReceiver] = web.AppKey("webhooks")
PRESENCE: web.AppKey[PresenceService] = web.AppKey("presence")
LIVE_SYNC: web.AppKey[LiveSync] = web.AppKey("live_sync")


__all__ = ["ACLS", "ADMIN", "CATALOG", "CREDENTIALS", "CURSORS", "DB", "DEPLOY", "DIRECTORY_SYNC",
           "EVENT_HUB", "FLOWS", "IDENTITY", "ISSUER", "JWKS", "KEYRING", "KEY_RETENTION",
           "KEY_ROTATION", "LIVE_SYNC", "LOG_RING", "LOOKUPS", "METRICS", "PRESENCE", "PREVIEW",
           "PRINCIPAL", "READINESS", "REQUEST_ID", "RETENTION", "ROUTES", "SETTINGS", "SIGN_IN",
           "SYSTEM", "UPSTREAM_SESSION", "WEBHOOKS"]
