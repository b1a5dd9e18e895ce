"""What the repositories need of a database connection, whichever engine is behind it.

The repositories (`store/*.py`) and the services' write and read jobs are written against
`Connection`, `Cursor` and `Row`, which hold exactly what they use. `sqlite3.Connection`
satisfies them as it is, so the embedded default pays nothing for the seam. A MariaDB
connection will be wrapped to satisfy them too (docs/scale-out.md §1): the wrapper only turns
the placeholders (`?`, `:name`) into the driver's (`%s`, `%(name)s`). The few statements whose
meaning differs between the dialects (upserts, `COLLATE NOCASE`, partial indexes, `rowid`)
are not translated at run time: they are written once per dialect, side by side in the
repository that owns them, so each can be read and tested as it runs (docs/decisions.md,
"Scale-out phase 1: the store seam").

`DatabaseUrl` is where a MariaDB database is (`mariadb://user[:password]@host[:port]/database`,
or `?unix_socket=/path` instead of a host), the password possibly from a file. Nothing reads
it yet: phase 2 of docs/scale-out.md adds the settings that name it (§5), and their rows in
the settings table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

DEFAULT_PORT = 3306
SQLITE = "sqlite"
MARIADB = "mariadb"
SCHEMES = ("mariadb", "mysql")
OPTIONS = ("unix_socket",)


class Row(Protocol):
    """A result row: by position, by column name, `keys()` and `dict(row)`."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """The result of `Connection.execute`: rows (as `Row`s, or tuples where the connection
    makes no rows), how many rows a write touched, the id an insert made."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of `sqlite3.Connection` the repositories and services use. Transactions are
    the caller's (`Database`'s writer, or an explicit `BEGIN` for a read snapshot)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Cursor: ...

    @property
    def in_transaction(self) -> bool: ...


def dialect(conn: Connection) -> str:
    """`mariadb` for the MariaDB wrapper (`store/mariadb.py`'s connection says so), `sqlite`
    for anything else: sqlite3's connection, which has no such attribute. A repository whose
    statement differs between the engines picks its text with this; nothing is rewritten at
    run time (docs/decisions.md, "Scale-out phase 1: the store seam")."""
    return str(getattr(conn, "dialect", SQLITE))


def insert_new(conn: Connection, sql: str, parameters: Any) -> bool:
    """MariaDB's `INSERT ... ON CONFLICT (primary key) DO NOTHING` that tells whether it
    inserted: the plain INSERT `sql`, False when a row with its key is there already. (`ON
    DUPLICATE KEY UPDATE pk = pk` counts an untouched row as 1 with the FOUND_ROWS flag the
    wrapper sets, and `INSERT IGNORE` would also hide every other error.) A duplicate key rolls
    back only the statement, not the transaction."""
    from scaiflow_box.store.mariadb import DuplicateKey  # never loaded on SQLite

    try:
        conn.execute(sql, parameters)
    except DuplicateKey:
        return False
    return True


class BadDatabaseUrl(ValueError):
    """The URL is not `mariadb://user[:password]@host[:port]/database`; the message lists
    every problem at once (never the password)."""


@dataclass(frozen=True)
class DatabaseUrl:
    """A MariaDB (or MySQL-protocol) database. `unix_socket` (`?unix_socket=/path`) replaces
    host and port when given. The password is never part of the repr."""

    host: str
    port: int
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    unix_socket: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatabaseUrl:
        """Raises `BadDatabaseUrl` naming everything wrong with `text`, so one correction
        fixes it."""
        parts = urlsplit(text.strip())
        problems: list[str] = []
        if parts.scheme not in SCHEMES:
            problems.append(f"the scheme must be mariadb://, got {parts.scheme or 'none'!r}")
        database = unquote(parts.path.lstrip("/"))
        if not database or "/" in database:
            problems.append("name one database after the host: mariadb://user@host/database")
        port = DEFAULT_PORT
        try:
            given = parts.port
        except ValueError:  # not a number, or past 65535
            given = 0
        if given is not None:
            if 1 <= given <= 65535:
                port = given
            else:
                problems.append("the port must be a number from 1 to 65535")
        query = parse_qs(parts.query)
        unknown = sorted(set(query) - set(OPTIONS))
        if unknown:
            problems.append(f"unknown option(s) {', '.join(unknown)} (only unix_socket)")
        socket = query.get("unix_socket", [None])[0]
        if not parts.hostname and not socket:
            problems.append("a host (or ?unix_socket=/path) is required")
        if not parts.username:
            problems.append("a user is required: mariadb://user@host/database")
        if problems:
            raise BadDatabaseUrl("; ".join(problems))
        password = unquote(parts.password) if parts.password is not None else None
        return cls(host=parts.hostname or "localhost", port=port,
                   user=unquote(parts.username or ""), database=database, password=password,
                   unix_socket=socket)

    def with_password(self, password: str | None) -> DatabaseUrl:
        """This URL with the password read from the password file."""
        return replace(self, password=password)

    def with_database(self, database: str) -> DatabaseUrl:
        return replace(self, database=database)

    def render(self, *, mask: bool = True) -> str:
        """The URL as text (`parse` reads it back); the password masked unless
        `mask=False`."""
        auth = quote(self.user, safe="")
        if self.password is not None:
            auth += ":" + ("********" if mask else quote(self.password, safe=""))
        host = f"[{self.host}]" if ":" in self.host else self.host
        tail = f"?unix_socket={quote(self.unix_socket)}" if self.unix_socket else ""
        return f"mariadb://{auth}@{host}:{self.port}/{quote(self.database, safe='')}{tail}"

    @property
    def where(self) -> str:
        """Where the database is, for messages (no user, no password)."""
        place = self.unix_socket or f"{self.host}:{self.port}"
        return f"MariaDB database {self.database!r} at {place}"
