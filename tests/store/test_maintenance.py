"""Keeping the database small without an operator: the writer checkpoints when idle, and
retention deletes old audit entries and webhook event ids in bounded chunks."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scaiflow_box.config import load_settings
from scaiflow_box.services.retention import RetentionService
from scaiflow_box.store import retention
from scaiflow_box.store.db import Database
from scaiflow_box.store.dir_lock import DataDirBusy, DataDirLock
from scaiflow_box.timestamps import iso
from tests.db_backend import Backend

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


@pytest.mark.sqlite_only("checkpoints SQLite's WAL file")
async def test_an_idle_writer_empties_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "idle.db"
    db = Database(path, checkpoint_idle_seconds=0.2)
    try:
        for n in range(20):
            await db.write(lambda conn, n=n: conn.execute(
                "INSERT INTO meta (`key`, value) VALUES (?, ?)", (f"k{n}", "x" * 2000)))
        assert wal_size(path) > 40_000
        deadline = time.monotonic() + 10
        while wal_size(path) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert wal_size(path) == 0
        # Everything is in the database file: a reader that ignores the WAL sees it.
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        assert conn.execute("SELECT count(*) FROM meta WHERE `key` LIKE 'k%'").fetchone() == (20,)
        conn.close()
        # And writing goes on as before.
        await db.write(lambda conn: conn.execute("INSERT INTO meta VALUES ('after', '1')"))
        assert db.read_inline(lambda c: c.execute(
            "SELECT value FROM meta WHERE `key` = 'after'").fetchone()[0]) == "1"
    finally:
        db.close()


def audit_rows(conn: sqlite3.Connection, ages_days: list[float]) -> None:
    conn.executemany(
        "INSERT INTO audit_log (at, tenant_id, actor, action) VALUES (?, 't', 'a', 'x')",
        [(iso(NOW - timedelta(days=age)),) for age in ages_days])


def test_audit_chunks_delete_only_the_old_run(tmp_path: Path, backend: Backend) -> None:
    db = backend.open(tmp_path / "a.db")
    try:
        db.write_sync(lambda conn: audit_rows(conn, [400, 300, 200, 10, 500, 1]))
        before = iso(NOW - timedelta(days=100))
        assert db.write_sync(lambda conn: retention.prune_audit_chunk(conn, before, 2)) == 2
        assert db.write_sync(lambda conn: retention.prune_audit_chunk(conn, before, 2)) == 1
        # The run of old rows ends at the 10-day-old one; the out-of-order 500-day-old row
        # waits until the rows before it are old enough.
        assert db.write_sync(lambda conn: retention.prune_audit_chunk(conn, before, 2)) == 0
        left = db.read_inline(lambda conn: [r[0] for r in conn.execute(
            "SELECT at FROM audit_log ORDER BY id")])
        assert left == [iso(NOW - timedelta(days=d)) for d in (10, 500, 1)]
    finally:
        db.close()


async def test_retention_service_prunes_through_the_writer(tmp_path: Path, backend: Backend
                                                         ) -> None:
    db = backend.open(tmp_path / "r.db")
    try:
        def seed(conn: sqlite3.Connection) -> None:
            audit_rows(conn, [40.0] * 12_000 + [5.0] * 3)
            conn.executemany("INSERT INTO webhook_events (event_id, received_at) VALUES (?, ?)",
                             [(f"evt_{n}", iso(NOW - timedelta(hours=h)))
                              for n, h in enumerate([30, 25, 23, 1])])

        db.write_sync(seed)
        # Audit rows and webhook events are read by nothing cached: a pass keeps every
        # cached read (it dropped them all, 60 s after start and then hourly).
        cache = db.read_cache
        cache.check()
        cache.keep("flow_x", ("detail", "tnt_a"), (b"{}", '"1.0.0"', "usr_a"), 2)
        cache.keep_global(("principal", "token"), "alice")
        settings = load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_AUDIT_RETENTION_DAYS": "30"})
        service = RetentionService(db, settings, clock=lambda: NOW)
        assert await service.prune_once() == {"audit_log": 12_000, "webhook_events": 2}
        assert await service.prune_once() == {"audit_log": 0, "webhook_events": 0}
        cache.check()
        assert cache.peek("flow_x", ("detail", "tnt_a")) == (b"{}", '"1.0.0"', "usr_a")
        assert cache.peek_global(("principal", "token")) == "alice"
        assert service.deleted == {"audit_log": 12_000, "webhook_events": 2}
        counts = db.read_inline(lambda conn: (
            conn.execute("SELECT count(*) FROM audit_log").fetchone()[0],
            sorted(r[0] for r in conn.execute("SELECT event_id FROM webhook_events"))))
        assert counts == (3, ["evt_2", "evt_3"])
    finally:
        db.close()


async def test_audit_is_kept_forever_by_default(tmp_path: Path, backend: Backend) -> None:
    db = backend.open(tmp_path / "k.db")
    try:
        db.write_sync(lambda conn: audit_rows(conn, [4000.0]))
        settings = load_settings({"SCAIFLOW_ENV_FILE": ""})
        assert (settings.audit_retention_days, settings.webhook_dedupe_hours) == (0, 24)
        service = RetentionService(db, settings, clock=lambda: NOW)
        assert await service.prune_once() == {"webhook_events": 0}
        assert db.read_inline(lambda c: c.execute("SELECT count(*) FROM audit_log").fetchone()[0]
                              ) == 1
    finally:
        db.close()


def test_the_data_dir_lock(tmp_path: Path) -> None:
    with DataDirLock(tmp_path, exclusive=False), DataDirLock(tmp_path, exclusive=False):
        # Servers share it; a restore cannot take it.
        with pytest.raises(DataDirBusy, match="server"):
            DataDirLock(tmp_path, exclusive=True).acquire()
    with DataDirLock(tmp_path, exclusive=True):
        with pytest.raises(DataDirBusy, match="restore is in progress"):
            DataDirLock(tmp_path, exclusive=False).acquire()
    with DataDirLock(tmp_path, exclusive=True):  # released on exit
        pass
    assert oct((tmp_path / "scaiflow.lock").stat().st_mode & 0o777) == "0o600"


async def test_retention_runs_only_where_its_lease_is_held(tmp_path: Path) -> None:
    """With several processes on one database, the one holding the retention lease prunes;
    the others' loops pass (services/leases.py)."""
    db = Database(tmp_path / "lease.db")
    try:
        db.write_sync(lambda conn: audit_rows(conn, [40.0] * 5))
        settings = load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_AUDIT_RETENTION_DAYS": "30"})
        leader = False
        service = RetentionService(db, settings, clock=lambda: NOW, leader=lambda: leader)
        task = asyncio.create_task(service.run_forever(first_after=0, every=0.02))
        try:
            await asyncio.sleep(0.2)  # ten turns of the loop, none of them this process's
            assert service.deleted == {}
            assert db.read_inline(lambda c: c.execute(
                "SELECT count(*) FROM audit_log").fetchone()[0]) == 5
            leader = True
            deadline = time.monotonic() + 5
            while not service.deleted and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert service.deleted["audit_log"] == 5
        finally:
            task.cancel()
    finally:
        db.close()
