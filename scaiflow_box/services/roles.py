"""The two ScaiFlow-local admin roles (SPEC §2.2, §12): manual grants by operators."""

from __future__ import annotations

import sqlite3

from scaiflow_box.store import audit
from scaiflow_box.store import users as user_rows


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
