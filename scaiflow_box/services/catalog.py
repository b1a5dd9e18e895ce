"""The tenant package catalog (SPEC §14): list, publish, detail, download, install,
visibility, soft delete and import of `.scaipkg` packages.

Each public method takes the caller's `Principal`, checks `scaicore:view` (reads) or
`scaicore:manage` (writes) once, and then the package rules of `catalog_access.py` inside the
read or write that uses the row. Packing, compiling and reading archives run in an executor;
reads go to reader threads (nothing is cached, so a package the CLI imports into a served
database is listed at once); writes go through the writer with their audit row.

`import_package_offline` is the CLI's import: the same checks, run by the operator on the box.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import orjson

from scaiflow_box.auth.principal import Principal
from scaiflow_box.compiler.schema import structural_errors
from scaiflow_box.errors import Conflict, InvalidFields, InvalidInput
from scaiflow_box.ids import new_id
from scaiflow_box.packages.packing import PackedPackage
from scaiflow_box.packages.scaipkg import PackageParts, read_package
from scaiflow_box.services.catalog_access import (
    managed_package,
    package_tenant,
    version_not_found,
    visible_package,
)
from scaiflow_box.services.catalog_fields import (
    check_name,
    check_open_package_id,
    check_publish_fields,
    check_visibility,
)
from scaiflow_box.services.catalog_publishing import (
    PLAN_ATTEMPTS,
    NewVersion,
    PublishState,
    Replan,
    package_dict,
    package_view,
    prepare_import,
    prepare_publish,
    publish_state,
    store_version,
)
from scaiflow_box.services.flows import FlowDetail, FlowService
from scaiflow_box.store import audit
from scaiflow_box.store import catalog as catalog_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection, Row
from scaiflow_box.store.read_cache import NOTHING_CACHED
from scaiflow_box.timestamps import now_iso

T = TypeVar("T")

INSTALLED_VERSION = "1.0.0"  # an installed flow starts over, as a new flow does
PACKAGE_ID_LOC = ["body", "package.json", "package_id"]


@dataclass(frozen=True)
class CatalogPage:
    items: list[dict[str, Any]]  # CatalogPackage
    # (created_at, tenant_id, package_id) of the last item when there is a next page (the
    # route signs it into a cursor)
    next_key: tuple[str, str, str] | None


@dataclass(frozen=True)
class PackageFile:
    """A version's `.scaipkg` bytes, exactly as stored."""

    package_id: str
    version: str
    data: bytes
    sha256: str

    @property
    def filename(self) -> str:
        return f"{self.package_id}-{self.version}.scaipkg"


@dataclass(frozen=True)
class Installed:
    """`content` (save false: the FlowGraph with a fresh id) or `flow` (save true)."""

    content: dict[str, Any] | None = None
    flow: FlowDetail | None = None


@dataclass(frozen=True)
class Imported:
    package: dict[str, Any]  # CatalogPackage
    version: str  # the version the file became (bumped when that version held other bytes)
    created: bool  # False: that version already held exactly these bytes; nothing changed


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _pack_publish(state: PublishState, name: str, description: str | None,
                  version: str | None, readme: str | None, author_id: str,
                  content: dict[str, Any] | bytes) -> PackedPackage:
    flow = orjson.loads(content) if isinstance(content, bytes) else content
    return prepare_publish(state, name=name, description=description, version=version,
                           readme=readme, author_id=author_id, content=flow)


def _installable(data: bytes, name: str | None) -> dict[str, Any]:
    """The package's FlowGraph with a fresh flow id and version 1.0.0 (node and edge ids
    kept), checked like any flow content (CPU: read in an executor)."""
    content = dict(read_package(data).content)
    content["id"] = new_id("flow")
    content["version"] = INSTALLED_VERSION
    if name is not None:
        content["name"] = name
    problems = structural_errors(content)
    if problems:  # a package this box stored always passes; say so plainly if one does not
        raise InvalidFields([{**p, "loc": ["package", "flow.json", *p["loc"]]}
                             for p in problems])
    return content


def _publish_conflict(package_id: str) -> Conflict:
    return Conflict(f"package {package_id!r} kept changing while this version was stored",
                    code="publish_conflict", fix="Publish again.")


