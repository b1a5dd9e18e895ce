"""ScaiKey webhooks (SPEC §13): the signature check and what each event does to the mirror.

Authentication is the HMAC alone: `X-ScaiKey-Signature: t=<unix>,v1=<hex>` where the hex is
HMAC-SHA256(`SCAIFLOW_SCAIKEY_WEBHOOK_SECRET`, `"<t>." + raw body bytes`), compared in
constant time (several `v1` values are accepted, one must match: a sender rotating its
secret signs with both). The timestamp is `t`, else `X-ScaiKey-Timestamp`; when both are
present they must agree. It must be within 300 s of now, and an event id already processed
in the last 24 h is answered as a duplicate without being applied again. An event without
an id is deduplicated by its signature (the same `t` and body sign the same).

Each event is applied in one transaction together with its dedupe row and an audit row, so a
retry after a failure is applied, and a retry after success is a duplicate. Effects apply at
once: the next request reads the mirror as changed (the principal cache is commit-scoped).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from scaiflow_box.config import Settings
from scaiflow_box.errors import InvalidInput, NotConfigured
from scaiflow_box.ids import is_plain_id
from scaiflow_box.services.directory_sync import DirectorySync
from scaiflow_box.services.roles import reconcile_group_super_admins
from scaiflow_box.store import audit, directory
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection
from scaiflow_box.timestamps import iso, now_iso, utc_now

log = logging.getLogger(__name__)

ACTOR = "scaikey-webhook"
REPLAY_WINDOW_SECONDS = 300
DEDUPE_WINDOW = timedelta(hours=24)
MAX_SIGNATURE_VALUES = 8
MAX_TEXT = 320

USER_UPSERT = frozenset({"user.created", "user.updated"})
USER_STATUS = {"user.suspended": "SUSPENDED", "user.activated": "ACTIVE"}
GROUP_UPSERT = frozenset({"group.created", "group.updated"})
MEMBER_ADDED = frozenset({"group_membership.added", "group.member_added"})
MEMBER_REMOVED = frozenset({"group_membership.removed", "group.member_removed"})
APPLICATION = frozenset({"application.group_assigned", "application.group_unassigned"})
HANDLED_TYPES = (USER_UPSERT | set(USER_STATUS) | {"user.deleted"} | GROUP_UPSERT
                 | {"group.deleted"} | MEMBER_ADDED | MEMBER_REMOVED | APPLICATION)


def invalid_signature(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_signature",
                        fix="Sign as ScaiKey does: X-ScaiKey-Signature: t=<unix>,v1=<hex "
                            "HMAC-SHA256 of '<t>.<body>'> with the shared webhook secret.")


def invalid_event(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_event")


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The lowercase hex signature of `body` at `timestamp` (also what the tests send)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _parse_signature(header: str) -> tuple[str | None, list[str]]:
    """(t, [v1 values]) of `t=<unix>,v1=<hex>`; keys are read case-insensitively."""
    timestamp: str | None = None
    values: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "t":
            timestamp = value.strip()
        elif key == "v1" and len(values) < MAX_SIGNATURE_VALUES and value.isascii():
            # Only ASCII can be hex (and compare_digest refuses other strings).
            values.append(value.strip().lower())
    return timestamp, values


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str | None
    tenant_id: str | None
    data: dict[str, Any]

    def text(self, *names: str) -> str | None:
        for name in names:
            value = self.data.get(name)
            if isinstance(value, str) and value.strip():
                return value.strip()[:MAX_TEXT]
        return None

    def plain_id(self, *names: str) -> str | None:
        for name in names:
            value = self.data.get(name)
            if is_plain_id(value):
                return value
        return None

    @property
    def user_id(self) -> str | None:
        return self.plain_id("user_id", "id")


def normalize(envelope: Mapping[str, Any], fallback_id: str) -> WebhookEvent:
    """Either envelope spelling — `{type, id, created_at, data}` or `{event_type, event_id,
    timestamp, resource, actor, data, tenant_id}` — as one event; the tenant from the top
    level, else from `data`."""
    data = envelope.get("data")
    data = data if isinstance(data, dict) else {}
    event_type = envelope.get("type") or envelope.get("event_type")
    event_id = envelope.get("id") or envelope.get("event_id")
    tenant_id = envelope.get("tenant_id")
    if not is_plain_id(tenant_id):
        tenant_id = data.get("tenant_id") if is_plain_id(data.get("tenant_id")) else None
    return WebhookEvent(id=event_id if isinstance(event_id, str) and event_id else fallback_id,
                        type=event_type if isinstance(event_type, str) else None,
                        tenant_id=tenant_id, data=data)


class WebhookReceiver:
    def __init__(self, db: Database, settings: Settings, sync: DirectorySync,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.settings = settings
        self.sync = sync
        self._clock = clock

    @property
    def configured(self) -> bool:
        return self.settings.scaikey_webhook_secret is not None

    def verify(self, body: bytes, signature: str | None, timestamp: str | None) -> str:
        """Check the signature over the exact body; returns the dedupe key to use when the
        event carries no id. 503 without a secret, 400 for anything wrong."""
        secret = self.settings.scaikey_webhook_secret
        if secret is None:
            raise NotConfigured("webhooks are not accepted: SCAIFLOW_SCAIKEY_WEBHOOK_SECRET is "
                                "not set", code="webhooks_not_configured",
                                fix="Set SCAIFLOW_SCAIKEY_WEBHOOK_SECRET to the secret "
                                    "ScaiKey signs with.")
        if not signature:
            raise invalid_signature("missing X-ScaiKey-Signature")
        signed_at, values = _parse_signature(signature)
        header_at = timestamp.strip() if timestamp else None
        if signed_at and header_at and signed_at != header_at:
            raise invalid_signature("X-ScaiKey-Timestamp differs from the signature's t")
        moment = signed_at or header_at
        if not moment:
            raise invalid_signature("missing timestamp (t= in X-ScaiKey-Signature or "
                                    "X-ScaiKey-Timestamp)")
        if not (moment.isascii() and moment.isdigit()) or len(moment) > 12:
            raise invalid_signature("the timestamp is not a Unix time in seconds")
        if abs(self._clock() - int(moment)) > REPLAY_WINDOW_SECONDS:
            raise invalid_signature(f"the timestamp is more than {REPLAY_WINDOW_SECONDS} s "
                                    "away from now (replayed, or the clocks differ)")
        if not values:
            raise invalid_signature("missing v1 signature")
        expected = sign(secret, moment, body)
        matched = False
        for value in values:  # every value is compared: the time does not depend on which
            matched |= hmac.compare_digest(expected, value)
        if not matched:
            raise invalid_signature("signature does not match")
        return "sig:" + expected

    async def receive(self, envelope: Mapping[str, Any], *, fallback_id: str,
                      request_id: str | None) -> dict[str, bool]:
        """Apply a verified event; `{"handled": bool}` or `{"handled": true, "duplicate":
        true}`."""
        event = normalize(envelope, fallback_id)
        handled = event.type in HANDLED_TYPES
        # Event ids are remembered for SCAIFLOW_WEBHOOK_DEDUPE_HOURS (the retention task
        # prunes too; this keeps the table bounded between its hourly runs).
        cutoff = iso(utc_now() - timedelta(hours=self.settings.webhook_dedupe_hours))
        received_at = now_iso()

        def run(conn: Connection) -> bool:
            directory.purge_webhook_events(conn, cutoff)
            if not directory.record_webhook_event(
                    conn, event_id=event.id, event_type=event.type, tenant_id=event.tenant_id,
                    handled=handled, received_at=received_at):
                return False
            if handled:
                self._apply(conn, event, request_id)
            return True

        if not await self.db.write(run):
            return {"handled": True, "duplicate": True}
        if event.type in APPLICATION:
            self.sync.request("webhook")  # the application's effective users changed
        if not handled:
            log.info("ScaiKey webhook of unknown type %r ignored", (event.type or "")[:100])
        return {"handled": handled}

    # -- effects (writer thread) -------------------------------------------------------------
    def _apply(self, conn: Connection, event: WebhookEvent,
               request_id: str | None) -> None:
        kind = event.type or ""
        if kind in USER_UPSERT or kind in USER_STATUS or kind == "user.deleted":
            self._user_event(conn, event, request_id)
        elif kind in GROUP_UPSERT or kind == "group.deleted":
            self._group_event(conn, event, request_id)
        elif kind in MEMBER_ADDED or kind in MEMBER_REMOVED:
            self._membership_event(conn, event, request_id)
        elif kind in APPLICATION and event.tenant_id is not None:
            # The refresh that follows syncs every tenant the mirror knows: this one too.
            user_rows.ensure_tenant(conn, event.tenant_id, source="scaikey")
            audit.record(conn, tenant_id=event.tenant_id, actor=ACTOR, action=kind,
                         target_type="group", target_id=event.plain_id("group_id", "id"),
                         details={"event_id": event.id}, request_id=request_id)
        self._reconcile(conn, request_id)

    def _reconcile(self, conn: Connection, request_id: str | None) -> None:
        reconcile_group_super_admins(conn, self.settings.super_admin_groups, actor=ACTOR,
                                     request_id=request_id)

    @staticmethod
    def _tenant_for(conn: Connection, event: WebhookEvent, known: str | None,
                    what: str) -> str:
        """The event's tenant; an object the mirror holds keeps the tenant it has."""
        if known is not None:
            if event.tenant_id is not None and event.tenant_id != known:
                raise invalid_event(f"{what} belongs to another tenant than the event names")
            return known
        if event.tenant_id is None:
            raise invalid_event(f"the event names no tenant for {what} (tenant_id at the top "
                                "level or in data)")
        return event.tenant_id

    def _user_event(self, conn: Connection, event: WebhookEvent,
                    request_id: str | None) -> None:
        kind = event.type or ""
        user_id = event.user_id
        if user_id is None:
            raise invalid_event(f"{kind} names no user (data.user_id or data.id)")
        known = directory.tenant_of_user(conn, user_id)
        if kind == "user.deleted" and known is None and event.tenant_id is None:
            return  # nothing mirrored, and nowhere to put a tombstone
        if directory.is_local_user(conn, user_id):
            raise invalid_event(f"user {user_id} is this appliance's own (local) user, not "
                                "ScaiKey's")
        tenant_id = self._tenant_for(conn, event, known, f"user {user_id}")
        user_rows.ensure_tenant(conn, tenant_id, source="scaikey")
        fields: dict[str, Any] = {}
        if kind in USER_UPSERT:
            email = event.text("email")
            name = event.text("display_name", "name")
            status = event.text("status")
            if email is not None:
                fields["email"] = email
            if name is not None:
                fields["display_name"] = name
            if status is not None and len(status) <= 32:
                fields["status"] = status.upper()
        elif kind in USER_STATUS:
            fields["status"] = USER_STATUS[kind]
        directory.upsert_user_fields(conn, tenant_id=tenant_id, user_id=user_id, fields=fields,
                                     undelete=kind in USER_UPSERT)
        if kind == "user.deleted":
            # Soft delete; the admin role stays (an undelete brings the user back whole).
            user_rows.set_user_status(conn, tenant_id, user_id, deleted=True)
        action = {"user.deleted": "user.soft_deleted", "user.suspended": "user.suspended",
                  "user.activated": "user.activated"}.get(kind, "user.upserted")
        audit.record(conn, tenant_id=tenant_id, actor=ACTOR, action=action, target_type="user",
                     target_id=user_id, details={"event": kind, "event_id": event.id},
                     request_id=request_id)

    def _group_event(self, conn: Connection, event: WebhookEvent,
                     request_id: str | None) -> None:
        kind = event.type or ""
        group_id = event.plain_id("group_id", "id")
        if group_id is None:
            raise invalid_event(f"{kind} names no group (data.group_id or data.id)")
        known = directory.tenant_of_group(conn, group_id)
        if kind == "group.deleted" and known is None:
            return
        tenant_id = self._tenant_for(conn, event, known, f"group {group_id}")
        if kind == "group.deleted":
            directory.soft_delete_group(conn, tenant_id, group_id)
        else:
            user_rows.ensure_tenant(conn, tenant_id, source="scaikey")
            directory.upsert_group(conn, tenant_id, group_id, event.text("name"))
        audit.record(conn, tenant_id=tenant_id, actor=ACTOR,
                     action="group.soft_deleted" if kind == "group.deleted" else "group.upserted",
                     target_type="group", target_id=group_id,
                     details={"event": kind, "event_id": event.id}, request_id=request_id)

    def _membership_event(self, conn: Connection, event: WebhookEvent,
                          request_id: str | None) -> None:
        kind = event.type or ""
        group_id = event.plain_id("group_id")
        user_id = event.plain_id("user_id", "member_id", "id")
        if group_id is None or user_id is None:
            raise invalid_event(f"{kind} needs data.group_id and data.user_id")
        known = directory.tenant_of_group(conn, group_id) or directory.tenant_of_user(
            conn, user_id)
        tenant_id = self._tenant_for(conn, event, known, f"group {group_id}")
        if kind in MEMBER_ADDED:
            if directory.is_local_user(conn, user_id):
                raise invalid_event(f"user {user_id} is this appliance's own (local) user, "
                                    "not a member of ScaiKey's groups")
            user_rows.ensure_tenant(conn, tenant_id, source="scaikey")
            if directory.tenant_of_group(conn, group_id) is None:
                # The group's own event may arrive later: a named placeholder until then.
                directory.upsert_group(conn, tenant_id, group_id, event.text("group_name"))
            user_rows.add_membership(conn, tenant_id, group_id, user_id)
        else:
            directory.soft_delete_membership(conn, tenant_id, group_id, user_id)
        audit.record(conn, tenant_id=tenant_id, actor=ACTOR,
                     action="membership.added" if kind in MEMBER_ADDED else "membership.removed",
                     target_type="group", target_id=group_id,
                     details={"user_id": user_id, "event": kind, "event_id": event.id},
                     request_id=request_id)

    async def activity(self) -> dict[str, Any]:
        """Events accepted in the last 24 h (the dedupe window) and the latest one."""
        since = iso(utc_now() - DEDUPE_WINDOW)
        seen = await self.db.read(lambda conn: directory.webhook_activity(conn, since))
        return {"configured": self.configured, "received_24h": seen["received"],
                "handled_24h": seen["handled"], "last_received_at": seen["last_received_at"],
                "last_event_type": seen["last_event_type"]}
