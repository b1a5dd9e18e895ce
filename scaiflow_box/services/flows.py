"""Flows with full version history (SPEC §3): the domain rules between handlers and store.

Each public method checks the caller's permission once (`scaicore:view` for reads,
`scaicore:manage` for writes) and the flow's ACL level inside the read or the write
transaction that uses the row, so the check and the change see the same state.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from scaiflow_box.auth.principal import Principal
from scaiflow_box.compiler.schema import structural_errors
from scaiflow_box.errors import InvalidFields, NotFound
from scaiflow_box.ids import new_id
from scaiflow_box.services.access import (
    check_level,
    flow_not_found,
    granted_level,
    require_level,
)
from scaiflow_box.services.flow_diff import diff_contents
from scaiflow_box.services.preconditions import check_if_match, flow_etag
from scaiflow_box.store import audit
from scaiflow_box.store import deployments as deployment_rows
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store.cache_loads import flow_value
from scaiflow_box.store.content_cache import VersionContentCache
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection, Row
from scaiflow_box.store.flows import SummaryPage
from scaiflow_box.store.read_cache import MISSING, tenant_bucket
from scaiflow_box.timestamps import now_iso

FIRST_VERSION = "1.0.0"
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
# Validating a big graph is CPU work: above this many nodes it leaves the event loop
# (the structural check costs ~4 us per node, so 200 nodes stay under a millisecond).
_INLINE_VALIDATION_NODES = 200


def bump_patch(version: str) -> str:
    match = _SEMVER.match(version)
    if match is None:
        raise ValueError(f"not a MAJOR.MINOR.PATCH version: {version!r}")
    major, minor, patch = (int(g) for g in match.groups())
    return f"{major}.{minor}.{patch + 1}"


def version_not_found(version: str | None = None) -> NotFound:
    return NotFound("Version not found" if version is None else f"Version {version} not found")


def detail_bytes(row: Row | Mapping[str, Any], content: bytes) -> bytes:
    """FlowDetail = the stored summary + content, spliced from stored bytes (nothing is
    re-serialized)."""
    summary: bytes = row["summary"]
    return summary[:-1] + b',"content":' + content + b"}"


class FlowDetail(NamedTuple):
    """A flow as `GET /flows/{id}` answers it. The read cache keeps it as an exact tuple
    (`kept()`, re-typed with `FlowDetail._make` on the way out): the collector stops
    tracking an exact tuple of strings and bytes, never a NamedTuple, and a tracked answer
    kept its bucket dict tracked too, so 20,000 cached flows were 40,000 objects every full
    collection walked (docs/performance.md)."""

    body: bytes  # the FlowDetail JSON
    etag: str
    owner_id: str

    @classmethod
    def of(cls, row: Row | Mapping[str, Any], content: bytes) -> FlowDetail:
        return cls(detail_bytes(row, content), flow_etag(row), row["owner_id"])

    def kept(self) -> tuple[bytes, str, str]:
        """The exact tuple the read cache keeps."""
        return (self.body, self.etag, self.owner_id)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_key: tuple[Any, ...] | None  # what the next page starts after (the handler signs it)
    total: int | None = None


def _load_detail(conn: Connection, contents: VersionContentCache, tenant_id: str,
                 flow_id: str) -> FlowDetail:
    """A flow's answer from its row and its current version's content (from `contents` when
    held there): one primary-key read, two without the content."""
    flow = flow_rows.get_flow(conn, tenant_id, flow_id)
    if flow is None:
        raise flow_not_found()
    cached = contents.get(flow_id, flow["version"])
    if cached is not None:
        return FlowDetail.of(flow, cached)
    row = flow_rows.get_version(conn, tenant_id, flow_id, flow["version"])
    if row is None:
        raise version_not_found()
    return FlowDetail.of(flow, bytes(row["content"]))


class FlowService:
    def __init__(self, db: Database, cache: VersionContentCache) -> None:
        self.db = db
        self.cache = cache

    # -- helpers ---------------------------------------------------------------------
    async def _check_content(self, content: dict[str, Any], flow_id: str) -> None:
        """422 with FastAPI's list shape when content is not a structurally valid FlowGraph.

        `id` and `version` are the server's (it overwrites them), so a client may omit them.
        """
        content = {**content, "id": flow_id, "version": FIRST_VERSION}
        nodes = content.get("nodes")
        if isinstance(nodes, list) and len(nodes) > _INLINE_VALIDATION_NODES:
            errors = await asyncio.get_running_loop().run_in_executor(
                None, structural_errors, content
            )
        else:
            errors = structural_errors(content)
        if errors:
            raise InvalidFields([{**e, "loc": ["body", "content", *e["loc"]]} for e in errors])

    def _content(self, conn: Connection, tenant_id: str, flow_id: str,
                 version: str, *, on_loop: bool = True) -> bytes:
        """A version's stored bytes; the cache is only touched from the event loop thread."""
        if on_loop:
            cached = self.cache.get(flow_id, version)
            if cached is not None:
                return cached
        row = flow_rows.get_version(conn, tenant_id, flow_id, version)
        if row is None:
            raise version_not_found()
        content = bytes(row["content"])
        if on_loop:
            self.cache.put(flow_id, version, content)
        return content

    @staticmethod
    def _serialize(content: dict[str, Any], flow_id: str, version: str) -> tuple[bytes, str]:
        stored = dict(content)
        stored["id"] = flow_id  # the server owns content.id and content.version
        stored["version"] = version
        data = orjson.dumps(stored)
        return data, hashlib.sha256(data).hexdigest()

    def _append_version(self, conn: Connection, flow: Row,
                        content: dict[str, Any], actor: str, now: str) -> tuple[str, bytes]:
        version = bump_patch(flow["version"])
        data, digest = self._serialize(content, flow["id"], version)
        flow_rows.insert_version(conn, flow_id=flow["id"], tenant_id=flow["tenant_id"],
                                 seq=flow["version_seq"] + 1, version=version, content=data,
                                 sha256=digest, created_by=actor, now=now)
        return version, data

    # -- reads -----------------------------------------------------------------------
    async def get(self, principal: Principal, flow_id: str) -> FlowDetail:
        """The flow's answer, read once per change of the flow (store/read_cache.py), and the
        caller's access to it, read once per change of the flow's ACLs."""
        principal.require_view()
        tenant_id = principal.tenant_id
        cache = self.db.read_cache
        kept: tuple[bytes, str, str] = cache.peek(flow_id, ("detail", tenant_id))
        if kept is MISSING:  # else no loader is built: the read every canvas polls
            kept = await flow_value(cache, flow_id, ("detail", tenant_id),
                                    lambda: self.db.read_small(
                                        lambda conn: _load_detail(conn, self.cache, tenant_id,
                                                                  flow_id).kept()),
                                    weigh=lambda d: len(d[0]))
        detail = FlowDetail._make(kept)
        if not (principal.is_tenant_admin or detail.owner_id == principal.sub):
            level = await flow_value(cache, flow_id, ("level", tenant_id, principal.sub),
                                     lambda: self.db.read_small(lambda conn: granted_level(
                                         conn, principal, flow_id)))
            require_level(level, "view")
        return detail

    async def content_for(self, principal: Principal, flow_id: str, version: str | None,
                    level: str) -> tuple[str, bytes]:
        """(version, stored content) of the current or a named version, needing the `level`
        ACL. The calling service checks the caller's permission."""
        def run(conn: Connection) -> tuple[str, bytes]:
            flow = check_level(conn, principal, flow_id, level)
            chosen = version or flow["version"]
            return chosen, self._content(conn, principal.tenant_id, flow_id, chosen)

        return await self.db.read_small(run)

    async def list_visible(self, principal: Principal, *, search: str | None,
                           after: tuple[str, str] | None, limit: int) -> SummaryPage:
        """The flows the caller can view, newest first, as their stored summary JSON."""
        principal.require_view()
        # Kept until a flow of the tenant, or anything else, changes (store/read_cache.py).
        cache = self.db.read_cache
        bucket = tenant_bucket(principal.tenant_id)
        key = ("list", principal.sub, principal.is_tenant_admin, search, after, limit)
        kept: tuple[str, tuple[str, str] | None, int] = cache.peek(bucket, key)
        if kept is not MISSING:
            return SummaryPage._make(kept)
        loaded_at = cache.drops
        page = await self.db.read(lambda conn: flow_rows.list_summaries(
            conn, tenant_id=principal.tenant_id, user_id=principal.sub,
            can_see_all=principal.is_tenant_admin, search=search, after=after, limit=limit))
        # An exact tuple: untracked by the collector, as FlowDetail's (above).
        cache.keep(bucket, key, (page.items_json, page.last_key, page.total),
                   len(page.items_json), loaded_at)
        return page

    async def versions(self, principal: Principal, flow_id: str, *, before_seq: int | None,
                 limit: int) -> Page:
        principal.require_view()

        def run(conn: Connection) -> list[Row]:
            check_level(conn, principal, flow_id, "view")
            return flow_rows.list_versions(conn, principal.tenant_id, flow_id,
                                           before_seq=before_seq, limit=limit + 1)

        rows = await self.db.read_small(run)
        page = rows[:limit]
        items = [{"version": r["version"], "created_at": r["created_at"],
                  "created_by": r["created_by"], "sha256": r["sha256"],
                  "size_bytes": r["size_bytes"]} for r in page]
        return Page(items, (page[-1]["seq"],) if len(rows) > limit else None)

    async def version(self, principal: Principal, flow_id: str, version: str) -> bytes:
        """`{"version", "created_at", "created_by", "content"}` as JSON bytes."""
        principal.require_view()

        def run(conn: Connection) -> bytes:
            check_level(conn, principal, flow_id, "view")
            row = flow_rows.get_version(conn, principal.tenant_id, flow_id, version)
            if row is None:
                raise version_not_found()
            head = orjson.dumps({"version": row["version"], "created_at": row["created_at"],
                                 "created_by": row["created_by"]})
            return head[:-1] + b',"content":' + bytes(row["content"]) + b"}"

        return await self.db.read_small(run)

    async def diff(self, principal: Principal, flow_id: str, version: str,
             against: str | None) -> dict[str, Any]:
        principal.require_view()

        def run(conn: Connection) -> dict[str, Any]:
            check_level(conn, principal, flow_id, "view")
            target = flow_rows.get_version(conn, principal.tenant_id, flow_id, version)
            if target is None:
                raise version_not_found()
            if against is None:
                base = flow_rows.previous_version(conn, principal.tenant_id, flow_id,
                                                  target["seq"])
                if base is None:  # the first version: diff against itself (empty diff)
                    base = target
            else:
                base = flow_rows.get_version(conn, principal.tenant_id, flow_id, against)
                if base is None:
                    raise version_not_found(against)
            return diff_contents(orjson.loads(base["content"]), orjson.loads(target["content"]),
                                 base["version"], target["version"])

        return await self.db.read_small(run)

    async def deployments(self, principal: Principal, flow_id: str, *,
                    before: tuple[str, str] | None, limit: int) -> Page:
        principal.require_view()

        def run(conn: Connection) -> list[Row]:
            check_level(conn, principal, flow_id, "view")
            return deployment_rows.list_deployments(conn, principal.tenant_id, flow_id,
                                              before=before, limit=limit + 1)

        rows = await self.db.read_small(run)
        page = rows[:limit]
        next_key = (page[-1]["created_at"], page[-1]["id"]) if len(rows) > limit else None
        return Page([dict(r) for r in page], next_key)

    # -- writes ----------------------------------------------------------------------
    async def create(self, principal: Principal, *, name: str, description: str,
                     content: dict[str, Any], request_id: str | None) -> FlowDetail:
        principal.require_manage()
        flow_id = new_id("flow")
        await self._check_content(content, flow_id)

        def run(conn: Connection) -> FlowDetail:
            now = now_iso()
            row = flow_rows.insert_flow(conn, flow_id=flow_id, tenant_id=principal.tenant_id,
                                        name=name, description=description,
                                        owner_id=principal.sub, version=FIRST_VERSION, now=now)
            data, digest = self._serialize(content, flow_id, FIRST_VERSION)
            flow_rows.insert_version(conn, flow_id=flow_id, tenant_id=principal.tenant_id,
                                     seq=1, version=FIRST_VERSION, content=data, sha256=digest,
                                     created_by=principal.sub, now=now)
            audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                         action="flow.created", target_type="flow", target_id=flow_id,
                         details={"name": name, "version": FIRST_VERSION},
                         request_id=request_id)
            return FlowDetail.of(row, data)

        return await self.db.write(run, flows_changed=((principal.tenant_id, flow_id),))

    async def update(self, principal: Principal, flow_id: str, *, name: str | None,
                     description: str | None, content: dict[str, Any] | None,
                     if_match: tuple[str, ...] | None, request_id: str | None) -> FlowDetail:
        principal.require_manage()
        if content is not None:
            await self._check_content(content, flow_id)

        def run(conn: Connection) -> FlowDetail:
            flow = check_level(conn, principal, flow_id, "edit", for_update=True)
            check_if_match(flow, if_match)
            now = now_iso()
            fields: dict[str, Any] = {}
            if name is not None and name != flow["name"]:
                fields["name"] = name
            if description is not None and description != flow["description"]:
                fields["description"] = description
            data: bytes | None = None
            version = flow["version"]
            if content is not None:
                version, data = self._append_version(conn, flow, content, principal.sub, now)
                fields.update(version=version, version_seq=flow["version_seq"] + 1, meta_rev=0)
            elif fields:
                fields["meta_rev"] = flow["meta_rev"] + 1
            row: Row | Mapping[str, Any] = flow
            if fields:
                fields["updated_at"] = now
                row = flow_rows.update_flow(conn, principal.tenant_id, flow_id, current=flow,
                                            **fields)
                audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                             action="flow.updated", target_type="flow", target_id=flow_id,
                             details={"fields": sorted(k for k in fields if k not in (
                                 "updated_at", "version_seq", "meta_rev")),
                                 "version": version},
                             request_id=request_id)
            if data is None:
                data = self._content(conn, principal.tenant_id, flow_id, version,
                                     on_loop=False)
            return FlowDetail.of(row, data)

        return await self.db.write(run, flows_changed=((principal.tenant_id, flow_id),))

    async def restore_version(self, principal: Principal, flow_id: str, version: str, *,
                              request_id: str | None) -> FlowDetail:
        """Save an old version's content as a new patch version (history is never rewritten)."""
        principal.require_manage()

        def run(conn: Connection) -> FlowDetail:
            flow = check_level(conn, principal, flow_id, "edit", for_update=True)
            old = flow_rows.get_version(conn, principal.tenant_id, flow_id, version)
            if old is None:
                raise version_not_found()
            now = now_iso()
            new_version, data = self._append_version(conn, flow, orjson.loads(old["content"]),
                                                     principal.sub, now)
            row = flow_rows.update_flow(conn, principal.tenant_id, flow_id, current=flow,
                                        version=new_version,
                                        version_seq=flow["version_seq"] + 1, meta_rev=0,
                                        updated_at=now)
            audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                         action="flow.version_restored", target_type="flow", target_id=flow_id,
                         details={"from_version": version, "version": new_version},
                         request_id=request_id)
            return FlowDetail.of(row, data)

        return await self.db.write(run, flows_changed=((principal.tenant_id, flow_id),))

    async def delete(self, principal: Principal, flow_id: str, *,
                     if_match: tuple[str, ...] | None, request_id: str | None) -> None:
        principal.require_manage()

        def run(conn: Connection) -> None:
            flow = check_level(conn, principal, flow_id, "admin", for_update=True)
            check_if_match(flow, if_match)
            now = now_iso()
            flow_rows.update_flow(conn, principal.tenant_id, flow_id, current=flow,
                                  deleted_at=now, updated_at=now)
            audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                         action="flow.deleted", target_type="flow", target_id=flow_id,
                         details={"version": flow["version"]}, request_id=request_id)

        await self.db.write(run, flows_changed=((principal.tenant_id, flow_id),))

    async def restore(self, principal: Principal, flow_id: str, *,
                      request_id: str | None) -> FlowDetail:
        """Undo a soft delete: tenant and super admins only."""
        principal.require_manage()

        def run(conn: Connection) -> FlowDetail:
            # Locked: the restore checks the row, then changes it and the live-flow counts.
            flow = flow_rows.get_flow(conn, principal.tenant_id, flow_id, include_deleted=True,
                                      for_update=True)
            if not principal.is_tenant_admin:
                # Others must not learn whether a deleted flow exists: 404 unless they can
                # view the live flow, then 403.
                if flow is None or flow["deleted_at"] is not None:
                    raise flow_not_found()
                check_level(conn, principal, flow_id, "view")
                principal.require_tenant_admin()
            if flow is None:
                raise flow_not_found()
            row: Row | Mapping[str, Any] = flow
            if flow["deleted_at"] is not None:
                now = now_iso()
                row = flow_rows.update_flow(conn, principal.tenant_id, flow_id, current=flow,
                                            deleted_at=None, updated_at=now)
                audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                             action="flow.restored", target_type="flow", target_id=flow_id,
                             details={"version": flow["version"]}, request_id=request_id)
            return FlowDetail.of(row, self._content(conn, principal.tenant_id, flow_id,
                                                    row["version"], on_loop=False))

        return await self.db.write(run, flows_changed=((principal.tenant_id, flow_id),))
