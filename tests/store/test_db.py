"""The store: pragmas, migrations, group commit, per-job rollback, append-only versions."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import orjson
import pytest

from scaiflow_box.store.db import Database, StoreClosed
from scaiflow_box.store.migrations import available_migrations
from tests.db_backend import Backend


@pytest.fixture
def db(tmp_path: Path, backend: Backend):
    database = backend.open(tmp_path / "test.db")
    yield database
    database.close()


@pytest.mark.sqlite_only("SQLite's pragmas and migration files")
def test_pragmas_and_migrations(db: Database, tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "test.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert applied == [n for n, _, _ in available_migrations()]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table in ("tenants", "users", "groups", "memberships", "flows", "flow_versions",
                  "flow_acls", "deployments", "tenant_secrets", "data_keys", "issuer_keys",
                  "jwks_cache", "service_tokens", "webhook_events", "audit_log",
                  "schema_migrations", "catalog_packages", "catalog_versions"):
        assert table in tables
    assert db._writer_conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    conn.close()


@pytest.mark.sqlite_only("SQLite's migration files (MariaDB: test_mariadb_database.py)")
def test_reopen_does_not_reapply_migrations(tmp_path: Path) -> None:
    first = Database(tmp_path / "x.db")
    first.close()
    second = Database(tmp_path / "x.db")
    rows = second.read_inline(lambda c: c.execute("SELECT count(*) FROM schema_migrations")
                              .fetchone()[0])
    assert rows == len(available_migrations())
    second.close()


def batch_sizes(db: Database) -> list[int]:
    """The size of each batch the writer runs from now on."""
    batches: list[int] = []
    original = db._run_batch  # type: ignore[attr-defined]

    def spy(conn, batch):  # type: ignore[no-untyped-def]
        batches.append(len(batch))
        original(conn, batch)

    db._run_batch = spy  # type: ignore[attr-defined]
    return batches


async def test_concurrent_writes_are_group_committed(db: Database) -> None:
    batches = batch_sizes(db)

    def insert(i: int):  # type: ignore[no-untyped-def]
        def job(conn: sqlite3.Connection) -> int:
            conn.execute("INSERT INTO meta (`key`, value) VALUES (?, ?)", (f"k{i}", str(i)))
            return i
        return job

    results = await asyncio.gather(*(db.write(insert(i)) for i in range(200)))
    assert results == list(range(200))
    assert sum(batches) == 200
    assert max(batches) > 1, "concurrent writes should share a transaction"
    count = await db.read(lambda c: c.execute("SELECT count(*) FROM meta WHERE `key` LIKE 'k%'")
                          .fetchone()[0])
    assert count == 200


async def test_a_failing_job_rolls_back_alone(db: Database) -> None:
    def good(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO meta (`key`, value) VALUES ('good', '1')")
        return "ok"

    def bad(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO meta (`key`, value) VALUES ('bad', '1')")
        raise ValueError("domain rule failed")

    results = await asyncio.gather(db.write(good), db.write(bad), return_exceptions=True)
    assert results[0] == "ok"
    assert isinstance(results[1], ValueError)
    keys = await db.read(lambda c: [r[0] for r in c.execute("SELECT `key` FROM meta")])
    assert "good" in keys and "bad" not in keys


async def test_failing_jobs_first_between_and_last_in_one_batch_roll_back_alone(
        db: Database) -> None:
    """One batch of bad, good, bad, good, bad (each bad job writes, then raises): the good
    ones commit, nothing of a bad one is kept, whether it came first (nothing to keep: the
    transaction is rolled back) or after a good one (back to its savepoint)."""
    release = threading.Event()
    batches = batch_sizes(db)

    def job(key: str, fails: bool):  # type: ignore[no-untyped-def]
        def run(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO meta (`key`, value) VALUES (?, '1')", (key,))
            if fails:
                raise ValueError(key)
            return key
        return run

    holding = asyncio.ensure_future(db.write(lambda conn: release.wait(10)))
    await asyncio.sleep(0.1)  # the writer is inside the holding job: the next five queue
    five = [asyncio.ensure_future(db.write(job(f"j{n}", n % 2 == 0))) for n in range(5)]
    await asyncio.sleep(0.05)
    release.set()
    await holding
    results = await asyncio.gather(*five, return_exceptions=True)
    assert [r if isinstance(r, str) else type(r).__name__ for r in results] == [
        "ValueError", "j1", "ValueError", "j3", "ValueError"]
    assert batches[-1] == 5
    keys = await db.read(lambda c: sorted(r[0] for r in c.execute(
        "SELECT `key` FROM meta WHERE `key` LIKE 'j%'")))
    assert keys == ["j1", "j3"]


async def test_reads_do_not_run_on_the_loop_thread(db: Database) -> None:
    loop_thread = threading.get_ident()
    thread = await db.read(lambda c: threading.get_ident())
    writer = await db.write(lambda c: threading.get_ident())
    assert thread != loop_thread and writer != loop_thread and thread != writer


async def test_flow_versions_are_append_only(db: Database) -> None:
    def setup(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO flows (id, tenant_id, name, owner_id, version, version_seq,"
                     " created_at, updated_at) VALUES ('flow_x','t','n','u','1.0.0',1,'a','a')")
        conn.execute("INSERT INTO flow_versions (flow_id, seq, tenant_id, version, storage_key,"
                     " content, sha256, size_bytes, created_by, created_at) VALUES"
                     " ('flow_x',1,'t','1.0.0','k',x'7b7d','h',2,'u','a')")

    await db.write(setup)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await db.write(lambda c: c.execute("UPDATE flow_versions SET content = x'00'"))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await db.write(lambda c: c.execute("DELETE FROM flow_versions"))


async def test_write_after_close_is_refused(tmp_path: Path, backend: Backend) -> None:
    database = backend.open(tmp_path / "closed.db")
    database.close()
    with pytest.raises(StoreClosed):
        await database.write(lambda c: None)


@pytest.mark.sqlite_only("SQLite's backup API")
def test_backup_is_a_consistent_copy(db: Database, tmp_path: Path) -> None:
    db.write_sync(lambda c: c.execute("INSERT INTO meta (`key`, value) VALUES ('b', 'kept')"))
    target = tmp_path / "backup.db"
    db.backup_to(target)
    copy = sqlite3.connect(target)
    assert copy.execute("SELECT value FROM meta WHERE `key` = 'b'").fetchone()[0] == "kept"
    copy.close()


@pytest.mark.sqlite_only("SQLite's counter triggers (MariaDB's shards since its 013: "
                        "test_mariadb_schema.py, test_mariadb_migrations.py)")
async def test_flow_counts_follow_inserts_soft_deletes_and_restores(db: Database) -> None:
    def count(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT live FROM flow_counts WHERE tenant_id = 't'").fetchone()
        return int(row[0]) if row else 0

    def insert(conn: sqlite3.Connection) -> None:
        for i in range(3):
            conn.execute("INSERT INTO flows (id, tenant_id, name, owner_id, version,"
                         " version_seq, created_at, updated_at) VALUES (?, 't', 'n', 'u',"
                         " '1.0.0', 1, 'a', 'a')", (f"flow_{i}",))

    await db.write(insert)
    assert await db.read(count) == 3
    await db.write(lambda c: c.execute("UPDATE flows SET deleted_at = 'x' WHERE id = 'flow_0'"))
    await db.write(lambda c: c.execute("UPDATE flows SET deleted_at = 'y' WHERE id = 'flow_0'"))
    assert await db.read(count) == 2  # deleting twice counts once
    await db.write(lambda c: c.execute("UPDATE flows SET deleted_at = NULL WHERE id = 'flow_0'"))
    assert await db.read(count) == 3
    live = await db.read(lambda c: c.execute(
        "SELECT count(*) FROM flows WHERE deleted_at IS NULL").fetchone()[0])
    assert live == 3


@pytest.mark.sqlite_only("SQLite's migration 008 (MariaDB starts at the baseline)")
def test_migration_008_fills_summaries_and_owner_counts_of_existing_flows(
        tmp_path: Path) -> None:
    """A database written before 008 gets every flow's summary and the per-owner counts."""
    from scaiflow_box.store.migrations import _statements

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, _, sql in available_migrations():
        if number < 8:
            for statement in _statements(sql):
                conn.execute(statement)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                 " name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    conn.executemany("INSERT INTO schema_migrations VALUES (?, ?, 'then')",
                     [(n, name) for n, name, _ in available_migrations() if n < 8])
    for i, (owner, deleted) in enumerate([("usr_a", None), ("usr_a", "x"), ("usr_b", None)]):
        conn.execute("INSERT INTO flows (id, tenant_id, name, description, owner_id, version,"
                     " version_seq, created_at, updated_at, deleted_at)"
                     " VALUES (?, 't', ?, 'd', ?, '1.0.0', 1, 'c', 'u', ?)",
                     (f"flow_{i}", f'name "{i}"', owner, deleted))
    conn.close()
    db = Database(path)
    try:
        rows = db.read_inline(lambda c: c.execute(
            "SELECT id, name, owner_id, summary FROM flows ORDER BY id").fetchall())
        for row in rows:
            assert orjson.loads(row["summary"]) == {
                "id": row["id"], "name": row["name"], "description": "d",
                "owner_id": row["owner_id"], "tenant_id": "t", "version": "1.0.0",
                "created_at": "c", "updated_at": "u"}
        counts = db.read_inline(lambda c: c.execute(
            "SELECT owner_id, live FROM flow_owner_counts ORDER BY owner_id").fetchall())
        assert [tuple(r) for r in counts] == [("usr_a", 1), ("usr_b", 1)]
    finally:
        db.close()


