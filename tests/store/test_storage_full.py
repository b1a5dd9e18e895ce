"""The writer on a full disk (issue 12): SQLITE_FULL becomes `StorageFull`, only the batch that
met it fails, nothing acknowledged is lost, the WAL stays sound, and `probe_storage` finds the
room again once there is some.

One test fills a real, small tmpfs (mounting needs root: skipped, saying so, elsewhere); the
others cap the database with `PRAGMA max_page_count`, which SQLite answers the same way."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from scaiflow_box.errors import StorageFull
from scaiflow_box.store.db import Database

pytestmark = pytest.mark.sqlite_only(
    "fills SQLite's file with PRAGMA max_page_count and a real full tmpfs; MariaDB's full "
    "disk errors: test_mariadb_connection.py")

NO_LIMIT = 1_073_741_823


def put(key: str, size: int) -> object:
    return lambda conn: conn.execute("INSERT INTO meta (`key`, value) VALUES (?, ?)",
                                     (key, "v" * size))


def stored_keys(path: Path, prefix: str) -> set[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {k for (k,) in conn.execute("SELECT `key` FROM meta WHERE `key` LIKE ?",
                                           (prefix + "%",))}
    finally:
        conn.close()


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


async def test_a_batch_that_loses_its_transaction_fails_alone_and_the_rest_runs_after(
        tmp_path: Path) -> None:
    """SQLite rolls the whole transaction back when a statement finds no room: the jobs run
    in it before fail with it (never acknowledged); the jobs after it run in a new batch."""
    db = Database(tmp_path / "db.sqlite")
    try:
        def cap(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA incremental_vacuum")
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {pages}")

        await db.write(cap)
        gate = threading.Event()
        holding = asyncio.ensure_future(db.write(lambda conn: gate.wait(10)))
        await asyncio.sleep(0.05)  # the writer is inside the gate: the next jobs queue up
        before = asyncio.ensure_future(db.write(put("t-before", 10)))
        big = asyncio.ensure_future(db.write(put("t-big", 400_000)))
        after = asyncio.ensure_future(db.write(put("t-after", 10)))
        gate.set()
        await holding
        outcomes = await asyncio.gather(before, big, after, return_exceptions=True)
        assert isinstance(outcomes[0], StorageFull) and isinstance(outcomes[1], StorageFull)
        assert outcomes[2] is not None and not isinstance(outcomes[2], BaseException)
        assert stored_keys(db.path, "t-") == {"t-after"}
        assert db.storage_full
        with pytest.raises(StorageFull):
            await db.probe_storage()
        assert db.storage_full
        await db.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {NO_LIMIT}"))
        await db.probe_storage()
        assert not db.storage_full
        assert stored_keys(db.path, "storage_probe") == set()
    finally:
        db.close()
    assert integrity(tmp_path / "db.sqlite") == "ok"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB tmpfs. Mounting needs root (CAP_SYS_ADMIN): skipped otherwise."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs",
                           str(mountpoint)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


async def test_a_real_full_disk_loses_nothing_acknowledged_and_recovers(
        small_disk: Path) -> None:
    # Freed later: the space that "returns". In WAL mode the data written meanwhile sits in
    # the WAL until a checkpoint copies it into the database file, which needs as much room
    # again: the space that returns must be larger than what was written while full.
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (2560 * 1024))
    path = small_disk / "scaiflow.db"
    db = Database(path)
    acknowledged: list[str] = []
    refused: list[str] = []
    try:
        for n in range(400):  # 40 KiB each: the disk is full long before the end
            key = f"fill-{n:03}"
            try:
                await db.write(put(key, 40_000))
            except StorageFull:
                refused.append(key)
                if len(refused) >= 3:
                    break
            else:
                acknowledged.append(key)
        assert acknowledged and len(refused) == 3, (len(acknowledged), refused)
        assert db.storage_full
        with pytest.raises(StorageFull):
            await db.probe_storage()
        assert stored_keys(path, "fill-") == set(acknowledged)  # in the WAL, readable

        filler.unlink()
        await db.probe_storage()
        assert not db.storage_full
        await db.write(put("after", 40_000))
    finally:
        db.close()
    assert integrity(path) == "ok"
    assert stored_keys(path, "fill-") == set(acknowledged)
    assert stored_keys(path, "after") == {"after"}
    reopened = Database(path)  # the WAL replays, the writer starts
    try:
        await reopened.write(put("reopened", 10))
    finally:
        reopened.close()
    assert stored_keys(path, "fill-") == set(acknowledged)
