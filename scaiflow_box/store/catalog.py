"""Catalog packages, their visibility groups and their immutable versions (SPEC §14).

Every query names the tenant, except the super admin's list of every tenant
(`list_packages(tenant_id=None)`), which is that caller's platform-wide view.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scaiflow_box.store.engine import SQLITE, Connection, Row, dialect

# The size of the current version comes from the covering index (migration 009): without
# INDEXED BY, SQLite takes the primary key and reads the row, walking the version's blob.
# InnoDB keeps the blob off the row's page, so MariaDB reads the primary key without a hint.
_PACKAGE_COLUMNS = (
    "p.tenant_id, p.package_id, p.name, p.description, p.version, p.author_id,"
    " u.email AS author_email, p.visibility, p.created_at, p.updated_at, p.deleted_at,"
    " (SELECT v.size_bytes FROM catalog_versions v{hint}"
    " WHERE v.tenant_id = p.tenant_id AND v.package_id = p.package_id"
    " AND v.version = p.version) AS size_bytes"
)
PACKAGE_COLUMNS = _PACKAGE_COLUMNS.format(hint=" INDEXED BY catalog_versions_listing")
MARIADB_PACKAGE_COLUMNS = _PACKAGE_COLUMNS.format(hint="")


def _package_columns(conn: Connection) -> str:
    return PACKAGE_COLUMNS if dialect(conn) == SQLITE else MARIADB_PACKAGE_COLUMNS
_FROM = ("catalog_packages p LEFT JOIN users u ON u.id = p.author_id"
         " AND u.tenant_id = p.tenant_id")
VERSION_COLUMNS = ("version, sha256, size_bytes, readme, source, source_flow_id,"
                   " source_flow_version, published_by, created_at")
# What a version list shows: all in the `catalog_versions_listing` index (migration 009), so
# listing never reads the blobs stored before these columns.
LISTING_COLUMNS = "version, sha256, size_bytes, created_at"
_SEMVER_DESC = "major DESC, minor DESC, patch DESC"

# A member of the tenant sees: `tenant` packages, their own, and `groups` packages of a group
# they are a live member of (group and membership not soft-deleted).
_VISIBLE_TO_MEMBER = (
    "(p.visibility = 'tenant' OR p.author_id = :user OR EXISTS ("
    " SELECT 1 FROM catalog_package_groups cg"
    " JOIN memberships m ON m.group_id = cg.group_id AND m.user_id = :user"
    " AND m.tenant_id = cg.tenant_id AND m.deleted_at IS NULL"
    " JOIN groups g ON g.id = cg.group_id AND g.tenant_id = cg.tenant_id"
    " AND g.deleted_at IS NULL"
    " WHERE cg.tenant_id = p.tenant_id AND cg.package_id = p.package_id))"
)


def storage_key(tenant_id: str, package_id: str, version: str) -> str:
    """The logical path of a version's bytes [upstream layout]."""
    return f"catalog/{tenant_id}/{package_id}/v{version}.scaipkg"


# -- packages ------------------------------------------------------------------------------
def get_package(conn: Connection, tenant_id: str, package_id: str
                ) -> Row | None:
    """The package row, soft-deleted ones included (the caller decides what they mean)."""
    row: Row | None = conn.execute(
        f"SELECT {_package_columns(conn)} FROM {_FROM}"
        " WHERE p.tenant_id = ? AND p.package_id = ?",
        (tenant_id, package_id)).fetchone()
    return row


def member_of_package_groups(conn: Connection, tenant_id: str, package_id: str,
                             user_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM catalog_package_groups cg"
        " JOIN memberships m ON m.group_id = cg.group_id AND m.user_id = ?"
        " AND m.tenant_id = cg.tenant_id AND m.deleted_at IS NULL"
        " JOIN groups g ON g.id = cg.group_id AND g.tenant_id = cg.tenant_id"
        " AND g.deleted_at IS NULL"
        " WHERE cg.tenant_id = ? AND cg.package_id = ? LIMIT 1",
        (user_id, tenant_id, package_id)).fetchone()
    return row is not None


def list_packages(
    conn: Connection,
    *,
    tenant_id: str | None,
    user_id: str,
    see_all: bool,
    search: str | None,
    after: tuple[str, str, str] | None,
    limit: int,
) -> list[Row]:
    """Live packages newest first (created_at, then tenant and package id, descending).

    `tenant_id=None` lists every tenant (a super admin); `see_all` skips the visibility rule
    (tenant and super admins); `after` is the (created_at, tenant_id, package_id) of the last
    row of the previous page. `search` is a case-insensitive substring of the name or id."""
    params: dict[str, Any] = {"user": user_id, "limit": limit}
    clauses = ["p.deleted_at IS NULL"]
    if tenant_id is not None:
        clauses.append("p.tenant_id = :tenant")
        params["tenant"] = tenant_id
    if not see_all:
        clauses.append(_VISIBLE_TO_MEMBER)
    if search:
        clauses.append("(instr(lower(p.name), :needle) > 0"
                       " OR instr(p.package_id, :needle) > 0)")
        params["needle"] = search.lower()
    if after is not None:
        params["after_at"], params["after_tenant"], params["after_id"] = after
        if tenant_id is not None:  # one tenant: the index's own order
            clauses.append("(p.created_at, p.package_id) < (:after_at, :after_id)")
        else:
            clauses.append("(p.created_at, p.tenant_id, p.package_id)"
                           " < (:after_at, :after_tenant, :after_id)")
    return conn.execute(
        f"SELECT {_package_columns(conn)} FROM {_FROM} WHERE {' AND '.join(clauses)}"
        " ORDER BY p.created_at DESC, p.tenant_id DESC, p.package_id DESC LIMIT :limit",
        params).fetchall()