@pytest.mark.sqlite_only("SQLite's catalog (MariaDB's keys: test_mariadb_schema.py)")
def test_every_table_has_a_primary_key(db: Database, tmp_path: Path) -> None:
    """Each table is created with its primary key (a later one would need a table rebuild:
    docs/decisions.md, "sqlite-utils"); replicated databases need one on every table too."""
    conn = sqlite3.connect(tmp_path / "test.db")
    try:
        tables = [row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        assert len(tables) > 20
        without = [name for name in tables
                   if not any(column[5] for column in conn.execute(f"PRAGMA table_info({name})"))]
    finally:
        conn.close()
    assert without == []


@pytest.mark.sqlite_only("SQLite's query plan (EXPLAIN QUERY PLAN)")
def test_version_listings_never_read_the_package_bytes(db: Database, tmp_path: Path) -> None:
    """The `.scaipkg` blob precedes the columns a version list shows: reading them from the
    table would walk every version's overflow pages. The list and a publish's digest check
    read the covering index instead (migration 009)."""
    from scaiflow_box.store import catalog as catalog_rows

    conn = sqlite3.connect(tmp_path / "test.db")
    try:
        conn.row_factory = sqlite3.Row
        for name, run in (
                ("list_versions", lambda c: catalog_rows.list_versions(c, "tnt_a", "pkg")),
                ("version_digests", lambda c: catalog_rows.version_digests(c, "tnt_a", "pkg"))):
            plans: list[str] = []
            conn.set_trace_callback(plans.append)
            run(conn)
            conn.set_trace_callback(None)
            [sql] = plans  # as run, its values bound
            detail = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
            assert "USING COVERING INDEX catalog_versions_listing" in detail, (name, detail)
    finally:
        conn.close()