class CatalogService:
    def __init__(self, db: Database, flows: FlowService) -> None:
        self.db = db
        self.flows = flows

    # -- reads -------------------------------------------------------------------------
    async def list_packages(self, principal: Principal, *, search: str | None = None,
                            after: tuple[str, str, str] | None = None,
                            limit: int = 100) -> CatalogPage:
        """`GET /catalog`: the packages the caller sees, newest first; super admins see every
        tenant's."""
        principal.require_view()

        def run(conn: Connection) -> CatalogPage:
            rows = catalog_rows.list_packages(
                conn, tenant_id=None if principal.is_super_admin else principal.tenant_id,
                user_id=principal.sub, see_all=principal.is_tenant_admin, search=search,
                after=after, limit=limit + 1)
            page = rows[:limit]
            groups = catalog_rows.group_ids_of(
                conn, [(r["tenant_id"], r["package_id"]) for r in page
                       if r["visibility"] == "groups"])
            items = [package_dict(r, groups.get((r["tenant_id"], r["package_id"]), []))
                     for r in page]
            last = page[-1] if len(rows) > limit else None
            return CatalogPage(items, None if last is None else (
                last["created_at"], last["tenant_id"], last["package_id"]))

        # The page is built in the reader thread too: 500 items are ~1 ms of Python.
        return await self.db.read(run)

    async def detail(self, principal: Principal, package_id: str, *,
                     tenant_id: str | None = None) -> dict[str, Any]:
        """`GET /catalog/{package_id}`: the package, its current version's readme and every
        version (highest first)."""
        principal.require_view()
        tenant = package_tenant(principal, tenant_id)

        def run(conn: Connection) -> dict[str, Any]:
            visible_package(conn, principal, tenant, package_id)
            package = package_view(conn, tenant, package_id)
            versions = catalog_rows.list_versions(conn, tenant, package_id)
            current = catalog_rows.get_version_info(conn, tenant, package_id,
                                                    package["version"])
            return {**package, "readme": current["readme"] if current is not None else None,
                    "versions": [{"version": v["version"], "sha256": v["sha256"],
                                  "size_bytes": v["size_bytes"], "created_at": v["created_at"]}
                                 for v in versions]}

        return await self.db.read(run)

    async def download(self, principal: Principal, package_id: str, version: str | None, *,
                       tenant_id: str | None = None) -> PackageFile:
        """`GET /catalog/{package_id}/versions/{version}/download`: the stored bytes (None:
        the package's current version)."""
        principal.require_view()
        tenant = package_tenant(principal, tenant_id)

        def run(conn: Connection) -> PackageFile:
            package = visible_package(conn, principal, tenant, package_id)
            return _package_file(conn, tenant, package, version)

        return await self.db.read(run)

    # -- install -------------------------------------------------------------------------
    async def install(self, principal: Principal, package_id: str, *, version: str | None = None,
                      save: bool = False, name: str | None = None, tenant_id: str | None = None,
                      request_id: str | None = None) -> Installed:
        """`POST /catalog/{package_id}/install`: the FlowGraph with a fresh flow id (node and
        edge ids kept) at version 1.0.0; with `save`, stored as a new flow of the caller's
        tenant owned by the caller (the flow service's own create: its checks, its audit)."""
        if save:
            principal.require_manage()
        else:
            principal.require_view()
        if name is not None:
            check_name(name)
        tenant = package_tenant(principal, tenant_id)

        def run(conn: Connection) -> tuple[Row, PackageFile]:
            package = visible_package(conn, principal, tenant, package_id)
            return package, _package_file(conn, tenant, package, version)

        package, file = await self.db.read(run)
        content = await _off_loop(_installable, file.data, name)
        if not save:
            return Installed(content=content)
        flow = await self.flows.create(principal, name=name or package["name"],
                                       description=package["description"], content=content,
                                       request_id=request_id)
        flow_id = orjson.loads(flow.body)["id"]
        await self.db.write(lambda conn: audit.record(
            conn, tenant_id=principal.tenant_id, actor=principal.sub, action="package.installed",
            target_type="package", target_id=package_id,
            details={"package_tenant_id": tenant, "version": file.version, "flow_id": flow_id,
                     "sha256": file.sha256},
            request_id=request_id), flows_changed=NOTHING_CACHED)
        return Installed(flow=flow)

    # -- publish and import --------------------------------------------------------------
    async def publish(self, principal: Principal, *, package_id: str, name: str,
                      description: str | None = None, version: str | None = None,
                      readme: str | None = None, flow_id: str | None = None,
                      content: dict[str, Any] | None = None,
                      request_id: str | None = None) -> dict[str, Any]:
        """`POST /catalog/publish` (201 CatalogPackage): the flow `flow_id` at its current
        version (deploy ACL on it), or inline `content`; compiled first (400 `compile_error`,
        nothing stored). A version already stored is bumped (0.1.0 → 0.1.1)."""
        principal.require_manage()
        check_publish_fields(package_id, name, description, version, readme)
        if (flow_id is None) == (content is None):
            raise InvalidInput("give either flow_id or content", code="invalid_publish",
                               fix="Publish a stored flow with flow_id, or a FlowGraph with "
                                   "content.")
        source: dict[str, Any] | bytes
        source_flow: tuple[str, str] | None = None
        if content is not None:
            source = content
        else:  # the flow's current version, read with the deploy level (SPEC §2.3)
            flow_version, source = await self.flows.content_for(principal, str(flow_id),
                                                                None, "deploy")
            source_flow = (str(flow_id), flow_version)
        audit_details: dict[str, Any] = {}
        if source_flow is not None:
            audit_details = {"source_flow_id": source_flow[0],
                             "source_flow_version": source_flow[1]}
        for _ in range(PLAN_ATTEMPTS):
            state = await self.db.read(lambda conn: publish_state(
                conn, principal.tenant_id, package_id, principal))
            packed = await _off_loop(_pack_publish, state, name, description, version, readme,
                                     principal.sub, source)
            new = NewVersion(packed=packed, source="publish",
                             source_flow_id=source_flow[0] if source_flow else None,
                             source_flow_version=source_flow[1] if source_flow else None,
                             actor=principal.sub, manager=principal,
                             expected_author=state.author_id, request_id=request_id,
                             audit_details=audit_details)
            try:
                return await self.db.write(partial(store_version, new=new), flows_changed=())
            except Replan:
                continue
        raise _publish_conflict(package_id)

    async def import_package(self, principal: Principal, data: bytes, *,
                             request_id: str | None = None) -> Imported:
        """`POST /catalog/import` (a raw `.scaipkg`): checked member by member (nothing is
        written anywhere from the archive), integrity and schema checked, flow.json validated
        and compiled again, the manifest regenerated; stored in the caller's tenant with the
        caller as author of a new package."""
        principal.require_manage()
        parts = await _off_loop(read_package, data)
        package_id = parts.meta.package_id
        check_open_package_id(package_id, PACKAGE_ID_LOC)
        for _ in range(PLAN_ATTEMPTS):
            state = await self.db.read(lambda conn: publish_state(
                conn, principal.tenant_id, package_id, principal))
            packed = await _off_loop(_prepare_import, state, parts, principal.sub)
            if packed is None:
                package = await self.db.read(lambda conn: package_view(
                    conn, principal.tenant_id, package_id))
                return Imported(package, parts.meta.version, created=False)
            new = _import_version(packed, state, parts, actor=principal.sub,
                                  manager=principal, request_id=request_id, via="api")
            try:
                package = await self.db.write(partial(store_version, new=new), flows_changed=())
            except Replan:
                continue
            return Imported(package, packed.info.version, created=True)
        raise _publish_conflict(package_id)

    # -- visibility and delete -----------------------------------------------------------
    async def set_visibility(self, principal: Principal, package_id: str, *, visibility: str,
                             group_ids: list[str], tenant_id: str | None = None,
                             request_id: str | None = None) -> dict[str, Any]:
        """`PUT /catalog/{package_id}/visibility` (200 CatalogPackage): `tenant` with no
        groups, or `groups` with 1-100 live groups of the package's tenant."""
        principal.require_manage()
        wanted = list(dict.fromkeys(group_ids))
        check_visibility(visibility, wanted)
        tenant = package_tenant(principal, tenant_id)

        def run(conn: Connection) -> dict[str, Any]:
            managed_package(conn, principal, tenant, package_id)
            known = catalog_rows.known_groups(conn, tenant, wanted)
            unknown = [g for g in wanted if g not in known]
            if unknown:
                raise InvalidInput(
                    f"not a group of this tenant: {', '.join(unknown[:10])}",
                    code="unknown_groups", group_ids=unknown,
                    fix="Name groups the directory mirror holds (GET /api/v1/admin/groups); "
                        "run a directory sync if a group is new.")
            before = package_view(conn, tenant, package_id)
            if (before["visibility"], before["visibility_group_ids"]) == (visibility,
                                                                        sorted(wanted)):
                return before  # nothing changes, nothing is recorded
            catalog_rows.update_package(conn, tenant, package_id, visibility=visibility,
                                        updated_at=now_iso())
            catalog_rows.replace_groups(conn, tenant, package_id, wanted)
            audit.record(conn, tenant_id=tenant, actor=principal.sub,
                         action="package.visibility_changed", target_type="package",
                         target_id=package_id,
                         details={"visibility": visibility, "visibility_group_ids": wanted,
                                  "before": {"visibility": before["visibility"],
                                             "visibility_group_ids":
                                                 before["visibility_group_ids"]}},
                         request_id=request_id)
            return package_view(conn, tenant, package_id)

        return await self.db.write(run, flows_changed=())

    async def delete(self, principal: Principal, package_id: str, *,
                     tenant_id: str | None = None, request_id: str | None = None) -> None:
        """`DELETE /catalog/{package_id}` (204): soft delete; versions are kept."""
        principal.require_manage()
        tenant = package_tenant(principal, tenant_id)

        def run(conn: Connection) -> None:
            package = managed_package(conn, principal, tenant, package_id)
            now = now_iso()
            catalog_rows.update_package(conn, tenant, package_id, deleted_at=now,
                                        updated_at=now)
            audit.record(conn, tenant_id=tenant, actor=principal.sub, action="package.deleted",
                         target_type="package", target_id=package_id,
                         details={"version": package["version"]}, request_id=request_id)

        await self.db.write(run, flows_changed=())


