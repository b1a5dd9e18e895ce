"""Following the other processes' change sequences (store/changes.py) into this process's read
cache, on MariaDB: a thread of its own with a connection of its own (a poll is a network round
trip, so it stays off the event loop and off the reader threads, whose queue it would wait in).

Every `POLL_INTERVAL` one query reads every head (autocommit: each poll sees the latest commits,
and nothing holds a snapshot open between polls). For each other process's head that moved it
reads the rows after the number seen last and tells the cache which flows changed, or that
anything may have. Everything is dropped when:
- rows are missing (pruned before they were read, or a process came back after being pruned
  as dead: its numbers no longer start at 1);
- a head went back, or vanished (its process was pruned as dead: its last rows may be unread);
- the poll itself failed (the next poll reconnects).

A head never seen before is read from its first number, so a process starting up costs the
others nothing more than its own rows. Only this process's own head is skipped: its commits
reach its cache from the writer.
"""

from __future__ import annotations

import logging
import threading

from scaiflow_box.store import changes
from scaiflow_box.store.engine import DatabaseUrl
from scaiflow_box.store.mariadb import MariaDbConnection, connect
from scaiflow_box.store.read_cache import ReadCache

log = logging.getLogger(__name__)

# A head that moved further than this between two polls drops everything instead of being
# read (a process back after a long pause; 50 ms of one process's writes are far fewer).
MAX_ROWS_READ = 10_000


class ChangeFollower:
    """Polls the heads for `read_cache` (see the module's docstring)."""

    def __init__(self, url: DatabaseUrl, process_id: str, read_cache: ReadCache, *,
                 interval: float = changes.POLL_INTERVAL) -> None:
        self.url = url
        self.process_id = process_id
        self.read_cache = read_cache
        self.interval = interval
        self._seen: dict[str, int] = {}
        self._rebaseline = False
        self._conn: MariaDbConnection | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # Counters for tests and the curious: polls made, log reads, whole-cache drops.
        self.polls = 0
        self.log_reads = 0
        self.drops = 0
        # The first poll happens now, before the cache holds anything: heads found are known
        # from here on (their earlier rows predate every cached value).
        self._baseline()
        self._thread = threading.Thread(target=self._run, name="sfb-changes", daemon=True)
        self._thread.start()

    def _connection(self) -> MariaDbConnection:
        if self._conn is None:
            conn = connect(self.url)
            conn.raw.autocommit(True)  # each poll one statement, its own fresh snapshot
            self._conn = conn
        return self._conn

    def _baseline(self) -> None:
        try:
            self._seen = {pid: seq for pid, seq in changes.heads(self._connection())
                          if pid != self.process_id}
        except Exception:  # the next poll starts again from the heads it finds
            log.warning("reading the change heads failed", exc_info=True)
            self._forget()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll_once()

    def poll_once(self) -> None:
        """One poll: the heads, and the rows of those that moved (see the module). Safe to
        call from another thread (the tests do): polls take turns on the one connection."""
        with self._lock:
            try:
                everything, flows = self._poll(self._connection())
            except Exception:
                log.warning("following other processes' changes failed; dropping every cached "
                            "read", exc_info=True)
                self._forget()
                everything, flows = True, []
        if everything:
            self.drops += 1
            self.read_cache.changed(None)
        elif flows:
            self.read_cache.changed(flows)

    def _poll(self, conn: MariaDbConnection) -> tuple[bool, list[tuple[str, str]]]:
        self.polls += 1
        current = {pid: seq for pid, seq in changes.heads(conn) if pid != self.process_id}
        if self._rebaseline:
            # After a failure: start from the heads found now, and drop everything again (a
            # value loaded since the failure may predate a commit made meanwhile).
            self._seen, self._rebaseline = current, False
            return True, []
        everything = bool(self._seen.keys() - current.keys())  # a head vanished
        flows: list[tuple[str, str]] = []
        for pid, seq in current.items():
            last = self._seen.get(pid, 0)
            if seq == last:
                continue
            if seq < last or seq - last > MAX_ROWS_READ:
                # Went back (not a sequence this poller can follow), or too far to be worth
                # reading row by row: drop everything instead.
                everything = True
                continue
            self.log_reads += 1
            rows = changes.log_after(conn, pid, last, seq)
            if len(rows) != seq - last:  # some were pruned before this poller read them
                everything = True
                continue
            for _, (tenant_id, flow_id) in rows:
                if tenant_id is None or flow_id is None:
                    everything = True
                elif not everything:
                    flows.append((tenant_id, flow_id))
        self._seen = current
        return everything, flows

    def _forget(self) -> None:
        """After a failure: reconnect at the next poll, and take the heads found then as the
        new baseline (the caller drops everything now)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # a broken connection is closed all the same
                log.debug("closing the change poll's connection failed", exc_info=True)
        self._rebaseline = True

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
