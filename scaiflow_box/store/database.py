"""What services need of a database, whichever engine holds it, and the one place that picks
the engine.

`Database` is the surface of `store/db.py`'s SQLite database (the embedded default) and of
`store/mariadb_database.py`'s MariaDB database (`SCAIFLOW_DATABASE_URL`): writes through one
writer thread with group commit, reads on reader threads, tiny key reads (`read_small`) inline
on SQLite and on a thread of their own on MariaDB, a read cache, and the storage-full state
readiness reports. `open_database` builds one of them; nothing else chooses
(docs/scale-out.md §1, phase 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from scaiflow_box.store.engine import MARIADB, SQLITE, Connection, DatabaseUrl
from scaiflow_box.store.read_cache import ReadCache

T = TypeVar("T")

__all__ = ["MARIADB", "SQLITE", "Database", "StoreClosed", "StoredSize", "open_database"]


class StoreClosed(RuntimeError):
    """The database was closed while a write was waiting."""


@dataclass(frozen=True)
class StoredSize:
    """What the database takes on disk, as `/metrics` and the dashboard report it."""

    engine: str
    size_bytes: int  # SQLite: the file; MariaDB: the schema's tables, data and indexes
    wal_size_bytes: int  # SQLite's write-ahead log; 0 on MariaDB (its logs are the server's)


class Database(Protocol):
    """Writes, reads and the read cache of one database (see the module's docstring)."""

    read_cache: ReadCache
    # This process's name among those sharing the database (change heads, leases).
    process_id: str
    # Set by the writer when a write found no room; cleared by a successful probe.
    storage_full: bool

    @property
    def engine(self) -> str:
        """`sqlite` or `mariadb`."""
        ...

    async def write(self, fn: Callable[[Connection], T], *,
                    flows_changed: Iterable[tuple[str, str]] | None = None) -> T: ...

    def write_sync(self, fn: Callable[[Connection], T]) -> T: ...

    async def read(self, fn: Callable[[Connection], T]) -> T: ...

    def read_inline(self, fn: Callable[[Connection], T]) -> T:
        """A read of a few rows on the calling thread, blocking it: for blocking callers (the
        CLI, start-up, the TUI's data-dir tools). On the event loop use `read_small`."""
        ...

    async def read_small(self, fn: Callable[[Connection], T]) -> T:
        """A read of a few rows by key, from the event loop. SQLite runs it right there
        (cheaper than a thread hand-off, and it never suspends); MariaDB, where it is a
        round trip to a server that may stall, on a reader thread of its own."""
        ...

    async def size(self) -> StoredSize:
        """The database's size; never blocks the loop (MariaDB asks on a reader thread)."""
        ...

    async def check_writable(self) -> None: ...

    async def probe_storage(self) -> None: ...

    def close(self) -> None: ...


def open_database(path: Path, url: DatabaseUrl | None, *, reader_threads: int = 2) -> Database:
    """SQLite at `path` when `url` is None (creating and migrating it), else the MariaDB
    database `url` names (its schema created on an empty database). Blocking."""
    if url is None:
        from scaiflow_box.store.db import SqliteDatabase

        return SqliteDatabase(path, reader_threads=reader_threads)
    # Imported only here: an SQLite box never loads the driver.
    from scaiflow_box.store.mariadb_database import MariaDatabase

    return MariaDatabase(url, reader_threads=reader_threads)
