"""Values derived from the database, valid until any connection commits.

`PRAGMA data_version` on the inline read connection changes whenever another connection (our
writer thread, or the CLI in another process) commits. The cache compares it once per request
and drops everything on a change, so it can never serve a value older than the last commit
seen at the start of the request — revocations and user suspensions included. Under a
read-mostly load it saves the per-request primary-key reads (token's user, revocation row,
flow and ACL rows); under write load it simply empties often and the normal reads run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_MAX_ENTRIES = 20_000
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
ENTRY_OVERHEAD_BYTES = 512  # key tuple, dict slot, the value object itself


class CommitScopedCache:
    """Bounded by entries and by an estimate of the bytes held; when either is exceeded the
    whole cache starts over (it refills at the speed of the reads it saves)."""

    def __init__(self, conn: sqlite3.Connection, max_entries: int = DEFAULT_MAX_ENTRIES,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._conn = conn
        self._generation: int | None = None
        self._entries: dict[Hashable, Any] = {}
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def check(self) -> None:
        """Drop every entry if the database changed since the last check (one cheap PRAGMA)."""
        generation = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if generation != self._generation:
            self.clear()
            self._generation = generation

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