def group_ids_of(conn: Connection, keys: Iterable[tuple[str, str]]
                 ) -> dict[tuple[str, str], list[str]]:
    """The visibility groups of each (tenant, package), sorted; packages without any are
    absent."""
    wanted = list(dict.fromkeys(keys))
    found: dict[tuple[str, str], list[str]] = {}
    for start in range(0, len(wanted), 400):  # SQLite's default limit is 32,766 variables
        chunk = wanted[start:start + 400]
        values = ", ".join("(?, ?)" for _ in chunk)
        flat = [value for key in chunk for value in key]
        for row in conn.execute(
                f"WITH wanted (tenant_id, package_id) AS (VALUES {values})"
                " SELECT cg.tenant_id, cg.package_id, cg.group_id FROM wanted w"
                " JOIN catalog_package_groups cg ON cg.tenant_id = w.tenant_id"
                " AND cg.package_id = w.package_id ORDER BY cg.group_id", flat):
            found.setdefault((row[0], row[1]), []).append(row[2])
    return found


def insert_package(conn: Connection, *, tenant_id: str, package_id: str, name: str,
                   description: str, version: str, author_id: str, now: str) -> None:
    conn.execute(
        "INSERT INTO catalog_packages (tenant_id, package_id, name, description, version,"
        " author_id, visibility, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'tenant',"
        " ?, ?)",
        (tenant_id, package_id, name, description, version, author_id, now, now))


def update_package(conn: Connection, tenant_id: str, package_id: str,
                   **fields: Any) -> None:
    if not fields:
        return
    assignments = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(
        f"UPDATE catalog_packages SET {assignments} WHERE tenant_id = ? AND package_id = ?",
        (*fields.values(), tenant_id, package_id))


def replace_groups(conn: Connection, tenant_id: str, package_id: str,
                   group_ids: Iterable[str]) -> None:
    conn.execute("DELETE FROM catalog_package_groups WHERE tenant_id = ? AND package_id = ?",
                 (tenant_id, package_id))
    conn.executemany(
        "INSERT INTO catalog_package_groups (tenant_id, package_id, group_id) VALUES (?, ?, ?)",
        [(tenant_id, package_id, group_id) for group_id in dict.fromkeys(group_ids)])


def known_groups(conn: Connection, tenant_id: str, group_ids: Iterable[str]
                 ) -> set[str]:
    """The ids among `group_ids` that are live groups of the tenant in the mirror."""
    ids = list(dict.fromkeys(group_ids))
    if not ids:
        return set()
    marks = ", ".join("?" for _ in ids)
    return {row[0] for row in conn.execute(
        f"SELECT id FROM groups WHERE tenant_id = ? AND deleted_at IS NULL AND id IN ({marks})",
        (tenant_id, *ids))}


def live_counts_by_tenant(conn: Connection) -> dict[str, int]:
    return {row[0]: int(row[1]) for row in conn.execute(
        "SELECT tenant_id, count(*) FROM catalog_packages WHERE deleted_at IS NULL"
        " GROUP BY tenant_id")}


# -- versions ------------------------------------------------------------------------------
def list_versions(conn: Connection, tenant_id: str, package_id: str
                  ) -> list[Row]:
    """Every version's listing columns, highest first (from the covering index)."""
    return conn.execute(
        f"SELECT {LISTING_COLUMNS} FROM catalog_versions WHERE tenant_id = ? AND package_id = ?"
        f" ORDER BY {_SEMVER_DESC}", (tenant_id, package_id)).fetchall()


def version_digests(conn: Connection, tenant_id: str, package_id: str
                    ) -> dict[str, str]:
    """version -> sha256 of every stored version (what a publish must not collide with)."""
    return {row[0]: row[1] for row in conn.execute(
        "SELECT version, sha256 FROM catalog_versions WHERE tenant_id = ? AND package_id = ?",
        (tenant_id, package_id))}


def get_version(conn: Connection, tenant_id: str, package_id: str, version: str
                ) -> Row | None:
    """A version with its bytes."""
    row: Row | None = conn.execute(
        f"SELECT {VERSION_COLUMNS}, scaipkg FROM catalog_versions WHERE tenant_id = ?"
        " AND package_id = ? AND version = ?", (tenant_id, package_id, version)).fetchone()
    return row


def get_version_info(conn: Connection, tenant_id: str, package_id: str,
                     version: str) -> Row | None:
    """A version without its bytes."""
    row: Row | None = conn.execute(
        f"SELECT {VERSION_COLUMNS} FROM catalog_versions WHERE tenant_id = ?"
        " AND package_id = ? AND version = ?", (tenant_id, package_id, version)).fetchone()
    return row


def insert_version(conn: Connection, *, tenant_id: str, package_id: str,
                   version: str, semver: tuple[int, int, int], data: bytes, sha256: str,
                   readme: str | None, source: str, source_flow_id: str | None,
                   source_flow_version: str | None, published_by: str, now: str) -> None:
    conn.execute(
        "INSERT INTO catalog_versions (tenant_id, package_id, version, major, minor, patch,"
        " storage_key, scaipkg, sha256, size_bytes, readme, source, source_flow_id,"
        " source_flow_version, published_by, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (tenant_id, package_id, version, *semver,
         storage_key(tenant_id, package_id, version), data, sha256, len(data), readme, source,
         source_flow_id, source_flow_version, published_by, now))


def highest_version(conn: Connection, tenant_id: str, package_id: str) -> str | None:
    row = conn.execute(
        "SELECT version FROM catalog_versions WHERE tenant_id = ? AND package_id = ?"
        f" ORDER BY {_SEMVER_DESC} LIMIT 1", (tenant_id, package_id)).fetchone()
    return None if row is None else str(row[0])
