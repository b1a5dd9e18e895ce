"""Who sees and who manages a catalog package (SPEC §14).

Sees (with `scaicore:view`): everyone of the package's tenant when its visibility is
`tenant`; live members of one of its groups when it is `groups`; its author always; tenant
admins every package of their tenant (they may change and delete any of them); super admins
every package of every tenant. Manages (publish over it, change its visibility, delete it):
its author, tenant admins of its tenant, super admins.

A caller who may not see a package — of another tenant, soft-deleted, or of groups they are
not in — gets the same 404 as for a package that does not exist (no existence oracle); one
who sees it but may not manage it gets 403.
"""

from __future__ import annotations

from scaiflow_box.auth.principal import Principal
from scaiflow_box.errors import Forbidden, NotFound
from scaiflow_box.store import catalog as catalog_rows
from scaiflow_box.store.engine import Connection, Row

PACKAGE_NOT_FOUND = "Package not found"


def package_not_found() -> NotFound:
    return NotFound(PACKAGE_NOT_FOUND)


def version_not_found() -> NotFound:
    return NotFound("Version not found")


def not_yours(package_id: str) -> Forbidden:
    return Forbidden(
        f"package {package_id!r} exists in this tenant: only its author, a tenant admin or a "
        "super admin may publish over it, change its visibility or delete it",
        fix="Ask the package's author or a tenant admin, or publish under another package_id.")


def package_tenant(principal: Principal, tenant_id: str | None) -> str:
    """The tenant whose package is meant: the caller's own, or — for super admins only —
    the one they name. Anyone else naming another tenant finds nothing there."""
    if tenant_id is None or tenant_id == principal.tenant_id:
        return principal.tenant_id
    if principal.is_super_admin:
        return tenant_id
    raise package_not_found()


def can_view(conn: Connection, principal: Principal, package: Row) -> bool:
    if package["deleted_at"] is not None:
        return False
    if principal.is_super_admin:
        return True
    if package["tenant_id"] != principal.tenant_id:
        return False
    if principal.is_tenant_admin or package["author_id"] == principal.sub:
        return True
    if package["visibility"] == "tenant":
        return True
    return catalog_rows.member_of_package_groups(conn, package["tenant_id"],
                                                 package["package_id"], principal.sub)


def may_manage(principal: Principal, package: Row) -> bool:
    """Author, tenant admin of the package's tenant, super admin (soft-deleted or not)."""
    if principal.is_super_admin:
        return True
    if package["tenant_id"] != principal.tenant_id:
        return False
    return principal.is_tenant_admin or package["author_id"] == principal.sub


def visible_package(conn: Connection, principal: Principal, tenant_id: str,
                    package_id: str) -> Row:
    package = catalog_rows.get_package(conn, tenant_id, package_id)
    if package is None or not can_view(conn, principal, package):
        raise package_not_found()
    return package


def managed_package(conn: Connection, principal: Principal, tenant_id: str,
                    package_id: str) -> Row:
    package = visible_package(conn, principal, tenant_id, package_id)
    if not may_manage(principal, package):
        raise not_yours(package_id)
    return package
