"""The change sequence (store/changes.py, store/change_follower.py) on a real mariadbd: two
`MariaDatabase`s on one database stand for two processes of the appliance. What one commits
reaches the other's read cache within the poll bound, exactly as scoped; an unseen head is read
from its first row, a gap or a vanished head drops everything; each process prunes its own rows
and dead processes' heads; a retried batch logs once; an idle poll is one small query; and
`live_processes` tells who else is alive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from scaiflow_box.store import changes
from scaiflow_box.store.engine import DatabaseUrl
from scaiflow_box.store.mariadb import connect
from scaiflow_box.store.mariadb_database import MariaDatabase
from scaiflow_box.store.read_cache import MISSING, ReadCache, tenant_bucket
from tests.mariadb_server import MariaDbDatabase

pytestmark = pytest.mark.mariadb

# The bound docs/operations.md states is one poll interval plus a poll's round trips; the
# tests allow the loaded CI machine six intervals.
BOUND = changes.POLL_INTERVAL * 6


def url_of(database: MariaDbDatabase) -> DatabaseUrl:
    return DatabaseUrl(host="localhost", port=database.port, user="root",
                       database=database.database, unix_socket=database.unix_socket)


def rows(database: MariaDbDatabase, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = connect(url_of(database))
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.rollback()
        conn.close()


def execute(database: MariaDbDatabase, sql: str, *params: Any) -> None:
    conn = connect(url_of(database))
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def two(mariadb_database: MariaDbDatabase) -> Iterator[tuple[MariaDatabase, MariaDatabase]]:
    """Two processes on one database."""
    first = MariaDatabase(url_of(mariadb_database))
    second = MariaDatabase(url_of(mariadb_database))
    yield first, second
    first.close()
    second.close()


def warm(cache: ReadCache) -> None:
    """Values of two flows, a tenant's lists and a global one."""
    cache.check()
    for flow_id in ("flow_x", "flow_y"):
        cache.keep(flow_id, "detail", f"{flow_id} detail", 10)
    cache.keep(tenant_bucket("tnt_a"), "page", "a list page", 10)
    cache.keep(tenant_bucket("tnt_b"), "page", "b list page", 10)
    cache.get_or_load("principal", lambda: "alice")


