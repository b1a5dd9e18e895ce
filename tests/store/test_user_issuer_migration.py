"""Migration 005 gives every existing user the issuer that created it (SPEC §2.1): the
bootstrap operator and service-token subjects are local, synced, webhook and ScaiKey-token
users ScaiKey's."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scaiflow_box.store.migrations import apply_migrations, available_migrations

pytestmark = pytest.mark.sqlite_only(
    "SQLite's migration 005 (MariaDB starts at the baseline)")


def database_at_schema_4(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                 " name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for number, name, sql in available_migrations():
        if number <= 4:
            conn.executescript(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (number, name))
    return conn


USERS = [  # id, tenant, source; then what happened to them before the upgrade
    ("usr_operator", "tnt_local", "bootstrap"),
    ("usr_synced", "tnt_acme", "scaikey"),
    ("usr_signed_in", "tnt_acme", "token"),  # a ScaiKey token, audited
    ("ci-bot", "tnt_acme", "token"),  # a service token, audited
    ("ci-old", "tnt_acme", "token"),  # a service token, its audit row purged since
    ("usr_old", "tnt_acme", "token"),  # a ScaiKey token, its audit row purged since
]


def test_existing_users_get_the_issuer_that_made_them(tmp_path: Path) -> None:
    conn = database_at_schema_4(tmp_path / "old.db")
    for user_id, tenant, source in USERS:
        conn.execute("INSERT INTO users (id, tenant_id, status, source, created_at, updated_at)"
                     " VALUES (?, ?, 'ACTIVE', ?, 'then', 'then')", (user_id, tenant, source))
    for user_id, token_source in (("usr_signed_in", "scaikey"), ("ci-bot", "service")):
        conn.execute("INSERT INTO audit_log (at, tenant_id, actor, action, target_type,"
                     " target_id, details) VALUES ('then', 'tnt_acme', ?, 'user.provisioned',"
                     " 'user', ?, ?)", (user_id, user_id, f'{{"source":"{token_source}"}}'))
    for n, user_id in enumerate(("ci-bot", "ci-old", "usr_operator")):
        conn.execute("INSERT INTO service_tokens (id, jti, tenant_id, sub, scope, created_by,"
                     " created_at, expires_at) VALUES (?, ?, ?, ?, '', 'cli', 'then', 'later')",
                     (f"tok_{n}", f"tok_{n}", "tnt_local" if user_id == "usr_operator"
                      else "tnt_acme", user_id))
    assert apply_migrations(conn) == [n for n, _, _ in available_migrations() if n >= 5]
    issuers = dict(conn.execute("SELECT id, issuer FROM users").fetchall())
    assert issuers == {"usr_operator": "local", "usr_synced": "scaikey",
                       "usr_signed_in": "scaikey", "ci-bot": "local", "ci-old": "local",
                       "usr_old": "scaikey"}
    # The column holds nothing else.
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        conn.execute("UPDATE users SET issuer = 'elsewhere' WHERE id = 'usr_old'")
