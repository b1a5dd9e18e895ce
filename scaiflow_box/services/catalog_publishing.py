"""Storing a new package version, shared by publish, the API's import and the CLI's import.

A version is made in three steps so that no CPU work runs in the writer thread and no check
goes stale: read the package's state (`publish_state`), choose the version and pack it
(`prepare_publish` / `prepare_import`: pure CPU, off the event loop), then store it
(`store_version`, in the writer), which re-checks what the plan assumed and raises `Replan`
when a concurrent publish changed it. Callers retry a few times.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from scaiflow_box.auth.principal import Principal
from scaiflow_box.packages.packing import PackedPackage, pack_flow
from scaiflow_box.packages.scaipkg import PackageInfo, PackageParts, parse_semver
from scaiflow_box.services.catalog_access import may_manage, not_yours
from scaiflow_box.store import audit
from scaiflow_box.store import catalog as catalog_rows
from scaiflow_box.store.engine import Connection, Row
from scaiflow_box.timestamps import now_iso

FIRST_PACKAGE_VERSION = "0.1.0"  # [upstream]
PLAN_ATTEMPTS = 3


class Replan(Exception):
    """The package changed between the plan and the write (a concurrent publish)."""


def bump_patch(version: str) -> str:
    semver = parse_semver(version)
    if semver is None:
        raise ValueError(f"not a MAJOR.MINOR.PATCH version: {version!r}")
    major, minor, patch = semver
    return f"{major}.{minor}.{patch + 1}"


def semver_of(version: str) -> tuple[int, int, int]:
    semver = parse_semver(version)
    if semver is None:
        raise ValueError(f"not a MAJOR.MINOR.PATCH version: {version!r}")
    return semver


def next_free_version(version: str, taken: set[str] | dict[str, str]) -> str:
    """`version`, or its patch bumped until no stored version has it (0.1.0 → 0.1.1)."""
    while version in taken:
        version = bump_patch(version)
    return version


def package_dict(row: Row, group_ids: list[str]) -> dict[str, Any]:
    """CatalogPackage [upstream fields] plus `tenant_id` and `size_bytes` [box]."""
    return {
        "package_id": row["package_id"],
        "name": row["name"],
        "description": row["description"],
        "version": row["version"],
        "size_bytes": row["size_bytes"],
        "author_id": row["author_id"],
        "author_email": row["author_email"],
        "visibility": row["visibility"],
        "visibility_group_ids": group_ids,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "tenant_id": row["tenant_id"],
    }


def package_view(conn: Connection, tenant_id: str, package_id: str) -> dict[str, Any]:
    row = catalog_rows.get_package(conn, tenant_id, package_id)
    if row is None:
        raise RuntimeError(f"package {package_id} vanished")
    groups = catalog_rows.group_ids_of(conn, [(tenant_id, package_id)])
    return package_dict(row, groups.get((tenant_id, package_id), []))


# -- plan ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishState:
    """What a new version must fit: the package (soft-deleted included) and its versions."""

    tenant_id: str
    package_id: str
    row: Row | None
    digests: dict[str, str]  # version -> sha256
    readme: str | None = None  # the current version's

    @property
    def author_id(self) -> str | None:
        return None if self.row is None else str(self.row["author_id"])


def publish_state(conn: Connection, tenant_id: str, package_id: str,
                  manager: Principal | None) -> PublishState:
    """The package's state; 403 when it exists and `manager` may not publish over it (None:
    the operator on the box, who may)."""
    row = catalog_rows.get_package(conn, tenant_id, package_id)
    if row is not None and manager is not None and not may_manage(manager, row):
        raise not_yours(package_id)
    if row is None:
        return PublishState(tenant_id, package_id, None, {})
    current = catalog_rows.get_version_info(conn, tenant_id, package_id, row["version"])
    return PublishState(tenant_id, package_id, row,
                        catalog_rows.version_digests(conn, tenant_id, package_id),
                        None if current is None else current["readme"])


def prepare_publish(state: PublishState, *, name: str, description: str | None,
                    version: str | None, readme: str | None, author_id: str,
                    content: dict[str, Any]) -> PackedPackage:
    """Choose the version (the one asked for, else 0.1.0 for a new package or the next patch
    of the latest; a taken one is bumped) and pack the flow (CPU). Without `description` or
    `readme`, the package's current ones are kept; an empty readme means none."""
    if version is not None:
        chosen = next_free_version(version, state.digests)
    elif state.row is None:
        chosen = FIRST_PACKAGE_VERSION
    else:
        chosen = next_free_version(bump_patch(state.row["version"]), state.digests)
    if description is None:
        description = "" if state.row is None else str(state.row["description"])
    if readme is None:
        readme = state.readme
    info = PackageInfo(package_id=state.package_id, name=name, version=chosen,
                       description=description, author_id=state.author_id or author_id,
                       tenant_id=state.tenant_id)
    return pack_flow(info, content, readme or None, loc=("body", "content"))