async def until(cache: ReadCache, gone: tuple[str, str], *, within: float = BOUND) -> float:
    """Seconds until the value (bucket, key) is dropped from `cache` (applying changes as a
    request would); fails after `within` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within * 4:
        cache.check()
        if cache.peek(*gone) is MISSING:
            elapsed = time.monotonic() - started
            assert elapsed <= within, f"dropped after {elapsed * 1000:.0f} ms"
            return elapsed
        await asyncio.sleep(0.002)
    raise AssertionError(f"{gone} still cached after {within * 4:.2f} s")


async def test_a_flow_write_drops_exactly_that_flow_on_the_other_process(
        two: tuple[MariaDatabase, MariaDatabase], mariadb_database: MariaDbDatabase) -> None:
    one, other = two
    warm(other.read_cache)
    await one.write(lambda conn: conn.execute("INSERT INTO meta (`key`, value) VALUES ('a', 'b')"),
                    flows_changed=(("tnt_a", "flow_x"), ("tnt_a", "flow_x")))
    await until(other.read_cache, ("flow_x", "detail"))
    cache = other.read_cache
    assert cache.peek(tenant_bucket("tnt_a"), "page") is MISSING  # the tenant's lists too
    assert cache.peek("flow_y", "detail") == "flow_y detail"
    assert cache.peek(tenant_bucket("tnt_b"), "page") == "b list page"
    assert cache.get_or_load("principal", lambda: "reloaded") == "alice"
    # Logged once per flow, under the writer's own head, in the write's transaction.
    assert rows(mariadb_database, "SELECT seq, tenant_id, flow_id FROM change_log"
                                  " WHERE process_id = ?", one.process_id) == [(1, "tnt_a",
                                                                                "flow_x")]
    assert rows(mariadb_database, "SELECT seq FROM change_heads WHERE process_id = ?",
                one.process_id) == [(1,)]
    # A process does not follow its own head (its writer told its cache already).
    assert one.follower is not None and one.follower.log_reads == 0


async def test_an_unscoped_write_drops_everything_on_the_other_process(
        two: tuple[MariaDatabase, MariaDatabase], mariadb_database: MariaDbDatabase) -> None:
    one, other = two
    warm(other.read_cache)
    await one.write(lambda conn: conn.execute("INSERT INTO meta (`key`, value) VALUES ('a', 'b')"))
    await until(other.read_cache, ("flow_y", "detail"))
    assert len(other.read_cache) == 0
    assert rows(mariadb_database, "SELECT seq, tenant_id, flow_id FROM change_log") == [
        (1, None, None)]
    # The CLI's path (write_sync) logs "anything" too.
    warm(other.read_cache)
    one.write_sync(lambda conn: conn.execute("DELETE FROM meta WHERE `key` = 'a'"))
    await until(other.read_cache, ("flow_x", "detail"))
    assert len(other.read_cache) == 0
    # A write declared to change nothing cached logs nothing.
    await one.write(lambda conn: conn.execute("INSERT INTO meta (`key`, value) VALUES ('n', '')"),
                    flows_changed=())
    assert rows(mariadb_database, "SELECT COUNT(*) FROM change_log") == [(2,)]


async def test_an_idle_poll_is_one_small_query(two: tuple[MariaDatabase, MariaDatabase]) -> None:
    _, other = two
    follower = other.follower
    assert follower is not None
    warm(other.read_cache)
    polls, reads, drops = follower.polls, follower.log_reads, follower.drops
    started = time.process_time()
    for _ in range(200):
        follower.poll_once()
    cpu = (time.process_time() - started) / 200
    await asyncio.sleep(changes.POLL_INTERVAL * 4)
    assert follower.polls >= polls + 200 + 2  # the thread polls on its own as well
    assert (follower.log_reads, follower.drops) == (reads, drops)
    other.read_cache.check()
    assert other.read_cache.peek("flow_x", "detail") == "flow_x detail"
    assert cpu < 0.002, f"an idle poll took {cpu * 1e6:.0f} µs of CPU"


async def test_a_new_head_is_read_from_its_first_row(
        mariadb_database: MariaDbDatabase, two: tuple[MariaDatabase, MariaDatabase]) -> None:
    _, other = two
    warm(other.read_cache)
    late = MariaDatabase(url_of(mariadb_database), follow_changes=False)  # starts afterwards
    try:
        await late.write(lambda conn: None, flows_changed=(("tnt_a", "flow_x"),))
        await until(other.read_cache, ("flow_x", "detail"))
        assert other.read_cache.peek("flow_y", "detail") == "flow_y detail"
    finally:
        late.close()
    # A head first seen with its first rows gone (a process back after being pruned as
    # dead) drops everything.
    warm(other.read_cache)
    execute(mariadb_database, "INSERT INTO change_heads (process_id, seq, beat_at)"
                              " VALUES ('ghost', 3, UNIX_TIMESTAMP())")
    await until(other.read_cache, ("flow_y", "detail"))
    assert len(other.read_cache) == 0


async def test_a_gap_or_a_vanished_head_drops_everything(
        two: tuple[MariaDatabase, MariaDatabase], mariadb_database: MariaDbDatabase) -> None:
    one, other = two
    assert other.follower is not None
    other.follower.stop()  # polled by hand from here
    other.follower.poll_once()
    warm(other.read_cache)
    for flow_id in ("flow_x", "flow_x", "flow_y"):
        await one.write(lambda conn: None, flows_changed=(("tnt_a", flow_id),))
    # The first row goes (as pruning would before a slow poller read it).
    execute(mariadb_database, "DELETE FROM change_log WHERE process_id = ? AND seq = 1",
            one.process_id)
    drops = other.follower.drops
    other.follower.poll_once()
    other.read_cache.check()
    assert other.follower.drops == drops + 1 and len(other.read_cache) == 0
    # In step again: the next write drops only its flow.
    warm(other.read_cache)
    await one.write(lambda conn: None, flows_changed=(("tnt_a", "flow_y"),))
    other.follower.poll_once()
    other.read_cache.check()
    assert other.read_cache.peek("flow_y", "detail") is MISSING
    assert other.read_cache.peek("flow_x", "detail") == "flow_x detail"
    # A head that vanished (pruned as dead) may have had unread rows: everything goes.
    execute(mariadb_database, "DELETE FROM change_heads WHERE process_id = ?", one.process_id)
    other.follower.poll_once()
    other.read_cache.check()
    assert other.follower.drops == drops + 2 and len(other.read_cache) == 0


async def test_a_retried_batch_logs_its_changes_once(
        two: tuple[MariaDatabase, MariaDatabase], mariadb_database: MariaDbDatabase) -> None:
    one, _ = two
    await one.write(lambda conn: None, flows_changed=(("tnt_a", "flow_w"),))
    # Another transaction holds this process's head row: the batch's log rows are written,
    # then its head update times out (1205), and the whole batch runs again.
    holder = connect(url_of(mariadb_database))
    holder.execute("SELECT seq FROM change_heads WHERE process_id = ? FOR UPDATE",
                   (one.process_id,)).fetchall()
    attempts: list[int] = []

    def job(conn: Any) -> None:
        attempts.append(1)
        conn.execute("SET SESSION innodb_lock_wait_timeout = 0")  # fail at once
        if len(attempts) == 2:
            holder.rollback()

    retries = one.conflict_retries
    await one.write(job, flows_changed=(("tnt_a", "flow_x"), ("tnt_b", "flow_y")))
    holder.close()
    await one.write(lambda conn: conn.execute("SET SESSION innodb_lock_wait_timeout = 50"),
                    flows_changed=())
    assert len(attempts) == 2 and one.conflict_retries == retries + 1
    assert rows(mariadb_database, "SELECT seq, tenant_id, flow_id FROM change_log"
                                  " WHERE process_id = ? ORDER BY seq", one.process_id) == [
        (1, "tnt_a", "flow_w"), (2, "tnt_a", "flow_x"), (3, "tnt_b", "flow_y")]
    assert rows(mariadb_database, "SELECT seq FROM change_heads WHERE process_id = ?",
                one.process_id) == [(3,)]


async def test_a_broken_writer_connection_takes_its_numbers_from_the_database(
        two: tuple[MariaDatabase, MariaDatabase], mariadb_database: MariaDbDatabase) -> None:
    one, other = two
    warm(other.read_cache)
    await one.write(lambda conn: None, flows_changed=(("tnt_a", "flow_x"),))
    await until(other.read_cache, ("flow_x", "detail"))
    one.changes.seq = 0  # as if the last COMMIT's fate were unknown, then the connection broke
    one.changes.lost()
    warm(other.read_cache)
    await one.write(lambda conn: None, flows_changed=(("tnt_a", "flow_y"),))
    await until(other.read_cache, ("flow_y", "detail"))
    assert other.read_cache.peek("flow_x", "detail") == "flow_x detail"
    assert rows(mariadb_database, "SELECT seq, flow_id FROM change_log WHERE process_id = ?"
                                  " ORDER BY seq", one.process_id) == [(1, "flow_x"),
                                                                      (2, "flow_y")]


async def test_each_process_prunes_its_old_rows_and_dead_heads(
        two: tuple[MariaDatabase, MariaDatabase], mariadb_database: MariaDbDatabase) -> None:
    one, other = two
    for flow_id in ("flow_x", "flow_y"):
        await one.write(lambda conn: None, flows_changed=(("tnt_a", flow_id),))
    # A process gone long ago, with rows, and one that stopped (beat 0) a moment ago.
    execute(mariadb_database, "INSERT INTO change_heads (process_id, seq, beat_at) VALUES"
                              " ('gone', 2, UNIX_TIMESTAMP() - 7200), ('stopped', 0, 0)")
    execute(mariadb_database, "INSERT INTO change_log (process_id, seq, tenant_id, flow_id)"
                              " VALUES ('gone', 1, NULL, NULL), ('gone', 2, NULL, NULL)")
    # Recent rows are kept: a prune with the default 10 minutes deletes none of one's.
    one.changes.prune_interval = 0.0
    await asyncio.sleep(1.2)  # the writer prunes when idle (every IDLE_WAIT)
    assert rows(mariadb_database, "SELECT process_id, seq FROM change_log ORDER BY process_id,"
                                  " seq") == [(one.process_id, 1), (one.process_id, 2)]
    assert {r[0] for r in rows(mariadb_database, "SELECT process_id FROM change_heads")} == {
        one.process_id, other.process_id}
    # Rows older than the kept time go (here: all of them), the head stays.
    one.changes.keep_seconds = 0.0
    await asyncio.sleep(1.2)
    assert rows(mariadb_database, "SELECT COUNT(*) FROM change_log") == [(0,)]
    assert rows(mariadb_database, "SELECT seq FROM change_heads WHERE process_id = ?",
                one.process_id) == [(2,)]
    # The other process had read them all: nothing was missed, nothing dropped.
    assert other.follower is not None and other.follower.log_reads >= 1


async def test_live_processes_are_the_others_beating(
        mariadb_database: MariaDbDatabase) -> None:
    one = MariaDatabase(url_of(mariadb_database), follow_changes=False)
    other = MariaDatabase(url_of(mariadb_database), follow_changes=False)
    execute(mariadb_database, "INSERT INTO change_heads (process_id, seq, beat_at) VALUES"
                              " ('silent', 0, UNIX_TIMESTAMP() - 60)")

    def live(db: MariaDatabase) -> list[str]:
        return db.read_inline(lambda conn: changes.live_processes(conn, exclude=db.process_id))

    try:
        assert live(one) == [other.process_id]
        assert live(other) == [one.process_id]
        assert one.read_inline(lambda conn: changes.live_processes(conn, 120.0,
                                                                   exclude=one.process_id)
                               ) == sorted([other.process_id, "silent"])
    finally:
        other.close()
    try:
        assert live(one) == []  # a process that stops says so at once
        assert rows(mariadb_database, "SELECT beat_at FROM change_heads WHERE process_id = ?",
                    other.process_id) == [(0.0,)]
    finally:
        one.close()
