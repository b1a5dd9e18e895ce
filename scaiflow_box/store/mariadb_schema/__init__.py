"""The MariaDB schema (docs/scale-out.md §5): a baseline equal to SQLite's schema after
migration `BASELINE_VERSION`, in MariaDB's dialect (`baseline.sql`).

A MariaDB database starts at the baseline instead of replaying SQLite's history: the data
migrations of 005 and 008 have nothing to convert in a new database. Later migrations come
as pairs, one file per engine under the same number, and a test compares the two schemas
(tests/store/test_mariadb_schema.py).

MariaDB runs DDL outside transactions (each statement commits by itself), so every statement
of the baseline may run again (`IF NOT EXISTS`): a baseline that stopped halfway is run again.
So may every statement of a later migration (`NNN_name.sql` here, `later_migrations`), run by
`upgrade.py` after the baseline, its row in `schema_migrations` written last.
Statements are separated by `-- @@` lines: a trigger's body holds semicolons, and `DELIMITER`
is a command of the `mariadb` client, not SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

from scaiflow_box.store.mariadb import MariaDbConnection
from scaiflow_box.store.migrations import MIGRATION_NAME, available_migrations

BASELINE_VERSION = 12  # 010 only dropped the summary triggers, which MariaDB never had
SEPARATOR = "-- @@"


def baseline_sql() -> str:
    return resources.files(__package__).joinpath("baseline.sql").read_text("utf-8")


def later_migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every MariaDB migration after the baseline, in order: one per
    SQLite migration of the same number (tests/store/test_mariadb_schema.py holds them to it)."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files(__package__).iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match and int(match.group(1)) > BASELINE_VERSION:
            found.append((int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    return sorted(found)


def statements(sql: str) -> list[str]:
    """The statements of a MariaDB schema file, split at its `-- @@` lines; chunks holding
    only comments are left out."""
    chunks: list[list[str]] = [[]]
    for line in sql.splitlines():
        if line.strip() == SEPARATOR:
            chunks.append([])
        else:
            chunks[-1].append(line)
    found = []
    for chunk in chunks:
        if any(line.strip() and not line.strip().startswith("--") for line in chunk):
            found.append("\n".join(chunk).strip())
    return found


def apply_baseline(conn: MariaDbConnection) -> None:
    """Create the baseline schema in `conn`'s (empty or half-built) database and record it as
    SQLite's migrations 1..BASELINE_VERSION, so both engines name the same schema version."""
    for statement in statements(baseline_sql()):
        conn.execute(statement)
    applied_at = datetime.now(UTC).isoformat()
    conn.executemany(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"
        " ON DUPLICATE KEY UPDATE version = version",
        [(number, name, applied_at) for number, name, _ in available_migrations()
         if number <= BASELINE_VERSION])
    conn.commit()
