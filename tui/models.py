"""What the operator TUI reads from the appliance, as typed values parsed from its JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def str_at(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise ValueError(f"field {key!r} is missing or not a string")
    return value


def opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def str_list(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(str(v) for v in value if v is not None)


def count_at(data: Mapping[str, Any], key: str) -> int:
    """A count the appliance reports; 0 when it is missing or not an integer."""
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def list_of(data: Any, key: str) -> Sequence[Mapping[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValueError(f"expected an object with a list {key!r}")
    return [item for item in data[key] if isinstance(item, dict)]


def parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class IssuerStatus:
    issuer: str | None
    key_ids: tuple[str, ...]
    age_seconds: float | None
    source: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IssuerStatus:
        age = data.get("age_seconds")
        return cls(issuer=opt_str(data, "issuer"), key_ids=str_list(data, "key_ids"),
                   age_seconds=float(age) if isinstance(age, int | float) else None,
                   source=opt_str(data, "source") or "?")


@dataclass(frozen=True)
class Readiness:
    status: str
    reasons: tuple[str, ...]
    issuers: tuple[IssuerStatus, ...]

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Readiness:
        issuers = data.get("issuers")
        return cls(status=str_at(data, "status"), reasons=str_list(data, "reasons"),
                   issuers=tuple(IssuerStatus.from_json(i) for i in issuers or []
                                 if isinstance(i, dict)))


@dataclass(frozen=True)
class Me:
    sub: str
    tenant_id: str
    email: str | None
    display_name: str | None
    permissions: tuple[str, ...]
    admin_role: str | None
    admin_role_source: str | None
    token_source: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Me:
        return cls(sub=str_at(data, "sub"), tenant_id=str_at(data, "tenant_id"),
                   email=opt_str(data, "email"), display_name=opt_str(data, "display_name"),
                   permissions=str_list(data, "permissions"),
                   admin_role=opt_str(data, "admin_role"),
                   admin_role_source=opt_str(data, "admin_role_source"),
                   token_source=opt_str(data, "token_source"))


@dataclass(frozen=True)
class User:
    id: str
    tenant_id: str
    email: str | None
    display_name: str | None
    status: str
    admin_role: str | None
    admin_role_source: str | None
    deleted_at: str | None
    last_synced_at: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> User:
        return cls(id=str_at(data, "id"), tenant_id=str_at(data, "tenant_id"),
                   email=opt_str(data, "email"), display_name=opt_str(data, "display_name"),
                   status=opt_str(data, "status") or "?",
                   admin_role=opt_str(data, "admin_role"),
                   admin_role_source=opt_str(data, "admin_role_source"),
                   deleted_at=opt_str(data, "deleted_at"),
                   last_synced_at=opt_str(data, "last_synced_at"))


@dataclass(frozen=True)
class ServiceToken:
    id: str
    tenant_id: str
    sub: str
    scope: str
    description: str
    created_by: str
    created_at: str
    expires_at: str
    revoked_at: str | None

    def state(self, now: datetime | None = None) -> str:
        """`revoked`, `expired` or `active`."""
        if self.revoked_at:
            return "revoked"
        expires = parse_timestamp(self.expires_at)
        if expires is not None and expires <= (now or datetime.now(UTC)):
            return "expired"
        return "active"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServiceToken:
        return cls(id=str_at(data, "id"), tenant_id=str_at(data, "tenant_id"),
                   sub=str_at(data, "sub"), scope=opt_str(data, "scope") or "",
                   description=opt_str(data, "description") or "",
                   created_by=opt_str(data, "created_by") or "",
                   created_at=opt_str(data, "created_at") or "",
                   expires_at=opt_str(data, "expires_at") or "",
                   revoked_at=opt_str(data, "revoked_at"))


@dataclass(frozen=True)
class MintedServiceToken:
    id: str
    token: str = field(repr=False)
    expires_at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MintedServiceToken:
        return cls(id=str_at(data, "id"), token=str_at(data, "token"),
                   expires_at=str_at(data, "expires_at"))


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    tenant_id: str | None
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    details: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditEntry:
        entry_id = data.get("id")
        if not isinstance(entry_id, int):
            raise ValueError("field 'id' is missing or not an integer")
        details = data.get("details")
        return cls(id=entry_id, at=opt_str(data, "at") or "",
                   tenant_id=opt_str(data, "tenant_id"), actor=opt_str(data, "actor") or "",
                   action=str_at(data, "action"), target_type=opt_str(data, "target_type"),
                   target_id=opt_str(data, "target_id"),
                   details=details if isinstance(details, dict) else {})


@dataclass(frozen=True)
class AuditPage:
    items: tuple[AuditEntry, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AuditPage:
        cursor = data.get("next_cursor")
        return cls(items=tuple(AuditEntry.from_json(e) for e in list_of(data, "items")),
                   next_cursor=cursor if isinstance(cursor, str) else None)


@dataclass(frozen=True)
class TenantCredentials:
    """A tenant's ScaiGrid credentials as the appliance shows them: never the key itself."""

    configured: bool
    base_url: str | None
    masked_key: str | None
    readable: bool
    base_url_stored: bool = False  # False: base_url is the appliance's SCAIGRID_BASE_URL

    @property
    def state(self) -> str:
        """`not set`, `unreadable` or `set`."""
        if not self.configured:
            return "not set"
        return "set" if self.readable else "unreadable"

    @classmethod
    def from_json(cls, data: Any) -> TenantCredentials:
        if not isinstance(data, dict):
            raise ValueError("field 'scaigrid_credentials' is missing or not an object")
        readable = data.get("readable")
        return cls(configured=data.get("configured") is True,
                   base_url=opt_str(data, "base_url"), masked_key=opt_str(data, "masked_key"),
                   readable=readable is not False,
                   base_url_stored=data.get("base_url_stored") is True)


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    source: str
    created_at: str
    users: int
    flows: int
    packages: int
    credentials: TenantCredentials

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tenant:
        return cls(id=str_at(data, "id"), name=opt_str(data, "name") or "",
                   source=opt_str(data, "source") or "?",
                   created_at=opt_str(data, "created_at") or "",
                   users=count_at(data, "users"), flows=count_at(data, "flows"),
                   packages=count_at(data, "packages"),
                   credentials=TenantCredentials.from_json(data.get("scaigrid_credentials")))


