"""What the Flows screens read (SPEC §3-§5, docs/api.md "Admin roles and views"): a tenant's
flows with their owners and soft deletes, a flow's content and versions, the diff between two
versions, its explicit grants, and what validate and compile say about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui.models import list_of, opt_str, str_at, str_list


@dataclass(frozen=True)
class TenantFlow:
    """A row of `GET /api/v1/admin/tenant/flows` (soft-deleted flows included)."""

    id: str
    name: str
    description: str
    owner_id: str
    owner_email: str | None
    version: str
    created_at: str
    updated_at: str
    deleted_at: str | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TenantFlow:
        return cls(id=str_at(data, "id"), name=str_at(data, "name"),
                   description=opt_str(data, "description") or "",
                   owner_id=opt_str(data, "owner_id") or "",
                   owner_email=opt_str(data, "owner_email"),
                   version=str_at(data, "version"),
                   created_at=opt_str(data, "created_at") or "",
                   updated_at=opt_str(data, "updated_at") or "",
                   deleted_at=opt_str(data, "deleted_at"))


@dataclass(frozen=True)
class TenantFlowPage:
    items: tuple[TenantFlow, ...]
    total: int
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TenantFlowPage:
        items = tuple(TenantFlow.from_json(f) for f in list_of(data, "items"))
        total = data.get("total")
        return cls(items=items, total=total if isinstance(total, int) else len(items),
                   next_cursor=opt_str(data, "next_cursor"))


def content_of(data: Mapping[str, Any]) -> Mapping[str, Any]:
    content = data.get("content")
    if not isinstance(content, dict):
        raise ValueError("field 'content' is missing or not an object")
    return content


@dataclass(frozen=True)
class FlowDetail:
    id: str
    name: str
    version: str
    owner_id: str
    tenant_id: str
    content: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlowDetail:
        return cls(id=str_at(data, "id"), name=str_at(data, "name"),
                   version=str_at(data, "version"), owner_id=opt_str(data, "owner_id") or "",
                   tenant_id=opt_str(data, "tenant_id") or "", content=content_of(data))


@dataclass(frozen=True)
class FlowVersion:
    version: str
    created_at: str
    created_by: str
    sha256: str
    size_bytes: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlowVersion:
        size = data.get("size_bytes")
        return cls(version=str_at(data, "version"),
                   created_at=opt_str(data, "created_at") or "",
                   created_by=opt_str(data, "created_by") or "",
                   sha256=opt_str(data, "sha256") or "",
                   size_bytes=size if isinstance(size, int) else 0)


@dataclass(frozen=True)
class VersionPage:
    items: tuple[FlowVersion, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VersionPage:
        return cls(items=tuple(FlowVersion.from_json(v) for v in list_of(data, "items")),
                   next_cursor=opt_str(data, "next_cursor"))


@dataclass(frozen=True)
class VersionContent:
    version: str
    created_at: str
    created_by: str
    content: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VersionContent:
        return cls(version=str_at(data, "version"),
                   created_at=opt_str(data, "created_at") or "",
                   created_by=opt_str(data, "created_by") or "", content=content_of(data))


@dataclass(frozen=True)
class CollectionChanges:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[tuple[str, tuple[str, ...]], ...]  # (id, changed fields)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    @classmethod
    def from_json(cls, data: Any) -> CollectionChanges:
        if not isinstance(data, dict):
            raise ValueError("a diff collection is not an object")
        changed = tuple((str_at(item, "id"), str_list(item, "fields"))
                        for item in data.get("changed") or [] if isinstance(item, dict))
        return cls(added=str_list(data, "added"), removed=str_list(data, "removed"),
                   changed=changed)


@dataclass(frozen=True)
class FlowDiff:
    """`GET /flows/{id}/versions/{version}/diff?against=`: what changed from `from_` to `to`."""

    from_: str
    to: str
    nodes: CollectionChanges
    edges: CollectionChanges
    config_changed: bool
    metadata_changed: bool
    other_changed: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return (self.nodes.empty and self.edges.empty and not self.config_changed
                and not self.metadata_changed and not self.other_changed)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlowDiff:
        return cls(from_=str_at(data, "from"), to=str_at(data, "to"),
                   nodes=CollectionChanges.from_json(data.get("nodes")),
                   edges=CollectionChanges.from_json(data.get("edges")),
                   config_changed=data.get("config_changed") is True,
                   metadata_changed=data.get("metadata_changed") is True,
                   other_changed=str_list(data, "other_changed"))


def diff_lines(diff: FlowDiff) -> list[str]:
    """The diff as an operator reads it: one line per change, nothing when nothing changed."""
    if diff.empty:
        return [f"{diff.from_} → {diff.to}: no differences."]
    lines = [f"{diff.from_} → {diff.to}"]
    for label, changes in (("node", diff.nodes), ("edge", diff.edges)):
        lines += [f"  + {label} {item} added" for item in changes.added]
        lines += [f"  - {label} {item} removed" for item in changes.removed]
        lines += [f"  ~ {label} {item} changed: {', '.join(fields) or 'content'}"
                  for item, fields in changes.changed]
    if diff.config_changed:
        lines.append("  ~ flow config changed (models, plugins, bunker, queues, publishing)")
    if diff.metadata_changed:
        lines.append("  ~ metadata changed")
    lines += [f"  ~ {key} changed" for key in diff.other_changed]
    return lines


@dataclass(frozen=True)
class Acl:
    id: str
    flow_id: str
    principal_type: str
    principal_id: str
    level: str
    granted_by: str
    granted_at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Acl:
        return cls(id=str_at(data, "id"), flow_id=str_at(data, "flow_id"),
                   principal_type=str_at(data, "principal_type"),
                   principal_id=str_at(data, "principal_id"), level=str_at(data, "level"),
                   granted_by=opt_str(data, "granted_by") or "",
                   granted_at=opt_str(data, "granted_at") or "")


def acl_list(data: Any) -> list[Acl]:
    if not isinstance(data, list):
        raise ValueError("expected a list of grants")
    return [Acl.from_json(item) for item in data if isinstance(item, dict)]


@dataclass(frozen=True)
class Diagnostic:
    severity: str
    message: str
    where: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Diagnostic:
        where = opt_str(data, "node_id") or opt_str(data, "edge_id") or opt_str(data, "path")
        return cls(severity=opt_str(data, "severity") or "error",
                   message=str_at(data, "message"), where=where)

    def line(self) -> str:
        return f"{self.severity}: {self.where + ': ' if self.where else ''}{self.message}"


@dataclass(frozen=True)
class Validation:
    valid: bool
    diagnostics: tuple[Diagnostic, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Validation:
        return cls(valid=data.get("valid") is True, diagnostics=tuple(
            Diagnostic.from_json(d) for d in list_of(data, "diagnostics")))


@dataclass(frozen=True)
class Compiled:
    format: str
    body: str | None
    errors: tuple[Diagnostic, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Compiled:
        return cls(format=opt_str(data, "format") or "?", body=opt_str(data, "body"),
                   errors=tuple(Diagnostic.from_json(d) for d in list_of(data, "errors")))
