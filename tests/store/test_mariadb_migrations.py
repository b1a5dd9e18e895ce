"""Migrations after the MariaDB baseline (store/mariadb_schema/upgrade.py) on a real mariadbd:
a database the previous version left (schema version 12, the baseline) is brought to head
once, by one of several processes starting together; not while a process of the previous
version still runs on it; and after a migrating process that died, once its lease ran out.
Migration 013 (MariaDB's live-flow counters become shards the store keeps, filled from the
flows) is the one they run."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store.mariadb import MariaDbConnection, connect
from scaiflow_box.store.mariadb_database import MariaDatabase
from scaiflow_box.store.mariadb_schema import BASELINE_VERSION, apply_baseline
from scaiflow_box.store.mariadb_schema.upgrade import (
    MIGRATION_LEASE,
    latest_version,
    prepare_schema,
)
from scaiflow_box.store.migrations import MigrationBlocked
from scaiflow_box.store.users import tenant_overview
from tests.cli_process import run
from tests.mariadb_server import MariaDbDatabase
from tests.store.test_mariadb_database import admin_rows, url_of

pytestmark = pytest.mark.mariadb

COUNTERS = ("flow_counts", "flow_owner_counts")
FLOW = ("INSERT INTO flows (id, tenant_id, name, owner_id, version, version_seq, created_at,"
        " updated_at, deleted_at, summary) VALUES (%s, %s, 'f', %s, '1.0.0', 1, %s, %s, %s,"
        " '{}')")


def previous_version(database: MariaDbDatabase) -> None:
    """The database as the previous version left it: the baseline, three live flows (two of
    ann's) and a deleted one, counted by the baseline's triggers."""
    conn = connect(url_of(database))
    try:
        apply_baseline(conn)
    finally:
        conn.close()
    admin = database.connect()
    with admin.cursor() as cursor:
        cursor.execute("INSERT INTO tenants (id, name, slug, source, created_at, updated_at)"
                       " VALUES ('t1', 'T', 't', 'token', 'now', 'now')")
        for flow_id, owner, deleted in (("f1", "ann", None), ("f2", "ann", None),
                                        ("f3", "bob", None), ("f4", "ann", "2026-01-02")):
            cursor.execute(FLOW, (flow_id, "t1", owner, f"2026-01-0{flow_id[1]}",
                                  "2026-01-01", deleted))
    admin.commit()
    admin.close()
    assert admin_rows(database, "SELECT tenant_id, live FROM flow_counts") == [("t1", 3)]


def state(database: MariaDbDatabase) -> tuple[int, int, int]:
    """(schema version, counter tables, counter triggers)."""
    (version,), = admin_rows(database, "SELECT MAX(version) FROM schema_migrations")
    (tables,), = admin_rows(database, "SELECT count(*) FROM information_schema.tables WHERE"
                                      " table_schema = DATABASE() AND table_name IN"
                                      " ('flow_counts', 'flow_owner_counts')")
    (triggers,), = admin_rows(database, "SELECT count(*) FROM information_schema.triggers"
                                        " WHERE trigger_schema = DATABASE()"
                                        " AND trigger_name LIKE 'flow%%counts%%'")
    return int(version), int(tables), int(triggers)


def another_process_beats(database: MariaDbDatabase, process_id: str, age: float) -> None:
    admin = database.connect()
    with admin.cursor() as cursor:
        cursor.execute("REPLACE INTO change_heads (process_id, seq, beat_at)"
                       " VALUES (%s, 0, UNIX_TIMESTAMP(NOW(6)) - %s)", (process_id, age))
    admin.commit()
    admin.close()


def test_the_previous_versions_database_is_migrated_once_and_counts_stay_right(
        mariadb_database: MariaDbDatabase) -> None:
    previous_version(mariadb_database)
    assert state(mariadb_database) == (BASELINE_VERSION, 2, 7)
    db = MariaDatabase(url_of(mariadb_database))
    try:
        assert state(mariadb_database) == (latest_version(), 0, 0) == (13, 0, 0)
        assert admin_rows(mariadb_database, "SELECT tenant_id, owner_id, shard, live FROM"
                                            " flow_live_counts ORDER BY owner_id") == [
            ("t1", "ann", "", 2), ("t1", "bob", "", 1)]  # filled from the live flows

        def totals(conn: MariaDbConnection) -> tuple[int, int, int]:
            everyone = flow_rows.list_summaries(conn, tenant_id="t1", user_id="x",
                                                can_see_all=True, search=None, after=None,
                                                limit=10)
            anns = flow_rows.list_summaries(conn, tenant_id="t1", user_id="ann",
                                            can_see_all=False, search=None, after=None,
                                            limit=10)
            [overview] = tenant_overview(conn)
            return everyone.total, anns.total, int(overview[6])

        assert db.read_inline(totals) == (3, 2, 3)
    finally:
        db.close()
    MariaDatabase(url_of(mariadb_database)).close()  # nothing left to run
    assert admin_rows(mariadb_database, "SELECT version FROM schema_migrations"
                                        " WHERE version > 12") == [(13,)]
    assert admin_rows(mariadb_database, "SELECT name, expires_at FROM leases WHERE name ="
                                        " 'migration'") == [("migration", 0.0)]  # handed back


def test_no_migration_runs_while_a_process_of_the_previous_version_does(
        mariadb_database: MariaDbDatabase, tmp_path: Path) -> None:
    previous_version(mariadb_database)
    another_process_beats(mariadb_database, "old-host-4711", age=1.0)
    with pytest.raises(MigrationBlocked) as refused:
        MariaDatabase(url_of(mariadb_database))
    message = str(refused.value)
    assert "needs schema migration 13" in message and "old-host-4711" in message
    assert "Stop every process, start this one" in message
    assert state(mariadb_database) == (BASELINE_VERSION, 2, 7)  # nothing changed
    # The operator's view: one line on stderr, exit 1, no traceback.
    env = {"SCAIFLOW_DATABASE_URL": f"mariadb://root@/{mariadb_database.database}"
                                    f"?unix_socket={mariadb_database.unix_socket}"}
    for command in ("init", "serve"):
        done = run(command, data_dir=tmp_path / "data", env=env)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("error: ") and "old-host-4711" in done.stderr
    assert state(mariadb_database) == (BASELINE_VERSION, 2, 7)
    another_process_beats(mariadb_database, "old-host-4711", age=60.0)  # it died long ago
    MariaDatabase(url_of(mariadb_database)).close()
    assert state(mariadb_database) == (13, 0, 0)


def test_processes_starting_together_migrate_once(mariadb_database: MariaDbDatabase) -> None:
    previous_version(mariadb_database)
    start = threading.Barrier(3)
    ran: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def process(n: int) -> None:
        conn = connect(url_of(mariadb_database))
        try:
            start.wait()
            ran[n] = prepare_schema(conn, "test", f"process-{n}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=process, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(ran.values()) == [[], [], [13]]  # one ran it, the others found it done
    assert state(mariadb_database) == (13, 0, 0)


def test_a_migration_whose_process_died_is_taken_over_when_its_lease_runs_out(
        mariadb_database: MariaDbDatabase) -> None:
    previous_version(mariadb_database)
    admin = mariadb_database.connect()
    with admin.cursor() as cursor:  # a process took the lease, dropped one trigger, died
        cursor.execute("INSERT INTO leases (name, holder, fence, expires_at)"
                       " VALUES (%s, 'died', 1, %s)", (MIGRATION_LEASE, time.time() + 1.5))
        cursor.execute("DROP TRIGGER flow_counts_insert")
    admin.commit()
    admin.close()
    conn = connect(url_of(mariadb_database))
    started = time.monotonic()
    try:
        assert prepare_schema(conn, "test", "next") == [13]  # each statement runs again
    finally:
        conn.close()
    waited = time.monotonic() - started
    assert 1.0 < waited < 10, waited
    assert state(mariadb_database) == (13, 0, 0)
    assert admin_rows(mariadb_database, "SELECT holder, fence FROM leases WHERE name ="
                                        " 'migration'") == [("next", 2)]


async def test_each_process_counts_under_its_own_shard_and_the_gone_ones_are_folded(
        mariadb_database: MariaDbDatabase) -> None:
    """Two processes creating flows in one tenant write counter rows of their own (no row
    both write: on Galera, no certification conflict between them); once one is gone for good,
    the other's writer folds its shard into '' at its next prune, and no total moves."""
    first = MariaDatabase(url_of(mariadb_database))
    second = MariaDatabase(url_of(mariadb_database))
    try:
        for n, db in enumerate((first, second, second)):
            await db.write(lambda conn, n=n: flow_rows.insert_flow(
                conn, flow_id=f"f{n}", tenant_id="t1", name="n", description="",
                owner_id="ann", version="1.0.0", now=f"2026-01-0{n + 1}"))
        await second.write(lambda conn: flow_rows.update_flow(
            conn, "t1", "f0", deleted_at="2026-02-01"))  # second deletes first's flow
        assert sorted(admin_rows(mariadb_database, "SELECT shard, live FROM flow_live_counts")) \
            == sorted([(first.process_id, 1), (second.process_id, 1)])
        second.close()
        admin = mariadb_database.connect()
        with admin.cursor() as cursor:  # gone for good: its head is pruned (an hour silent)
            cursor.execute("UPDATE change_heads SET beat_at = 0 WHERE process_id = %s",
                           (second.process_id,))
        admin.commit()
        admin.close()
        first.changes.prune_interval = 0.0  # the writer's next idle upkeep prunes and folds
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (second.process_id,) in admin_rows(
                mariadb_database, "SELECT shard FROM flow_live_counts"):
            time.sleep(0.05)
        assert sorted(admin_rows(mariadb_database, "SELECT shard, live FROM flow_live_counts")) \
            == sorted([(first.process_id, 1), ("", 1)])
        assert first.read_inline(lambda conn: flow_rows.list_summaries(
            conn, tenant_id="t1", user_id="ann", can_see_all=False, search=None, after=None,
            limit=10).total) == 2
    finally:
        first.close()
        second.close()
