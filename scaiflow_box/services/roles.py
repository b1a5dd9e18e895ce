"""The two ScaiFlow-local admin roles (SPEC §2.2, §12): manual grants by operators, and the
group-derived super admins of `SCAIFLOW_SUPER_ADMIN_GROUPS`."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence

from scaiflow_box.store import audit, directory
from scaiflow_box.store import users as user_rows

log = logging.getLogger(__name__)


class RoleChangeError(ValueError):
    """The user is unknown or ambiguous; the message says how to resolve it."""


def set_role_by_operator(conn: sqlite3.Connection, email_or_id: str, role: str | None) -> str:
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
    user_rows.set_admin_role(conn, user["tenant_id"], user["id"], role, "manual")
    audit.record(conn, tenant_id=user["tenant_id"], actor="cli",
                 action="role.granted" if role else "role.revoked", target_type="user",
                 target_id=user["id"], details={"role": role or user["admin_role"]})
    return str(user["id"])


def reconcile_group_super_admins(conn: sqlite3.Connection, selectors: Sequence[str], *,
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
        if row["deleted_at"] is None and row["admin_role"] is None:
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
