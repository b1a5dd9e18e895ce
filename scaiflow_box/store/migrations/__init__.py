"""Numbered schema migrations (`NNN_name.sql`), applied in order at start-up.

Each file runs inside one transaction together with its row in `schema_migrations`, so a
failed migration leaves the database as it was.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


class SchemaTooNew(Exception):
    """The database was migrated by a newer scaiflow-box: this one must not touch it."""


class BadDatabase(Exception):
    """The (MariaDB) database cannot be used as it is; the message says what to change."""


class MigrationBlocked(Exception):
    """A shared database needs a migration this process cannot run now (other processes of
    the previous version run on it, or another process's migration takes too long); the
    message says what to do."""


def available_migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) for every migration shipped with the package, in order."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files(__package__).iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort()
    return found


def has_schema(db_path: Path) -> bool:
    """Whether `db_path` is a database the migrations ran on (`init` or `serve` made it).
    Opens it read-only and creates nothing; `sqlite3.Error` when it cannot be read."""
    if not db_path.is_file():
        return False
    with closing(sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                        " AND name = 'schema_migrations'").fetchone() is None:
            return False
        return conn.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchone() is not None


def apply_migrations(conn: sqlite3.Connection) -> list[int]:
    """Apply every migration not yet recorded; return the numbers applied. `conn` is in
    autocommit mode (`isolation_level=None`), as the writer's connection is."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    available = available_migrations()
    known = max((number for number, _, _ in available), default=0)
    if done and max(done) > known:
        raise SchemaTooNew(
            f"the database has schema version {max(done)}, newer than this scaiflow-box knows "
            f"({known}): run the scaiflow-box that wrote it, or restore a backup made by this "
            "version")
    applied: list[int] = []
    for number, name, sql in available:
        if number in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (number, name, datetime.now(UTC).isoformat()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(number)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration into statements (executescript would commit on its own)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
