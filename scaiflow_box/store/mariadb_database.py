"""The MariaDB database: `store/db.py`'s model (one writer thread, group commit, reader threads)
over PyMySQL connections (docs/scale-out.md §1, option A; docs/decisions.md, "Scale-out phase
2: MariaDB, one process").

- **Writes.** One writer thread with one connection takes every waiting job (at most
  `MAX_BATCH`), runs each inside its own `SAVEPOINT job` (a failing job rolls back alone) and
  commits the batch once; futures are settled after COMMIT returns, so an acknowledged write is
  committed. A batch that meets a deadlock or a Galera certification failure (1213) or a lock
  wait timeout (1205), in a statement or at COMMIT, is rolled back and run again whole, at most
  `BATCH_ATTEMPTS` times with a short jittered pause: the callers never see it. When the last
  of those fails too, its jobs run one per transaction, in rounds (`JOB_ATTEMPTS` at most, a
  jittered pause before each, no new round after `JOB_RETRY_BUDGET`): a job that commits is
  answered at once, one that conflicts again waits for the next round, so one hot job no
  longer takes the others down with it (docs/scale-out.md §1). A job still conflicting after
  the last round fails with `WriteConflict`, a clear message and nothing of it written. A
  connection that broke is opened again for the next batch; the jobs it broke fail (their fate
  is unknown to the server's client, and jobs are not re-run blindly).
- **Reads.** Each reader thread has a connection; each read is one transaction (REPEATABLE
  READ: one snapshot for the whole job), ended after the job, so the next read sees every
  commit made before it began. Key reads from the event loop (`read_small`) run on a thread of
  their own over a connection of their own: on MariaDB a read is a round trip over the socket,
  not a page-cache read, and the server may stall. `read_inline` is the same read on the
  calling thread, for blocking callers (the CLI, start-up).
- **Schema.** Opening a database brings it to this binary's schema (`mariadb_schema/
  upgrade.py`): the baseline on an empty one, then the migrations after it, under the
  `migration` lease, refused while processes of the previous version run on it.
- **Storage full.** The driver wrapper maps a full disk or table to `StorageFull`; the job (or
  the batch, at COMMIT) fails with it and `storage_full` is set until `probe_storage` finds
  room, as on SQLite.

- **Other processes.** Each commit that may change cached reads logs what it changed in the
  same transaction, under this process's head (`store/changes.py`); a thread follows the other
  processes' heads every 50 ms into the read cache (`store/change_follower.py`). The writer
  beats the head and prunes its old rows when idle (docs/scale-out.md §3).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from scaiflow_box.errors import StorageFull, WriteConflict
from scaiflow_box.store import changes, flow_counts
from scaiflow_box.store.change_follower import ChangeFollower
from scaiflow_box.store.database import MARIADB, StoreClosed, StoredSize
from scaiflow_box.store.db import PROBE_BYTES, PROBE_KEY, _changed_flows, _Job, _settle, take_batch
from scaiflow_box.store.engine import Connection, DatabaseUrl
from scaiflow_box.store.mariadb import (
    ConnectionLost,
    MariaDbConnection,
    MariaDbError,
    RetryableConflict,
    connect,
)
from scaiflow_box.store.mariadb_schema.upgrade import prepare_schema, schema_version
from scaiflow_box.store.read_cache import ReadCache

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often a batch is run whole before its jobs are run one per transaction (scale-out §1).
BATCH_ATTEMPTS = 2
# How often each job of such a batch is then run on its own before it fails with WriteConflict.
JOB_ATTEMPTS = 3
# How often a job runs at most before WriteConflict (`write_sync`'s single job too).
CONFLICT_ATTEMPTS = BATCH_ATTEMPTS + JOB_ATTEMPTS
# The pause before a retry, drawn uniformly (seconds): other writers get a chance to finish.
RETRY_PAUSE = (0.005, 0.05)
# No new round of jobs run on their own starts this long after the first (seconds): with the
# pauses above a conflicting job is answered within a few tenths of a second.
JOB_RETRY_BUDGET = 0.3
# How long the writer waits for a job before looking again whether it should stop.
IDLE_WAIT = 0.5
# How long `size()` answers from its last reading (information_schema is a scan of the
# schema's tables; a scraper and a dashboard may ask every second).
SIZE_CACHE_SECONDS = 5.0
SCHEMA_BYTES = ("SELECT COALESCE(SUM(data_length + index_length), 0)"
                " FROM information_schema.tables WHERE table_schema = DATABASE()")




def has_schema(url: DatabaseUrl) -> bool:
    """Whether `url`'s database holds a schema `init` made (for commands other than `init`
    and `serve`, which must not create one). ConnectionLost/MariaDbError when unreachable,
    BadDatabase when it holds another program's tables."""
    conn = connect(url)
    try:
        return bool(schema_version(conn))
    finally:
        conn.rollback()
        conn.close()


