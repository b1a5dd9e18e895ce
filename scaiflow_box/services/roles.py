"""The two ScaiFlow-local admin roles (SPEC §2.2, §12): manual grants by operators, and the
group-derived super admins of `SCAIFLOW_SUPER_ADMIN_GROUPS`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from scaiflow_box.errors import Conflict
from scaiflow_box.store import audit, directory
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.engine import Connection, Row

log = logging.getLogger(__name__)


class RoleChangeError(ValueError):
    """The user is unknown or ambiguous; the message says how to resolve it."""


class LastSuperAdmin(Conflict):
    """The change would take `super_admin` from the last super admin who can act: nobody
    could administer the appliance afterwards (not even to undo it through the API)."""

    def __init__(self, user_id: str) -> None:
        super().__init__(
            f"{user_id} is the last super admin: without one nobody can administer this "
            "appliance", code="last_super_admin",
            fix="Grant super_admin to another user first (POST /api/v1/admin/users/<id>"
                "/role, or `scaiflow-box admin grant <user> --role super_admin`), then change "
                "this one.")
        self.user_id = user_id


def check_super_admin_remains(conn: Connection, target: Row,
                              role: str | None) -> None:
    """Refuse (LastSuperAdmin) to remove or demote the last live, ACTIVE super admin. A
    soft-deleted or suspended super admin cannot act anyway: their role may go. Called inside
    the write transaction that changes the role, so two changes cannot both pass."""
    if target["admin_role"] != "super_admin" or role == "super_admin":
        return
    if target["deleted_at"] is not None or target["status"] != "ACTIVE":
        return
    if user_rows.count_other_active_super_admins(conn, target["id"]) == 0:
        raise LastSuperAdmin(target["id"])


def set_role_by_operator(conn: Connection, email_or_id: str, role: str | None) -> str:
    """Grant (or with None, remove) an admin role with source `manual`; returns the user id."""
    matches = user_rows.find_users(conn, email_or_id)
    if not matches:
        raise RoleChangeError(
            f"no user {email_or_id!r} in the mirror; the user must sign in once (or be synced "
            "from ScaiKey) before a role can be granted")
    if len(matches) > 1:
        ids = ", ".join(f"{r['id']} ({r['tenant_id']})" for r in matches)
        raise RoleChangeError(f"{email_or_id!r} matches several users: {ids}; pass the id")
    user = matches[0]
    check_super_admin_remains(conn, user, role)
    user_rows.set_admin_role(conn, user["tenant_id"], user["id"], role, "manual")
    audit.record(conn, tenant_id=user["tenant_id"], actor="cli",
                 action="role.granted" if role else "role.revoked", target_type="user",
                 target_id=user["id"], details={"role": role or user["admin_role"]})
    return str(user["id"])


def reconcile_group_super_admins(conn: Connection, selectors: Sequence[str], *,
                                 actor: str, request_id: str | None = None) -> tuple[int, int]:
    """The super-admin election (SPEC §12): live members of a live group named (by id or name)
    in `SCAIFLOW_SUPER_ADMIN_GROUPS` become `super_admin` with source `group`; group-sourced
    super admins who are no longer such members lose it. Users holding a `manual` or
    `bootstrap` role are never touched, and soft-deleted users are not promoted (a deleted
    user's role is kept, as webhooks keep it). Returns (promoted, demoted)."""
    members = directory.super_admin_group_members(conn, selectors)
    ambiguous = directory.ambiguous_group_names(conn, selectors)
    if ambiguous:
        log.warning("SCAIFLOW_SUPER_ADMIN_GROUPS: %s name(s) more than one group; no one is "
                    "made super admin through them: name the group by its id",
                    ", ".join(repr(n[:100]) for n in ambiguous))
    promoted = demoted = 0
    for row in directory.users_by_id(conn, members):
        # ScaiKey's groups elect ScaiKey's users only: never a local user of the same id.
        if (row["deleted_at"] is None and row["admin_role"] is None
                and row["issuer"] == user_rows.SCAIKEY):
            user_rows.set_admin_role(conn, row["tenant_id"], row["id"], "super_admin", "group")
            audit.record(conn, tenant_id=row["tenant_id"], actor=actor, action="role.granted",
                         target_type="user", target_id=row["id"],
                         details={"role": "super_admin", "source": "group"},
                         request_id=request_id)
            promoted += 1
    for row in directory.users_with_role_source(conn, "super_admin", "group"):
        if row["id"] not in members:
            user_rows.set_admin_role(conn, row["tenant_id"], row["id"], None, None)
            audit.record(conn, tenant_id=row["tenant_id"], actor=actor, action="role.revoked",
                         target_type="user", target_id=row["id"],
                         details={"role": "super_admin", "source": "group"},
                         request_id=request_id)
            demoted += 1
    return promoted, demoted
