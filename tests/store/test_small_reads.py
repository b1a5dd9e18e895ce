"""`Database.read_small`, the key reads of the event loop: inline on SQLite (no thread hand-off,
no suspension), on a thread of its own on MariaDB, where a read is a round trip to a server
that may stall (docs/decisions.md, "Scale-out phase 3: one key, sizes and reads off the
loop")."""

from __future__ import annotations

import ast
import asyncio
import itertools
import time
from pathlib import Path

import pytest

from scaiflow_box.store.engine import Connection, DatabaseUrl
from scaiflow_box.store.mariadb_database import MariaDatabase
from tests.db_backend import Backend
from tests.mariadb_server import MariaDbDatabase


def meta_value(conn: Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE `key` = 'probe'").fetchone()
    return None if row is None else str(row[0])


async def test_a_small_read_runs_inline_on_sqlite_and_off_the_loop_on_mariadb(
        backend: Backend, tmp_path: Path) -> None:
    db = backend.open(tmp_path / "scaiflow.db")
    try:
        await db.write(lambda conn: conn.execute(
            "INSERT INTO meta (`key`, value) VALUES ('probe', 'v1')"))
        ran: list[str] = []
        asyncio.get_running_loop().call_soon(ran.append, "other")
        assert await db.read_small(meta_value) == "v1"
        # SQLite: answered without suspending, so nothing else ran meanwhile; MariaDB: the
        # loop ran other work while the read was on its thread.
        assert ran == ([] if not backend.mariadb else ["other"])
        assert db.read_inline(meta_value) == "v1"  # the blocking form (CLI) reads the same
        # Each read sees every commit made before it.
        await db.write(lambda conn: conn.execute(
            "UPDATE meta SET value = 'v2' WHERE `key` = 'probe'"))
        assert await db.read_small(meta_value) == "v2"
    finally:
        db.close()


@pytest.mark.mariadb
async def test_on_mariadb_a_stalled_small_read_does_not_hold_the_event_loop(
        mariadb_database: MariaDbDatabase) -> None:
    """The server takes half a second to answer (`SELECT SLEEP`): the loop keeps ticking, and
    other small reads wait their turn without blocking it either."""
    db = MariaDatabase(DatabaseUrl(host="localhost", port=mariadb_database.port, user="root",
                                   database=mariadb_database.database,
                                   unix_socket=mariadb_database.unix_socket))
    ticks: list[float] = []

    async def tick() -> None:
        while True:
            await asyncio.sleep(0.01)
            ticks.append(time.monotonic())

    ticker = asyncio.create_task(tick())
    try:
        await asyncio.sleep(0.05)
        started = time.monotonic()
        slow = asyncio.create_task(db.read_small(
            lambda conn: conn.execute("SELECT SLEEP(0.5), 7").fetchone()[1]))
        queued = asyncio.create_task(db.read_small(meta_value))
        assert await slow == 7
        assert await queued is None
        elapsed = time.monotonic() - started
        during = [t for t in ticks if started <= t <= started + 0.5]
        assert elapsed >= 0.5
        # Ticks every ~10 ms throughout: no gap near the stall's length.
        assert len(during) >= 20, during
        gaps = [b - a for a, b in itertools.pairwise(during)]
        assert max(gaps) < 0.2, gaps
    finally:
        ticker.cancel()
        db.close()


# Blocking callers (the CLI, start-up) that may use the blocking form, by module and function.
BLOCKING_READERS = {
    ("services/bootstrap.py", "open_data_dir"),
    ("services/catalog.py", "import_package_offline"),
    ("services/key_retention.py", "recorded_backups"),
}


def test_code_the_server_runs_reads_through_read_small() -> None:
    """`read_inline` blocks its thread (a round trip on MariaDB): outside the CLI's commands
    only the blocking callers listed above may use it."""
    package = Path(__file__).resolve().parents[2] / "scaiflow_box"
    found: set[tuple[str, str]] = set()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith(("commands/", "store/")):
            continue
        tree = ast.parse(path.read_text("utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Attribute) and node.attr == "read_inline":
                    found.add((relative, function.name))
    assert found <= BLOCKING_READERS, found - BLOCKING_READERS
    assert found, "the walk found no call at all: it is broken"