def prepare_import(state: PublishState, parts: PackageParts, *, author_id: str
                   ) -> PackedPackage | None:
    """Re-pack an imported package for this tenant (manifest regenerated, package.json
    rewritten); None when its version is already stored with exactly these bytes (importing
    the same file twice changes nothing). A stored version with other bytes is bumped, and so
    is one of a soft-deleted package (a new version restores it, as a publish does)."""
    meta = parts.meta
    info = PackageInfo(package_id=meta.package_id, name=meta.name, version=meta.version,
                       description=meta.description, author_id=state.author_id or author_id,
                       tenant_id=state.tenant_id)
    packed = pack_flow(info, parts.content, parts.readme, loc=("body", "flow.json"))
    if meta.version not in state.digests:
        return packed
    deleted = state.row is not None and state.row["deleted_at"] is not None
    if state.digests[meta.version] == packed.sha256 and not deleted:
        return None
    bumped = replace(info, version=next_free_version(meta.version, state.digests))
    return pack_flow(bumped, parts.content, parts.readme, loc=("body", "flow.json"))


# -- store ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewVersion:
    packed: PackedPackage
    source: str  # "publish" | "import"
    source_flow_id: str | None
    source_flow_version: str | None
    actor: str
    manager: Principal | None  # None: the operator on the box
    expected_author: str | None  # the package's author as planned (None: a new package)
    request_id: str | None
    audit_details: dict[str, Any]


def store_version(conn: Connection, new: NewVersion) -> dict[str, Any]:
    """Insert the version and upsert the package to it (the writer's job); raises `Replan`
    when the package is not as the plan found it."""
    info = new.packed.info
    tenant_id, package_id = info.tenant_id, info.package_id
    row = catalog_rows.get_package(conn, tenant_id, package_id)
    if row is not None and new.manager is not None and not may_manage(new.manager, row):
        raise not_yours(package_id)
    if (None if row is None else row["author_id"]) != new.expected_author:
        raise Replan()  # created (or re-authored) since the plan: package.json is stale
    if catalog_rows.get_version_info(conn, tenant_id, package_id, info.version) is not None:
        raise Replan()
    now = now_iso()
    semver = semver_of(info.version)
    if row is None:
        catalog_rows.insert_package(conn, tenant_id=tenant_id, package_id=package_id,
                                    name=info.name, description=info.description,
                                    version=info.version, author_id=info.author_id, now=now)
        restored = False
    else:
        fields: dict[str, Any] = {"updated_at": now, "deleted_at": None}
        if semver > semver_of(row["version"]):  # the package shows its highest version
            fields.update(version=info.version, name=info.name, description=info.description)
        catalog_rows.update_package(conn, tenant_id, package_id, **fields)
        restored = row["deleted_at"] is not None
    catalog_rows.insert_version(
        conn, tenant_id=tenant_id, package_id=package_id, version=info.version,
        semver=semver, data=new.packed.data, sha256=new.packed.sha256,
        readme=new.packed.readme, source=new.source, source_flow_id=new.source_flow_id,
        source_flow_version=new.source_flow_version, published_by=new.actor, now=now)
    details = {"version": info.version, "sha256": new.packed.sha256,
               "size_bytes": len(new.packed.data), **new.audit_details}
    if restored:
        details["undeleted"] = True
    audit.record(conn, tenant_id=tenant_id, actor=new.actor,
                 action="package.published" if new.source == "publish" else "package.imported",
                 target_type="package", target_id=package_id, details=details,
                 request_id=new.request_id)
    return package_view(conn, tenant_id, package_id)