# -- shared pieces -------------------------------------------------------------------------
def _package_file(conn: Connection, tenant_id: str, package: Row,
                  version: str | None) -> PackageFile:
    chosen = version or str(package["version"])
    row = catalog_rows.get_version(conn, tenant_id, package["package_id"], chosen)
    if row is None:
        raise version_not_found()
    return PackageFile(package["package_id"], chosen, bytes(row["scaipkg"]), row["sha256"])


def _prepare_import(state: PublishState, parts: PackageParts, author_id: str
                    ) -> PackedPackage | None:
    return prepare_import(state, parts, author_id=author_id)


def _import_version(packed: PackedPackage, state: PublishState, parts: PackageParts, *,
                    actor: str, manager: Principal | None, request_id: str | None,
                    via: str) -> NewVersion:
    meta = parts.meta
    details: dict[str, Any] = {"via": via, "source_version": meta.version,
                               "source_tenant_id": meta.tenant_id,
                               "source_author_id": meta.author_id}
    return NewVersion(packed=packed, source="import", source_flow_id=None,
                      source_flow_version=None, actor=actor, manager=manager,
                      expected_author=state.author_id, request_id=request_id,
                      audit_details=details)


def import_package_offline(db: Database, data: bytes, tenant_id: str) -> Imported:
    """The CLI's import into `tenant_id` (no event loop): the API's checks, with the operator
    acting — a new package keeps the author its package.json names; an existing one keeps its
    own author and may be published over. Audit actor `cli`."""
    parts = read_package(data)
    package_id = parts.meta.package_id
    check_open_package_id(package_id, PACKAGE_ID_LOC)
    for _ in range(PLAN_ATTEMPTS):
        state = db.read_inline(lambda conn: publish_state(conn, tenant_id, package_id, None))
        packed = prepare_import(state, parts, author_id=parts.meta.author_id)
        if packed is None:
            package = db.read_inline(lambda conn: package_view(conn, tenant_id, package_id))
            return Imported(package, parts.meta.version, created=False)
        new = _import_version(packed, state, parts, actor="cli", manager=None, request_id=None,
                              via="cli")
        try:
            package = db.write_sync(partial(store_version, new=new))
        except Replan:
            continue
        return Imported(package, packed.info.version, created=True)
    raise _publish_conflict(package_id)