@dataclass(frozen=True)
class KeyRotation:
    """The answer of `POST /api/v1/admin/keys/rotate` (ids and counts, never a key)."""

    kek_id: str
    data_keys: int
    secrets_reencrypted: int
    issuer_keys: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeyRotation:
        return cls(kek_id=str_at(data, "kek_id"), data_keys=count_at(data, "data_keys"),
                   secrets_reencrypted=count_at(data, "secrets_reencrypted"),
                   issuer_keys=count_at(data, "issuer_keys"))


@dataclass(frozen=True)
class FlowSummary:
    id: str
    name: str
    description: str
    owner_id: str
    tenant_id: str
    version: str
    created_at: str
    updated_at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlowSummary:
        return cls(id=str_at(data, "id"), name=str_at(data, "name"),
                   description=opt_str(data, "description") or "",
                   owner_id=opt_str(data, "owner_id") or "",
                   tenant_id=opt_str(data, "tenant_id") or "",
                   version=str_at(data, "version"),
                   created_at=opt_str(data, "created_at") or "",
                   updated_at=opt_str(data, "updated_at") or "")


@dataclass(frozen=True)
class FlowPage:
    items: tuple[FlowSummary, ...]
    total: int
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlowPage:
        items = tuple(FlowSummary.from_json(f) for f in list_of(data, "items"))
        total = data.get("total")
        return cls(items=items, total=total if isinstance(total, int) else len(items),
                   next_cursor=opt_str(data, "next_cursor"))


@dataclass(frozen=True)
class Deployment:
    id: str
    flow_id: str
    version: str
    core_id: str | None
    published_slug: str | None
    status: str
    error: str | None
    deployed_by: str
    created_at: str
    duration_ms: int | None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Deployment:
        duration = data.get("duration_ms")
        return cls(id=str_at(data, "id"), flow_id=str_at(data, "flow_id"),
                   version=str_at(data, "version"), core_id=opt_str(data, "core_id"),
                   published_slug=opt_str(data, "published_slug"),
                   status=str_at(data, "status"), error=opt_str(data, "error"),
                   deployed_by=opt_str(data, "deployed_by") or "",
                   created_at=opt_str(data, "created_at") or "",
                   duration_ms=duration if isinstance(duration, int) else None)


@dataclass(frozen=True)
class DeploymentPage:
    items: tuple[Deployment, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeploymentPage:
        return cls(items=tuple(Deployment.from_json(d) for d in list_of(data, "items")),
                   next_cursor=opt_str(data, "next_cursor"))
