"""What the operator TUI reads about the directory mirror (SPEC §12, §13): mirrored groups, the
answer of a sync, and the sync and webhook status, as typed values parsed from the JSON."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui.models import count_at, opt_str, str_at, str_list

NOT_CONFIGURED = "credentials_missing"


def _flag(data: Mapping[str, Any], key: str) -> bool:
    return data.get(key) is True


def _seconds(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


@dataclass(frozen=True)
class Group:
    id: str
    tenant_id: str
    name: str
    member_count: int
    super_admin_group: bool
    created_at: str
    last_synced_at: str | None
    deleted_at: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Group:
        return cls(id=str_at(data, "id"), tenant_id=str_at(data, "tenant_id"),
                   name=opt_str(data, "name") or "", member_count=count_at(data, "member_count"),
                   super_admin_group=_flag(data, "super_admin_group"),
                   created_at=opt_str(data, "created_at") or "",
                   last_synced_at=opt_str(data, "last_synced_at"),
                   deleted_at=opt_str(data, "deleted_at"))


@dataclass(frozen=True)
class SyncResult:
    """`POST /api/v1/admin/sync`: what changed, or why nothing was synced."""

    skipped_reason: str | None
    users_method: str | None
    users_seen: int
    users_added: int
    users_undeleted: int
    users_soft_deleted: int
    groups_seen: int
    groups_added: int
    groups_undeleted: int
    groups_soft_deleted: int
    memberships_seen: int
    memberships_added: int
    memberships_soft_deleted: int
    super_admin_count: int
    super_admins_group_promoted: int
    super_admins_group_demoted: int
    duration_seconds: float

    @property
    def not_configured(self) -> bool:
        return self.skipped_reason == NOT_CONFIGURED

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SyncResult:
        if not isinstance(data, dict):
            raise ValueError("expected the sync result object")
        return cls(skipped_reason=opt_str(data, "skipped_reason"),
                   users_method=opt_str(data, "users_method"),
                   users_seen=count_at(data, "users_seen"),
                   users_added=count_at(data, "users_added"),
                   users_undeleted=count_at(data, "users_undeleted"),
                   users_soft_deleted=count_at(data, "users_soft_deleted"),
                   groups_seen=count_at(data, "groups_seen"),
                   groups_added=count_at(data, "groups_added"),
                   groups_undeleted=count_at(data, "groups_undeleted"),
                   groups_soft_deleted=count_at(data, "groups_soft_deleted"),
                   memberships_seen=count_at(data, "memberships_seen"),
                   memberships_added=count_at(data, "memberships_added"),
                   memberships_soft_deleted=count_at(data, "memberships_soft_deleted"),
                   super_admin_count=count_at(data, "super_admin_count"),
                   super_admins_group_promoted=count_at(data, "super_admins_group_promoted"),
                   super_admins_group_demoted=count_at(data, "super_admins_group_demoted"),
                   duration_seconds=_seconds(data, "duration_seconds") or 0.0)


@dataclass(frozen=True)
class LastSync:
    trigger: str
    started_at: str
    finished_at: str
    ok: bool
    error: str | None
    result: SyncResult | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LastSync:
        result = data.get("result")
        return cls(trigger=opt_str(data, "trigger") or "?",
                   started_at=opt_str(data, "started_at") or "",
                   finished_at=opt_str(data, "finished_at") or "",
                   ok=_flag(data, "ok"), error=opt_str(data, "error"),
                   result=SyncResult.from_json(result) if isinstance(result, dict) else None)


@dataclass(frozen=True)
class WebhookActivity:
    configured: bool
    received_24h: int
    handled_24h: int
    last_received_at: str | None
    last_event_type: str | None

    @classmethod
    def from_json(cls, data: Any) -> WebhookActivity:
        if not isinstance(data, dict):
            raise ValueError("field 'webhooks' is missing or not an object")
        return cls(configured=_flag(data, "configured"),
                   received_24h=count_at(data, "received_24h"),
                   handled_24h=count_at(data, "handled_24h"),
                   last_received_at=opt_str(data, "last_received_at"),
                   last_event_type=opt_str(data, "last_event_type"))


@dataclass(frozen=True)
class SyncStatus:
    """`GET /api/v1/admin/sync/status`: the schedule, the last sync and webhook activity."""

    configured: bool
    interval_minutes: int
    super_admin_groups: tuple[str, ...]
    running: bool
    next_run_in_seconds: float | None
    last: LastSync | None
    webhooks: WebhookActivity

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SyncStatus:
        if not isinstance(data, dict):
            raise ValueError("expected the sync status object")
        last = data.get("last")
        return cls(configured=_flag(data, "configured"),
                   interval_minutes=count_at(data, "interval_minutes"),
                   super_admin_groups=str_list(data, "super_admin_groups"),
                   running=_flag(data, "running"),
                   next_run_in_seconds=_seconds(data, "next_run_in_seconds"),
                   last=LastSync.from_json(last) if isinstance(last, dict) else None,
                   webhooks=WebhookActivity.from_json(data.get("webhooks")))


def users_method_text(method: str | None) -> str:
    return {"effective_users": "effective users",
            "member_walk": "member walk (effective users refused)"}.get(method or "",
                                                                        method or "-")


def counters_lines(result: SyncResult) -> tuple[str, str]:
    """The counters of a sync in two compact lines (users and groups; memberships and super
    admins)."""
    r = result
    return (f"users {r.users_seen} seen, {r.users_added} added, {r.users_undeleted} undeleted, "
            f"{r.users_soft_deleted} soft-deleted · groups {r.groups_seen} seen, "
            f"{r.groups_added} added, {r.groups_undeleted} undeleted, "
            f"{r.groups_soft_deleted} soft-deleted",
            f"memberships {r.memberships_seen} seen, {r.memberships_added} added, "
            f"{r.memberships_soft_deleted} soft-deleted · super admins {r.super_admin_count} "
            f"(by group: {r.super_admins_group_promoted} promoted, "
            f"{r.super_admins_group_demoted} demoted)")