class MariaDatabase:
    """Owns the writer thread, the reader pool and the inline reader, on MariaDB."""

    engine = MARIADB

    def __init__(self, url: DatabaseUrl, *, reader_threads: int = 2,
                 process_id: str | None = None, follow_changes: bool = True) -> None:
        self.url = url
        self.process_id = process_id or changes.new_process_id()
        # This process's change sequence (its head in `change_heads`).
        self.changes = changes.ChangeSequence(self.process_id)
        self._writer_conn: MariaDbConnection | None = self._connect_writing()
        try:
            prepare_schema(self._writer_conn, url.where, self.process_id)
            self._upkeep(self._writer_conn)  # the first beat: this process is alive
        except BaseException:
            self._writer_conn.close()
            raise
        self.storage_full = False
        # Transactions run again after a conflict: a batch run again whole, or a job run on its
        # own after its batch conflicted (the tests and the bench read it).
        self.conflict_retries = 0
        # Batches whose jobs ran one per transaction after conflicting whole (the tests read it).
        self.batches_split = 0
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._sync_lock = threading.Lock()
        self._sync_conn: MariaDbConnection | None = None
        self._inline_lock = threading.Lock()
        self._inline_conn: MariaDbConnection | None = None
        self._local = threading.local()
        self._reader_conns: list[MariaDbConnection] = []
        self._reader_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(max_workers=reader_threads,
                                           thread_name_prefix="sfb-reader")
        # One thread: `read_inline`'s connection serves one read at a time.
        self._small_reader = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix="sfb-small-reader")
        self.read_cache = ReadCache()
        # Other processes' commits, followed into the read cache (None: not followed).
        self.follower = (ChangeFollower(url, self.process_id, self.read_cache)
                         if follow_changes else None)
        self._size: tuple[float, StoredSize] | None = None  # (when read, what)
        self._writer = threading.Thread(target=self._write_loop, name="sfb-writer", daemon=True)
        self._writer.start()

    # -- writes -----------------------------------------------------------------------
    async def write(self, fn: Callable[[Connection], T], *,
                    flows_changed: Iterable[tuple[str, str]] | None = None) -> T:
        """As `SqliteDatabase.write`: run `fn(conn)` in the writer's next transaction; return
        once it is committed."""
        if self._closed:
            raise StoreClosed("database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        scope = None if flows_changed is None else tuple(flows_changed)
        self._queue.put(_Job(fn, loop, future, scope))
        return await future

    def write_sync(self, fn: Callable[[Connection], T]) -> T:
        """Blocking write for the CLI and start-up: one job, one transaction, retried on a
        conflict like a batch."""
        with self._sync_lock:
            for attempt in range(1, CONFLICT_ATTEMPTS + 1):
                if self._sync_conn is None:
                    self._sync_conn = self._connect_writing()
                conn = self._sync_conn
                try:
                    conn.execute("BEGIN")
                    result = fn(conn)
                    with self.changes.commit(conn, None):
                        conn.commit()
                except RetryableConflict as exc:
                    self._roll_back(conn)
                    if attempt == CONFLICT_ATTEMPTS:
                        raise _gave_up(exc) from exc
                    self.conflict_retries += 1
                    time.sleep(random.uniform(*RETRY_PAUSE))
                    continue
                except ConnectionLost:
                    self._sync_conn = None
                    self.changes.lost()
                    _close_quietly(conn)
                    raise
                except BaseException:
                    self._roll_back(conn)
                    raise
                self.read_cache.changed(None)
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _write_loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_WAIT)
            except queue.Empty:
                self._idle_upkeep()
                continue
            if first is None:
                return
            batch, stop = take_batch(self._queue, first)
            try:
                self._run_batch(self._writer_conn, batch)
            except Exception as exc:  # a bug must not stop the writer with callers waiting
                log.exception("write batch of %d failed", len(batch))
                for job in batch:
                    job.loop.call_soon_threadsafe(_settle, job.future, False, exc)
            if stop:
                return
            self._idle_upkeep()

    def _idle_upkeep(self) -> None:
        """Beat and prune when due (the writer's connection, a transaction of its own)."""
        if not (self.changes.beat_due() or self.changes.prune_due()):
            return
        try:
            self._upkeep(self._writer_connection())
        except ConnectionLost as exc:
            log.warning("beating the change head failed: the connection broke (%s)", exc)
            if self._writer_conn is not None:
                _close_quietly(self._writer_conn)
            self._writer_conn = None
            self.changes.lost()
        except Exception:  # tried again at the next idle moment
            log.warning("beating or pruning the change head failed", exc_info=True)
            if self._writer_conn is not None:
                self._roll_back(self._writer_conn)

    def _upkeep(self, conn: MariaDbConnection) -> None:
        conn.execute("BEGIN")
        if self.changes.prune_due():
            self.changes.prune(conn)
            flow_counts.fold_gone_shards(conn)
        with self.changes.commit(conn, (), beat=True):
            conn.commit()

    def _connect_writing(self) -> MariaDbConnection:
        """A connection for writes: they count live flows under this process's shard."""
        conn = connect(self.url)
        conn.counter_shard = self.process_id
        return conn

    def _writer_connection(self) -> MariaDbConnection:
        if self._writer_conn is None:
            self._writer_conn = self._connect_writing()
            self.changes.lost()  # the last COMMIT may or may not have happened
        return self._writer_conn

    def _run_batch(self, conn: MariaDbConnection | None, batch: list[_Job]) -> None:
        """Run `batch` on the writer's connection (`conn`; None: it broke, open another)."""
        outcomes: list[tuple[bool, Any]] = []
        rest: list[_Job] = []
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                conn = self._writer_connection()
            except Exception as exc:  # the server is unreachable: nothing ran
                log.warning("write batch of %d failed: %s", len(batch), exc)
                outcomes = [(False, exc) for _ in batch]
                break
            try:
                outcomes, done, rest = self._attempt(conn, batch)
                batch = done
            except RetryableConflict as exc:
                self._roll_back(conn)
                if attempt == BATCH_ATTEMPTS:
                    # Nothing of the batch is committed: its jobs run again, each alone.
                    self._run_alone(batch, exc)
                    return
                self.conflict_retries += 1
                time.sleep(random.uniform(*RETRY_PAUSE))
                continue
            except ConnectionLost as exc:
                outcomes = self._lost(conn, batch, exc)
            except Exception as exc:  # nothing in the batch is committed
                outcomes = self._failed(conn, batch, exc)
            break
        self._answer(batch, outcomes)
        if rest:
            self._run_batch(self._writer_conn, rest)

    def _run_alone(self, jobs: list[_Job], conflict: RetryableConflict) -> None:
        """Run `jobs` (none of them committed) one per transaction, in rounds: each round runs
        every job still pending once, after a jittered pause; a job that commits or fails on
        its own is answered at once, one that conflicts waits for the next round. Those still
        conflicting after `JOB_ATTEMPTS` rounds, or when `JOB_RETRY_BUDGET` has passed, fail
        with WriteConflict."""
        self.batches_split += 1
        pending = jobs
        started = time.monotonic()
        for round_ in range(1, JOB_ATTEMPTS + 1):
            if round_ > 1 and time.monotonic() - started >= JOB_RETRY_BUDGET:
                break
            time.sleep(random.uniform(*RETRY_PAUSE))
            conflicting: list[_Job] = []
            for n, job in enumerate(pending):
                try:
                    conn = self._writer_connection()
                except Exception as exc:  # the server is unreachable: nothing more runs
                    log.warning("write of %d job(s) failed: %s", len(pending) - n, exc)
                    self._answer(pending[n:], [(False, exc)] * (len(pending) - n))
                    break  # those that conflicted before it meet the same in the next round
                self.conflict_retries += 1
                try:
                    outcomes, _, _ = self._attempt(conn, [job])
                except RetryableConflict as exc:
                    self._roll_back(conn)
                    conflict = exc
                    conflicting.append(job)
                    continue
                except ConnectionLost as exc:
                    outcomes = self._lost(conn, [job], exc)
                except Exception as exc:  # nothing of the job is committed
                    outcomes = self._failed(conn, [job], exc)
                self._answer([job], outcomes)
            pending = conflicting
            if not pending:
                return
        log.warning("%d of a write batch of %d job(s) failed: each conflicted when run whole "
                    "and then alone", len(pending), len(jobs))
        self._answer(pending, [(False, _gave_up(conflict)) for _ in pending])  # one error each

    def _lost(self, conn: MariaDbConnection, jobs: list[_Job], exc: ConnectionLost
              ) -> list[tuple[bool, Any]]:
        """The connection broke under `jobs`: they fail (whether their COMMIT happened is
        unknown, so they are not run again), and the next write opens another."""
        log.warning("write of %d job(s) failed: the connection to MariaDB broke (%s)",
                    len(jobs), exc)
        self._writer_conn = None
        self.changes.lost()
        _close_quietly(conn)
        return [(False, exc) for _ in jobs]

    def _failed(self, conn: MariaDbConnection, jobs: list[_Job], exc: Exception
                ) -> list[tuple[bool, Any]]:
        """`jobs`' transaction failed outside any job (BEGIN, COMMIT): nothing is committed."""
        if isinstance(exc, StorageFull):
            log.warning("write of %d job(s) failed: storage full (nothing of it was written)",
                        len(jobs))
        else:
            log.error("write of %d job(s) failed", len(jobs), exc_info=exc)
        self._roll_back(conn)
        return [(False, exc) for _ in jobs]

    def _answer(self, jobs: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
        """Settle `jobs`' futures (after their COMMIT, or once they failed)."""
        if any(not ok and isinstance(value, StorageFull) for ok, value in outcomes):
            self.storage_full = True
        # Told to the read cache before anyone is answered (see store/db.py).
        self.read_cache.changed(_changed_flows(jobs))
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            job.loop.call_soon_threadsafe(_settle, job.future, ok, value)

    def _attempt(self, conn: MariaDbConnection, batch: list[_Job]
                 ) -> tuple[list[tuple[bool, Any]], list[_Job], list[_Job]]:
        """Run the batch in one transaction and commit it: (outcomes, the jobs they are of,
        the jobs left for a batch of their own when the server rolled the transaction back
        under a failing job). RetryableConflict and ConnectionLost propagate."""
        outcomes: list[tuple[bool, Any]] = []
        # No BEGIN: the connection is not in autocommit mode, so the first statement starts
        # the transaction. A savepoint only where a job could undo others' work: before a job
        # that follows one that succeeded (a savepoint replaces the last of its name, so none
        # is released). A batch of one job is its statements and COMMIT, nothing more.
        holds_work = False
        for n, job in enumerate(batch):
            if holds_work:
                conn.execute("SAVEPOINT job")
            try:
                result = job.fn(conn)
            except (RetryableConflict, ConnectionLost):
                raise
            except Exception as exc:  # the job's own failure: roll back just this job
                if not holds_work:
                    self._roll_back(conn)  # only this job's statements are undone
                elif not conn.in_transaction:
                    # The server ended the transaction under the job: what ran so far is
                    # undone. Those jobs fail with the cause; the rest run on their own.
                    return [(False, exc)] * (n + 1), batch[:n + 1], batch[n + 1:]
                else:
                    conn.execute("ROLLBACK TO SAVEPOINT job")
                outcomes.append((False, exc))
            else:
                holds_work = True
                outcomes.append((True, result))
        # The batch's changes are logged in its transaction (other processes follow them).
        with self.changes.commit(conn, _changed_flows(batch)):
            conn.commit()
        return outcomes, batch, []

    @staticmethod
    def _roll_back(conn: MariaDbConnection) -> None:
        try:
            conn.rollback()
        except MariaDbError:
            log.warning("rolling back a failed write batch failed", exc_info=True)

    async def check_writable(self) -> None:
        """A round trip through the writer (raises when the database cannot be written)."""
        await self.write(lambda conn: None, flows_changed=())  # changes nothing cached

    async def probe_storage(self) -> None:
        """As `SqliteDatabase.probe_storage`: write PROBE_BYTES and remove them again."""
        filler = "x" * PROBE_BYTES
        await self.write(lambda conn: conn.execute(
            "REPLACE INTO meta (`key`, value) VALUES (?, ?)", (PROBE_KEY, filler)),
            flows_changed=())
        await self.write(lambda conn: conn.execute("DELETE FROM meta WHERE `key` = ?",
                                                   (PROBE_KEY,)), flows_changed=())
        self.storage_full = False

    # -- reads ------------------------------------------------------------------------
    def _reader_conn(self) -> MariaDbConnection:
        conn: MariaDbConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.url)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    def _read_on_thread(self, fn: Callable[[Connection], T]) -> T:
        conn = self._reader_conn()
        try:
            return _one_read(conn, fn)
        except ConnectionLost:
            self._local.conn = None
            with self._reader_lock:
                self._reader_conns.remove(conn)
            _close_quietly(conn)
            raise

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` on a reader thread, in a transaction of its own."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_on_thread, fn)

    async def read_small(self, fn: Callable[[Connection], T]) -> T:
        """`read_inline` on a thread of its own: a round trip (0.2 ms of this process's CPU,
        unbounded when the server stalls) must not hold the event loop. Not the reader pool,
        so that key reads never queue behind scans."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._small_reader, self.read_inline, fn)

    def read_inline(self, fn: Callable[[Connection], T]) -> T:
        """Run a primary-key read of a few rows on the calling thread (blocking it: the CLI,
        start-up; the event loop goes through `read_small`)."""
        with self._inline_lock:
            if self._inline_conn is None:
                self._inline_conn = connect(self.url)
            conn = self._inline_conn
            try:
                return _one_read(conn, fn)
            except ConnectionLost:
                self._inline_conn = None
                _close_quietly(conn)
                raise

    async def size(self) -> StoredSize:
        """The schema's tables, data and indexes, as InnoDB counts them (pages allocated,
        refreshed with the table statistics), read on a reader thread and kept
        `SIZE_CACHE_SECONDS`."""
        now = time.monotonic()
        if self._size is not None and now - self._size[0] < SIZE_CACHE_SECONDS:
            return self._size[1]
        total = await self.read(lambda conn: int(conn.execute(SCHEMA_BYTES).fetchone()[0]))
        size = StoredSize(MARIADB, total, 0)
        self._size = (now, size)
        return size

    # -- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.follower is not None:
            self.follower.stop()
        self._queue.put(None)
        self._writer.join(timeout=30)
        self._say_stopped()
        self._readers.shutdown(wait=True)
        self._small_reader.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                _close_quietly(conn)
        for other in (self._inline_conn, self._sync_conn, self._writer_conn):
            if other is not None:
                _close_quietly(other)


    def _say_stopped(self) -> None:
        """Mark this process's head stopped (no longer alive for `live_processes`)."""
        conn = self._writer_conn
        if conn is None:
            return
        try:
            changes.stopped(conn, self.process_id)
            conn.commit()
        except Exception as exc:  # the beat then ages out within LIVE_WITHIN_SECONDS
            log.warning("marking the change head stopped failed: %s", exc)


def _close_quietly(conn: MariaDbConnection) -> None:
    """Close a connection that may already be broken (closing one sends a goodbye)."""
    try:
        conn.close()
    except Exception:  # a broken connection is closed all the same
        log.debug("closing a MariaDB connection failed", exc_info=True)


def _one_read(conn: MariaDbConnection, fn: Callable[[Connection], T]) -> T:
    """`fn(conn)` as one transaction, ended afterwards so the next read sees newer commits."""
    try:
        return fn(conn)
    finally:
        if conn.raw.open:
            conn.rollback()


def _gave_up(exc: RetryableConflict) -> WriteConflict:
    """The error a job that conflicted on each attempt fails with: a domain error (503 with
    Retry-After), whose answer names no table or statement; the server's message goes to the
    log."""
    log.warning("a write met other transactions on each of up to %d attempts and was not "
                "made (%s)", CONFLICT_ATTEMPTS, exc)
    error = WriteConflict()
    error.__cause__ = exc
    return error
