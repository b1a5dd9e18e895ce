"""The change sequence (migration 012, docs/scale-out.md §3): how processes sharing one MariaDB
database learn of each other's commits, to drop what their read caches hold. SQLite notices
another process's commit through `PRAGMA data_version` (store/db.py) and leaves these tables
empty.

- Each process owns one row of `change_heads` (its `process_id`) and only it writes that row, so
  processes on different Galera nodes never conflict on it. Each commit that may change cached
  reads adds, in the same transaction, one `change_log` row per changed flow (tenant id, flow
  id) or one row with both NULL ("anything may have changed": roles, tokens, ACL-less writes),
  numbered on from the head, and moves the head to the last number (`ChangeSequence`, used by
  the writer, store/mariadb_database.py).
- Every process reads the heads every `POLL_INTERVAL` and, for each head that moved, the rows
  after the number it had seen (`store/change_follower.py`). Numbers are dense per process, so
  a row missing (pruned) is noticed and drops everything.
- `beat_at` (the database's clock, seconds since the epoch) is renewed every `BEAT_INTERVAL`
  and set to 0 when the process stops: `live_processes` lists the others still alive (key
  rotation refuses while there are any).
- Each process deletes its own rows older than `LOG_KEEP_SECONDS`, and any process deletes the
  heads and rows of processes silent for `DEAD_AFTER_SECONDS`, in bounded statements.

The statements here are MariaDB's (`UNIX_TIMESTAMP`, `ON DUPLICATE KEY`, `DELETE ... LIMIT`).
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from scaiflow_box.store.engine import SQLITE, Connection, dialect
from scaiflow_box.store.read_cache import EXTERNAL_CHECK_INTERVAL

# How often every process reads the heads: another process's commit reaches this process's
# read cache within this time plus one poll's round trips (docs/operations.md, MariaDB).
POLL_INTERVAL = EXTERNAL_CHECK_INTERVAL
# How often a process renews its `beat_at` (with every logged commit, and when idle).
BEAT_INTERVAL = 5.0
# A process whose beat is younger than this is alive (three beats: one late beat is no death).
LIVE_WITHIN_SECONDS = 3 * BEAT_INTERVAL
# How long a process keeps its own log rows: far longer than any poller lags.
LOG_KEEP_SECONDS = 600.0
# How often a process prunes (its own old rows, and dead processes' heads).
PRUNE_INTERVAL = 60.0
# Rows one pruning statement deletes at most (a short transaction, a small Galera write set).
PRUNE_LIMIT = 5_000
# A head silent this long belongs to a process that is gone (or stopped: beat 0).
DEAD_AFTER_SECONDS = 3600.0
# A commit changing more flows than this logs one "anything" row instead.
MAX_LOGGED_FLOWS = 512

# One changed flow as logged: (tenant id, flow id); (None, None) for "anything".
Change = tuple[str | None, str | None]
ANYTHING: Change = (None, None)


def new_process_id() -> str:
    """A process's name in the heads and leases: host, pid and a random part (a pid is reused
    after a restart, and a restarted process must look new)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


# -- the statements -------------------------------------------------------------------------
def heads(conn: Connection) -> list[tuple[str, int]]:
    """(process id, seq) of every head: the one query a poll makes when nothing moved."""
    return [(str(r[0]), int(r[1])) for r in
            conn.execute("SELECT process_id, seq FROM change_heads").fetchall()]


def log_after(conn: Connection, process_id: str, after: int, upto: int) -> list[tuple[int, Change]]:
    """`process_id`'s rows numbered after `after` up to `upto`, in order."""
    return [(int(r[0]), (r[1], r[2])) for r in conn.execute(
        "SELECT seq, tenant_id, flow_id FROM change_log"
        " WHERE process_id = ? AND seq > ? AND seq <= ? ORDER BY seq",
        (process_id, after, upto)).fetchall()]


def head_seq(conn: Connection, process_id: str) -> int:
    """The last number `process_id` used, from its head or its rows (0 when it has none)."""
    row = conn.execute(
        "SELECT GREATEST(COALESCE((SELECT seq FROM change_heads WHERE process_id = ?), 0),"
        " COALESCE((SELECT MAX(seq) FROM change_log WHERE process_id = ?), 0))",
        (process_id, process_id)).fetchone()
    return int(row[0]) if row is not None else 0


def record(conn: Connection, process_id: str, last: int, changes: list[Change]) -> int:
    """Log `changes` numbered after `last` and move the head (beating it): the new last
    number. One multi-row INSERT and one upsert, whatever the number of changes."""
    seq = last
    if changes:
        rows = []
        for tenant_id, flow_id in changes:
            seq += 1
            rows.append((process_id, seq, tenant_id, flow_id))
        # PyMySQL sends an executemany of INSERT ... VALUES as one multi-row statement.
        conn.executemany("INSERT INTO change_log (process_id, seq, tenant_id, flow_id)"
                         " VALUES (?, ?, ?, ?)", rows)
    beat(conn, process_id, seq)
    return seq


def beat(conn: Connection, process_id: str, seq: int) -> None:
    """Say `process_id` is alive at `seq` (making its head if it has none, or none any more:
    a process paused past DEAD_AFTER_SECONDS comes back as a new head, which pollers check)."""
    conn.execute(
        "INSERT INTO change_heads (process_id, seq, beat_at) VALUES (?, ?, UNIX_TIMESTAMP(NOW(6)))"
        " ON DUPLICATE KEY UPDATE seq = VALUES(seq), beat_at = VALUES(beat_at)",
        (process_id, seq))


