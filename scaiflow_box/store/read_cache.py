"""Values derived from the database, valid until a commit.

Two signals say the database changed: the writer thread's commit counter (every write of this
process, seen on the very next request) and `PRAGMA data_version` on the inline read
connection, which changes whenever any *other* connection commits — the CLI in another
process, say. The PRAGMA costs ~20 us inside the serving process (measured: 104 -> 81 us of
CPU per cached GET without it), so it runs at most every `external_check_interval` (50 ms):
a `token revoke` or `admin grant` from the CLI applies within 50 ms, everything done through
the API on the next request. Under a read-mostly load the cache saves the per-request
primary-key reads (token's user, revocation row, flow and ACL rows); under write load it
simply empties often and the normal reads run.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_MAX_ENTRIES = 20_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
ENTRY_OVERHEAD_BYTES = 512  # key tuple, dict slot, the value object itself
EXTERNAL_CHECK_INTERVAL = 0.05


class CommitScopedCache:
    """Bounded by entries and by an estimate of the bytes held; when either is exceeded the
    whole cache starts over (it refills at the speed of the reads it saves)."""

    def __init__(self, conn: sqlite3.Connection, local_commits: Callable[[], int],
                 max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._conn = conn
        self._local_commits = local_commits
        self._local_seen = -1
        self._clock = clock
        self._checked_at = float("-inf")
        self.external_check_interval = EXTERNAL_CHECK_INTERVAL
        self._generation: int | None = None
        self._entries: dict[Hashable, Any] = {}
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        # How many times a check found the database changed: long-lived holders of derived
        # state (live-editing sockets re-checking access) compare it between their checks.
        self.changes = 0

    def check(self) -> None:
        """Drop every entry if the database changed since the last check (once per request)."""
        local = self._local_commits()
        if local != self._local_seen:
            self.clear()
            self._local_seen = local
            self.changes += 1
        now = self._clock()
        if now - self._checked_at >= self.external_check_interval:
            self._checked_at = now
            generation = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if generation != self._generation:
                self.clear()
                self._generation = generation
                self.changes += 1

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def get_or_load(self, key: Hashable, load: Callable[[], T],
                    weigh: Callable[[T], int] | None = None) -> T:
        """The cached value, else `load()` (whose exceptions are not cached).

        `weigh` estimates the bytes a value holds; values over an eighth of the budget are
        returned without being kept."""
        try:
            value: T = self._entries[key]
            return value
        except KeyError:
            pass
        value = load()
        size = ENTRY_OVERHEAD_BYTES + (weigh(value) if weigh is not None else 0)
        if size > self._max_bytes // 8:
            return value
        if len(self._entries) >= self._max_entries or self._bytes + size > self._max_bytes:
            self.clear()
        self._entries[key] = value
        self._bytes += size
        return value

    def __len__(self) -> int:
        return len(self._entries)
