"""The SQLite database: one writer thread with group commit, read-only reader threads.

Why this shape (SPEC §19.1): `synchronous=FULL` makes each COMMIT an fsync, so committing
every request on its own caps durable writes at the disk's fsync rate. The writer thread takes
every write job that is waiting, runs them in one transaction (a failing job rolls back alone:
a SAVEPOINT before each job that follows a succeeded one), and commits the whole batch once:
one fsync acknowledges many writes. Futures are resolved only after COMMIT returns, so an
acknowledged write is on disk.

A full disk (or a size cap, `PRAGMA max_page_count`) makes SQLite answer SQLITE_FULL: the job
that needed room, or the whole batch when the COMMIT itself could not be written, fails with
`StorageFull` (nothing of it is acknowledged; SQLite may roll the whole transaction back on
its own, in which case every job of that batch fails); later batches are unaffected. The
database then reports `storage_full` until `probe_storage` finds room again.

Reads run on a small pool of threads, each with its own read-only connection (WAL lets them
proceed while the writer writes). A primary-key read of a few rows may run inline on the event
loop through `read_small` (or `read_inline`, its blocking form for the CLI): a thread hand-off
costs more than such a query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scaiflow_box.errors import StorageFull
from scaiflow_box.process_facts import file_size, wal_path
from scaiflow_box.store.changes import new_process_id
from scaiflow_box.store.database import SQLITE, StoreClosed, StoredSize
from scaiflow_box.store.engine import Connection
from scaiflow_box.store.migrations import apply_migrations
from scaiflow_box.store.read_cache import EXTERNAL_CHECK_INTERVAL, ReadCache

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteJob = Callable[[Connection], T]

MAX_BATCH = 256
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
CHECKPOINT_EVERY_COMMITS = 500
# A writer idle this long after a commit checkpoints, so an idle server's WAL does not stay
# large (a busy one checkpoints every CHECKPOINT_EVERY_COMMITS commits).
CHECKPOINT_IDLE_SECONDS = 30.0
READER_CACHE_KIB = 32 * 1024
# What `probe_storage` writes (and then removes): room for this much means writes of
# ordinary size fit again.
PROBE_BYTES = 64 * 1024
PROBE_KEY = "storage_probe"


class _TransactionLost(Exception):
    """SQLite rolled the batch's transaction back on its own (it may on SQLITE_FULL)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def is_storage_full(exc: BaseException) -> bool:
    """SQLITE_FULL: the disk, or the database's page cap, has no room (ENOSPC is reported so)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.Error) and code is not None \
        and code & 0xFF == sqlite3.SQLITE_FULL


def _storage_error(exc: Exception) -> Exception:
    """`StorageFull` (chained) for SQLITE_FULL, else the exception itself."""
    if is_storage_full(exc):
        full = StorageFull()
        full.__cause__ = exc
        return full
    return exc


@dataclass
class _Job:
    fn: Callable[[Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    flows_changed: tuple[tuple[str, str], ...] | None  # None: the job may change anything


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
    else:
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        # SQLite's default 2 MiB page cache makes every random read of a large database a
        # walk through the OS page cache; pages are only allocated as they are used.
        conn.execute(f"PRAGMA cache_size = -{READER_CACHE_KIB}")
    return conn


def open_writer_connection(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database with the writer's pragmas and migrations."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = not path.exists()
    conn = _connect(path, readonly=False)
    if fresh:
        # Only takes effect before the first table exists.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
    # What sqlite-utils' Database() once set on this connection when migrations went through
    # it; kept so triggers behave as they always have (docs/decisions.md).
    conn.execute("PRAGMA recursive_triggers = ON")
    apply_migrations(conn)
    return conn


def take_batch(jobs: queue.SimpleQueue[_Job | None], first: _Job) -> tuple[list[_Job], bool]:
    """`first` and the jobs already waiting behind it, up to MAX_BATCH: one commit for them all
    (group commit). True when the stop marker (None) came among them: the writer stops after
    this batch."""
    batch = [first]
    while len(batch) < MAX_BATCH:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            return batch, False
        if job is None:
            return batch, True
        batch.append(job)
    return batch, False


class SqliteDatabase:
    """Owns the writer thread, the reader pool and the inline reader."""

    engine = SQLITE

    def __init__(self, path: Path, *, reader_threads: int = 2,
                 checkpoint_idle_seconds: float = CHECKPOINT_IDLE_SECONDS) -> None:
        self.path = path
        self.process_id = new_process_id()
        self._checkpoint_idle_seconds = checkpoint_idle_seconds
        self._uncheckpointed = False  # commits since the writer's last checkpoint
        self._writer_conn = open_writer_connection(path)
        # Set by the writer when a write found no room; cleared by a successful probe.
        self.storage_full = False
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        self._commits = 0
        self._data_version = self._writer_conn.execute("PRAGMA data_version").fetchone()[0]
        self._external_checked = time.monotonic()
        self._last_commit = 0.0
        self._sync_lock = threading.Lock()
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(
            max_workers=reader_threads, thread_name_prefix="sfb-reader"
        )
        self._inline_conn = _connect(path, readonly=True)
        # Reads kept until a write changes what they were read from (see read_cache.py).
        self.read_cache = ReadCache()
        self._writer = threading.Thread(target=self._write_loop, name="sfb-writer", daemon=True)
        self._writer.start()

    # -- writes -----------------------------------------------------------------------
    async def write(self, fn: Callable[[Connection], T], *,
                    flows_changed: Iterable[tuple[str, str]] | None = None) -> T:
        """Run `fn(conn)` in the writer's next transaction; return once it is committed.

        `flows_changed`: the (tenant id, flow id) whose rows (flow, versions, ACLs) the job
        may change, when that is all it changes besides rows nothing caches (audit,
        deployments): only those flows' cached reads, and their tenants' cached lists, are
        dropped. None (the default): every cached read is."""
        if self._closed:
            raise StoreClosed("database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        scope = None if flows_changed is None else tuple(flows_changed)
        self._queue.put(_Job(fn, loop, future, scope))
        return await future

    def write_sync(self, fn: Callable[[Connection], T]) -> T:
        """Blocking write for the CLI (no event loop): one job, one transaction."""
        with self._sync_lock:
            conn = self._writer_conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except Exception as exc:
                self._roll_back(conn)
                error = _storage_error(exc)
                if error is exc:
                    raise
                raise error from exc
            except BaseException:
                self._roll_back(conn)
                raise
            self._commits += 1
            self.read_cache.changed(None)
            return result

    def _write_loop(self) -> None:
        conn = self._writer_conn
        while True:
            try:
                first = self._queue.get(timeout=EXTERNAL_CHECK_INTERVAL)
            except queue.Empty:  # idle for a whole interval: look now
                self._check_external(conn, force=True)
                if (self._uncheckpointed and time.monotonic() - self._last_commit
                        >= self._checkpoint_idle_seconds):
                    self._idle_checkpoint(conn)
                continue
            if first is None:
                return
            batch, stop = take_batch(self._queue, first)
            self._run_batch(conn, batch)
            if stop:
                return

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        rest: list[_Job] = []  # jobs not run yet when the transaction was lost
        try:
            # A savepoint only where a job could undo others' work: before a job that follows
            # one that succeeded. A batch of one job is BEGIN, its statements and COMMIT.
            # Each savepoint is released (or rolled back to and released) at once: SQLite's
            # savepoints nest, and every page a job writes is checked against each one still
            # open, so a batch of 256 jobs left open would cost O(n²).
            holds_work = False
            for n, job in enumerate(batch):
                savepoint = False
                if not conn.in_transaction:
                    conn.execute("BEGIN IMMEDIATE")
                elif holds_work:
                    conn.execute("SAVEPOINT job")
                    savepoint = True
                try:
                    result = job.fn(conn)
                except Exception as exc:  # the job's own failure: roll back just this job
                    if not holds_work:
                        self._roll_back(conn)  # only this job's statements are undone
                    elif not conn.in_transaction:
                        # SQLite rolled the whole transaction back (on SQLITE_FULL it may):
                        # the jobs run so far are undone; those after get a batch of their own.
                        rest = batch[n + 1:]
                        batch = batch[:n + 1]
                        raise _TransactionLost(exc) from exc
                    else:
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                    outcomes.append((False, _storage_error(exc)))
                else:
                    if savepoint:
                        conn.execute("RELEASE job")
                    holds_work = True
                    outcomes.append((True, result))
            if conn.in_transaction:
                conn.execute("COMMIT")
        except Exception as exc:  # nothing in the batch is durable
            cause = exc.cause if isinstance(exc, _TransactionLost) else exc
            if is_storage_full(cause):
                log.warning("write batch of %d failed: storage full (nothing of it was "
                            "written)", len(batch))
            else:
                log.exception("write batch of %d failed", len(batch))
            self._roll_back(conn)
            outcomes = [(False, _storage_error(cause)) for _ in batch]
        if any(not ok and isinstance(value, StorageFull) for ok, value in outcomes):
            self.storage_full = True
        # Told to the read cache before anyone is answered: a request that follows an
        # acknowledged write must not find what the write replaced.
        self._commits += 1
        self.read_cache.changed(_changed_flows(batch))
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            job.loop.call_soon_threadsafe(_settle, job.future, ok, value)
        self._uncheckpointed = True
        self._last_commit = time.monotonic()
        self._check_external(conn)
        if self._commits % CHECKPOINT_EVERY_COMMITS == 0:
            self._passive_checkpoint(conn)
            self._uncheckpointed = False
        if rest:
            self._run_batch(conn, rest)

    @staticmethod
    def _roll_back(conn: sqlite3.Connection) -> None:
        """End a failed batch's transaction; on SQLITE_FULL SQLite may have done it already."""
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            log.warning("rolling back a failed write batch failed", exc_info=True)

    def _check_external(self, conn: sqlite3.Connection, *, force: bool = False) -> None:
        """Did another process commit? Checked whenever the writer has been idle for an
        interval, and after a batch when the last check is an interval old, so a commit of
        the CLI reaches the cache within EXTERNAL_CHECK_INTERVAL. The writer's own
        `data_version` moves only on other connections' commits, and nothing else in this
        process writes."""
        now = time.monotonic()
        if not force and now - self._external_checked < EXTERNAL_CHECK_INTERVAL:
            return
        self._external_checked = now
        try:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            log.warning("data_version check failed", exc_info=True)
            self.read_cache.changed(None)
            return
        if version != self._data_version:
            self._data_version = version
            self.read_cache.changed(None)

    def _idle_checkpoint(self, conn: sqlite3.Connection) -> None:
        """Nothing was written for a while: copy the WAL into the database and, when that
        copied everything, empty the WAL file (waiting at most 100 ms for readers)."""
        self._uncheckpointed = False
        try:
            conn.execute("PRAGMA incremental_vacuum(256)")
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if busy == 0 and frames > 0 and copied == frames:
                conn.execute("PRAGMA busy_timeout = 100")
                try:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    conn.execute("PRAGMA busy_timeout = 5000")
        except sqlite3.Error as exc:
            log.warning("idle checkpoint failed", exc_info=not is_storage_full(exc))

    @staticmethod
    def _passive_checkpoint(conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.execute("PRAGMA incremental_vacuum(256)")
        except sqlite3.Error as exc:
            log.warning("passive checkpoint failed", exc_info=not is_storage_full(exc))

    async def check_writable(self) -> None:
        """Take the write lock through the writer (raises when the database cannot be written)."""
        await self.write(lambda conn: None, flows_changed=())  # changes nothing cached

    async def probe_storage(self) -> None:
        """Write PROBE_BYTES and remove them again, each through the writer in a commit of its
        own (so the bytes really reach the WAL): raises StorageFull while there is no room;
        when it succeeds the database no longer reports storage full."""
        filler = "x" * PROBE_BYTES
        # The probe row is read by nothing cached: the read cache keeps everything.
        await self.write(lambda conn: conn.execute(
            "INSERT OR REPLACE INTO meta (`key`, value) VALUES (?, ?)", (PROBE_KEY, filler)),
            flows_changed=())
        await self.write(lambda conn: conn.execute("DELETE FROM meta WHERE `key` = ?",
                                                   (PROBE_KEY,)), flows_changed=())
        self.storage_full = False

    # -- reads ------------------------------------------------------------------------
    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn(conn)` on a reader thread (scans, searches, anything not trivially small).
        A sort spilling to a full disk is StorageFull too."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, lambda: fn(self._reader_conn()))
        except sqlite3.Error as exc:
            error = _storage_error(exc)
            if error is exc:
                raise
            raise error from exc

    def read_inline(self, fn: Callable[[Connection], T]) -> T:
        """Run a primary-key read of a few rows right here (on the event loop)."""
        return fn(self._inline_conn)

    async def read_small(self, fn: Callable[[Connection], T]) -> T:
        """`read_inline` from the event loop: a page-cache read of microseconds, run right
        here without suspending (so nothing else runs between its caller's steps)."""
        return fn(self._inline_conn)

    async def size(self) -> StoredSize:
        """The file and its WAL: two `stat` calls, fine on the loop."""
        return StoredSize(SQLITE, file_size(self.path), file_size(wal_path(self.path)))

    # -- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._writer.join(timeout=30)
        self._readers.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
        self._inline_conn.close()
        try:
            self._writer_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:  # the WAL stays beside the file and is replayed on open
            log.warning("final checkpoint failed", exc_info=not is_storage_full(exc))
        self._writer_conn.close()

    def backup_to(self, target: Path) -> None:
        """Consistent online copy through SQLite's backup API (safe while serving), written
        as one self-contained file: created 0600 (never over an existing file), in rollback
        journal mode so that nothing (`-wal`, `-shm`) is left or later made beside it. OSError
        (e.g. a missing directory) before anything is written; a failed copy is removed."""
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        try:
            dest = sqlite3.connect(str(target))
            try:
                src = _connect(self.path, readonly=True)
                try:
                    src.backup(dest)
                finally:
                    src.close()
                # The copy inherits the WAL flag of the source's header: take it out, so a
                # reader of the backup never creates sidecar files next to it.
                dest.execute("PRAGMA journal_mode = DELETE").fetchone()
            finally:
                dest.close()
        except BaseException:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{target}{suffix}")
            raise


# The name the tests and the SQLite-only tools (backup, restore) build it by.
Database = SqliteDatabase
__all__ = ["Database", "SqliteDatabase", "StoreClosed"]


def _changed_flows(batch: list[_Job]) -> tuple[tuple[str, str], ...] | None:
    """What a committed batch may have changed: the union of its jobs' flows, or None."""
    flows: list[tuple[str, str]] = []
    for job in batch:
        if job.flows_changed is None:
            return None
        flows.extend(job.flows_changed)
    return tuple(flows)


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
