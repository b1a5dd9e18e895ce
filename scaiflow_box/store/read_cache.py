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

DEFAULT_MAX_ENTRIES = 50_000


class CommitScopedCache:
    def __init__(self, conn: sqlite3.Connection, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._conn = conn
        self._generation: int | None = None
        self._entries: dict[Hashable, Any] = {}
        self._max_entries = max_entries

    def check(self) -> None:
        """Drop every entry if the database changed since the last check (one cheap PRAGMA)."""
        generation = self._conn.execute("PRAGMA data_version").fetchone()[0]
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation

    def clear(self) -> None:
        self._entries.clear()

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value, else `load()` (whose exceptions are not cached)."""
        try:
            value: T = self._entries[key]
            return value
        except KeyError:
            pass
        value = load()
        if len(self._entries) >= self._max_entries:
            self._entries.clear()
        self._entries[key] = value
        return value

    def __len__(self) -> int:
        return len(self._entries)