def stopped(conn: Connection, process_id: str) -> None:
    """`process_id` stops: it no longer counts as alive (its rows stay for the pollers)."""
    conn.execute("UPDATE change_heads SET beat_at = 0 WHERE process_id = ?", (process_id,))


def prune_own(conn: Connection, process_id: str, upto: int, limit: int = PRUNE_LIMIT) -> int:
    """Delete `process_id`'s rows numbered up to `upto`, oldest first, at most `limit`."""
    return conn.execute(
        "DELETE FROM change_log WHERE process_id = ? AND seq <= ? ORDER BY seq LIMIT ?",
        (process_id, upto, limit)).rowcount


def prune_dead(conn: Connection, silent_for: float, limit: int = PRUNE_LIMIT) -> int:
    """Delete the rows, then the heads, of processes silent for `silent_for` seconds (at most
    `limit` rows per head, a head only once its rows are gone): rows deleted."""
    deleted = 0
    dead = [str(r[0]) for r in conn.execute(
        "SELECT process_id FROM change_heads WHERE beat_at < UNIX_TIMESTAMP(NOW(6)) - ?"
        " LIMIT 100", (silent_for,)).fetchall()]
    for process_id in dead:
        rows = conn.execute("DELETE FROM change_log WHERE process_id = ? LIMIT ?",
                            (process_id, limit)).rowcount
        deleted += rows
        if rows < limit:
            conn.execute("DELETE FROM change_heads WHERE process_id = ?"
                         " AND beat_at < UNIX_TIMESTAMP(NOW(6)) - ?", (process_id, silent_for))
    return deleted


def live_processes(conn: Connection, within_seconds: float = LIVE_WITHIN_SECONDS, *,
                   exclude: str | None = None) -> list[str]:
    """The other processes sharing this database whose beat is younger than `within_seconds`
    (`exclude`: the asking process). Always none on SQLite: one box, one serving process."""
    if dialect(conn) == SQLITE:
        return []
    return [str(r[0]) for r in conn.execute(
        "SELECT process_id FROM change_heads WHERE beat_at >= UNIX_TIMESTAMP(NOW(6)) - ?"
        " AND process_id <> ? ORDER BY process_id", (within_seconds, exclude or "")).fetchall()]


# -- the writer's side ----------------------------------------------------------------------
def logged_changes(scope: tuple[tuple[str, str], ...] | None) -> list[Change]:
    """The rows a commit of `scope` (what `Database.write(flows_changed=)` said; None for
    anything) logs: each flow once, or one "anything" row."""
    if scope is None:
        return [ANYTHING]
    flows = list(dict.fromkeys(scope))
    if len(flows) > MAX_LOGGED_FLOWS:
        return [ANYTHING]
    return [(tenant_id, flow_id) for tenant_id, flow_id in flows]


class ChangeSequence:
    """This process's head: the numbers it used, when it last beat and pruned. The writer
    thread and `write_sync` share it; `commit()` holds a lock from logging to COMMIT, so their
    numbers never interleave, and a number is used up only once its commit returned (a batch
    rolled back for a conflict logs the same numbers when it runs again)."""

    def __init__(self, process_id: str) -> None:
        self.process_id = process_id
        self.seq = 0
        self.keep_seconds = LOG_KEEP_SECONDS
        self.prune_interval = PRUNE_INTERVAL
        self.dead_after = DEAD_AFTER_SECONDS
        self._lock = threading.Lock()
        self._stale = True  # the last number is read from the database before the next use
        self._beaten = 0.0  # monotonic time of the last beat
        self._pruned = time.monotonic()
        # (monotonic time, last number then): rows up to a mark older than keep_seconds go.
        self._marks: deque[tuple[float, int]] = deque()
        self._prune_upto = 0  # kept: a prune that hit PRUNE_LIMIT goes on next time

    def lost(self) -> None:
        """A connection broke: its last COMMIT may or may not have happened, so the last number
        is read from the database again before it is used."""
        self._stale = True

    @contextmanager
    def commit(self, conn: Connection, scope: tuple[tuple[str, str], ...] | None, *,
               beat: bool = False) -> Iterator[None]:
        """Log `scope` in `conn`'s transaction, then run the body (the COMMIT). An empty scope
        logs nothing, but beats when `beat` or when a beat is due."""
        changes = [] if scope == () else logged_changes(scope)
        with self._lock:
            if not changes and not beat and not self.beat_due():
                yield
                return
            if self._stale:
                self.seq = head_seq(conn, self.process_id)
                self._stale = False
            last = record(conn, self.process_id, self.seq, changes)
            yield
            self.seq = last
            self._beaten = time.monotonic()

    def beat_due(self) -> bool:
        return time.monotonic() - self._beaten >= BEAT_INTERVAL

    def prune_due(self) -> bool:
        return time.monotonic() - self._pruned >= self.prune_interval

    def prune(self, conn: Connection) -> int:
        """Delete this process's rows older than `keep_seconds` and dead processes' heads, in
        `conn`'s transaction (the caller commits): rows deleted."""
        now = time.monotonic()
        self._pruned = now
        with self._lock:
            self._marks.append((now, self.seq))
            while self._marks and now - self._marks[0][0] >= self.keep_seconds:
                self._prune_upto = self._marks.popleft()[1]
            upto = self._prune_upto
            deleted = prune_own(conn, self.process_id, upto) if upto else 0
        return deleted + prune_dead(conn, self.dead_after)
