"""The super-admin election (SPEC §12) cannot be won by naming a group in another tenant."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest

from scaiflow_box.services.roles import reconcile_group_super_admins
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.db import Database


def roles(conn: sqlite3.Connection) -> dict[str, tuple[str | None, str | None]]:
    return {row["id"]: (row["admin_role"], row["admin_role_source"]) for row in conn.execute(
        "SELECT id, admin_role, admin_role_source FROM users")}


def test_a_name_shared_by_groups_of_two_tenants_elects_nobody(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = Database(tmp_path / "db.sqlite")
    try:
        def setup(conn: sqlite3.Connection) -> None:
            for tenant, user, group in (("tnt_ops", "usr_ops", "grp_ops"),
                                        ("tnt_evil", "usr_evil", "grp_evil")):
                user_rows.upsert_user(conn, tenant_id=tenant, user_id=user, email=None,
                                      display_name=user)
                user_rows.upsert_group(conn, tenant, group, "platform-admins")
                user_rows.add_membership(conn, tenant, group, user)

        db.write_sync(setup)
        with caplog.at_level(logging.WARNING):
            promoted, demoted = db.write_sync(lambda conn: reconcile_group_super_admins(
                conn, ["platform-admins"], actor="sync"))
        assert (promoted, demoted) == (0, 0)
        assert "'platform-admins' name(s) more than one group" in caplog.text
        # By id it is unambiguous: only the ops tenant's member.
        promoted, _ = db.write_sync(lambda conn: reconcile_group_super_admins(
            conn, ["grp_ops"], actor="sync"))
        assert promoted == 1
        result = db.read_inline(roles)
        assert result["usr_ops"] == ("super_admin", "group")
        assert result["usr_evil"] == (None, None)
        # A name only one live group bears still works.
        db.write_sync(lambda conn: conn.execute(
            "UPDATE groups SET deleted_at = 'x' WHERE id = 'grp_evil'"))
        promoted, demoted = db.write_sync(lambda conn: reconcile_group_super_admins(
            conn, ["platform-admins"], actor="sync"))
        assert db.read_inline(roles)["usr_evil"] == (None, None)
        assert db.read_inline(roles)["usr_ops"] == ("super_admin", "group")
    finally:
        db.close()
