"""Bringing a MariaDB database to this binary's schema at open (docs/scale-out.md §5,
"Migrations on a shared database").

- An empty database gets the baseline (`apply_baseline`); one holding tables of another
  program, or the wrong character set, is refused (`BadDatabase`); one newer than this binary
  is refused (`SchemaTooNew`).
- Then the migrations after the baseline (`NNN_name.sql` beside `baseline.sql`, one per SQLite
  migration of the same number) run in order, each statement re-runnable (MariaDB commits each
  DDL statement by itself, so a migration that stopped halfway is run again) and its row in
  `schema_migrations` written last.
- Several processes may start at once: the `migration` lease (store/leases.py) lets one run
  them while the others wait, then find them done.
- A migration changes what running processes of the previous version rely on (a table they
  read), so none runs while another process beats (store/changes.py): the process refuses to
  start (`MigrationBlocked`), naming them and the upgrade order (docs/operations.md).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from scaiflow_box.store import changes, leases
from scaiflow_box.store.mariadb import COLLATION, MariaDbConnection, MariaDbError
from scaiflow_box.store.mariadb_schema import (
    BASELINE_VERSION,
    apply_baseline,
    later_migrations,
    statements,
)
from scaiflow_box.store.migrations import BadDatabase, MigrationBlocked, SchemaTooNew

log = logging.getLogger(__name__)

MIGRATION_LEASE = "migration"
# How long the migrating process holds the lease without renewing it (seconds); it renews it
# before each statement, so only a process that died mid-migration makes the others wait this.
MIGRATION_LEASE_SECONDS = 60.0
# How long a process waits for another's migration before it gives up (seconds).
MIGRATION_WAIT_SECONDS = 180.0
WAIT_POLL_SECONDS = 0.25


def latest_version() -> int:
    """The schema version this binary brings a database to."""
    return max([BASELINE_VERSION, *(number for number, _, _ in later_migrations())])


def _value(conn: MariaDbConnection, sql: str) -> Any:
    """The first column of the one row `sql` answers."""
    row = conn.execute(sql).fetchone()
    if row is None:  # an aggregate always answers one row
        raise MariaDbError(f"no row from {sql!r}", 0)
    return row[0]


def schema_version(conn: MariaDbConnection) -> int | None:
    """The highest migration recorded, 0 for an empty `schema_migrations`, None without it
    (and None when the database holds tables, but not that one: `BadDatabase`)."""
    # One look at the tables: another process may be creating the baseline right now, and
    # `schema_migrations` is its first table, so a database holding tables but not that one
    # is someone else's. (Asked in two queries, a table created between them read as that.)
    row = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(table_name = 'schema_migrations'), 0)"
        " FROM information_schema.tables WHERE table_schema = DATABASE()").fetchone()
    tables, ours = (int(row[0]), bool(row[1])) if row is not None else (0, False)
    if not ours:
        if tables:
            raise BadDatabase(f"the database holds {tables} table(s) but no scaiflow-box "
                              "schema: give scaiflow-box an empty database of its own")
        return None
    return int(_value(conn, "SELECT MAX(version) FROM schema_migrations") or 0)


def prepare_schema(conn: MariaDbConnection, where: str, process_id: str) -> list[int]:
    """Check the database's character set, create the baseline on an empty database (or
    finish one that stopped halfway), then run the later migrations it lacks: the numbers
    run by this process. Refuses a schema newer than this binary."""
    found = conn.execute(
        "SELECT default_character_set_name, default_collation_name"
        " FROM information_schema.schemata WHERE schema_name = DATABASE()").fetchone()
    charset, collation = found if found is not None else (None, None)
    if (charset, collation) != ("utf8mb4", COLLATION):
        raise BadDatabase(
            f"{where} uses {charset}/{collation}; scaiflow-box needs utf8mb4/{COLLATION} "
            f"(ids compare byte for byte): run `ALTER DATABASE `<name>` CHARACTER SET utf8mb4 "
            f"COLLATE {COLLATION}` on the empty database first")
    try:
        version = schema_version(conn)
    except BadDatabase as exc:
        raise BadDatabase(f"{where}: {exc}") from None
    conn.rollback()
    latest = latest_version()
    if version is not None and version > latest:
        raise SchemaTooNew(
            f"{where} has schema version {version}, newer than this scaiflow-box knows "
            f"({latest}): run the scaiflow-box that wrote it")
    created = version is None or version < BASELINE_VERSION
    if created:
        log.info("creating the scaiflow-box schema (version %d) in %s", BASELINE_VERSION, where)
        apply_baseline(conn)
    if max(version or 0, BASELINE_VERSION) >= latest:
        return []
    return _migrate(conn, where, process_id, quietly=created)


def _migrate(conn: MariaDbConnection, where: str, process_id: str, *,
             quietly: bool) -> list[int]:
    """Run the later migrations the database lacks, holding the `migration` lease; wait while
    another process holds it. `quietly`: a new database, nothing for the operator to note."""
    conn.execute("INSERT IGNORE INTO leases (name) VALUES (?)", (MIGRATION_LEASE,))
    conn.commit()
    give_up_at = time.monotonic() + MIGRATION_WAIT_SECONDS
    while True:
        done = _recorded(conn)
        pending = [m for m in later_migrations() if m[0] not in done]
        if not pending:
            conn.rollback()
            return []
        if changes.live_processes(conn, exclude=process_id):
            conn.rollback()  # a new look: one that just finished migrating beats already
            if any(m[0] not in _recorded(conn) for m in pending):
                _refuse_while_others_run(conn, where, pending[0][0], process_id)
            continue
        if _take_lease(conn, process_id):
            break
        if time.monotonic() >= give_up_at:
            raise MigrationBlocked(
                f"{where}: another process has been migrating the schema for more than "
                f"{MIGRATION_WAIT_SECONDS:.0f} s (the `migration` lease in `leases`): wait for "
                "it to finish, or, if it died, start again once its lease ran out "
                f"({MIGRATION_LEASE_SECONDS:.0f} s)")
        time.sleep(WAIT_POLL_SECONDS)
    ran: list[int] = []
    try:
        done = _recorded(conn)  # under the lease: what another process finished is done
        for number, name, sql in later_migrations():
            if number in done:
                continue
            log.log(logging.INFO if quietly else logging.WARNING,
                    "migrating %s to schema version %d (%s)", where, number, name)
            for statement in statements(sql):
                if not _take_lease(conn, process_id):  # renewed; lost only after a long stall
                    raise MigrationBlocked(f"{where}: the `migration` lease was taken over "
                                           f"during migration {number}; start again")
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version, name, applied_at)"
                         " VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE version = version",
                         (number, name, datetime.now(UTC).isoformat()))
            conn.commit()
            ran.append(number)
    finally:
        conn.rollback()
        leases.release(conn, MIGRATION_LEASE, process_id)
        conn.commit()
    return ran


def _recorded(conn: MariaDbConnection) -> set[int]:
    found = {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}
    conn.rollback()  # the next look is a new snapshot
    return found


def _take_lease(conn: MariaDbConnection, process_id: str) -> bool:
    fence = leases.take(conn, MIGRATION_LEASE, process_id, time.time(), MIGRATION_LEASE_SECONDS)
    conn.commit()
    return fence is not None


def _refuse_while_others_run(conn: MariaDbConnection, where: str, number: int,
                             process_id: str) -> None:
    others = changes.live_processes(conn, exclude=process_id)
    conn.rollback()
    if others:
        raise MigrationBlocked(
            f"{where} needs schema migration {number}, and {len(others)} other scaiflow-box "
            f"process(es) are running on it ({', '.join(others)}): a migration changes what "
            "they read. Stop every process, start this one (it migrates), then start the "
            "others with this version (docs/operations.md, \"Upgrades\"); a stopped process "
            f"stops counting at once, one that died after {changes.LIVE_WITHIN_SECONDS:.0f} s")
