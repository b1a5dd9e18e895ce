"""A MariaDB connection with the surface of `sqlite3.Connection` that the repositories use.

The repositories are written in SQLite's dialect and against sqlite3's API (docs/scale-out.md
§1). `MariaDbConnection` wraps a PyMySQL connection so that the same calls work on MariaDB:

- `execute(sql, params)` / `executemany(sql, seq)` with `?` or `:name` placeholders. Each
  statement is translated once (memoised: statements are constants or come from small sets of
  f-strings) to PyMySQL's `%s` / `%(name)s`. Quoted literals, quoted identifiers and comments
  are copied as they are, so a `?` in `'$.a?'` or in a JSON literal stays a `?`; every `%` is
  doubled, literals included, because PyMySQL formats the whole statement with `%`.
- rows addressable by position and by name (`row[0]`, `row["id"]`, `dict(row)`, unpacking), as
  `sqlite3.Row` is; PyMySQL's `DictCursor` gives only names.
- `rowcount` as SQLite counts it: rows *matched* by an UPDATE, not only rows whose values
  changed (`CLIENT.FOUND_ROWS`), since the repositories read `rowcount == 1` as "the row
  exists". `lastrowid`, `commit`, `rollback`, `in_transaction`.
- numbers as SQLite types them: `SUM()` over integers is DECIMAL on MariaDB (PyMySQL: a
  `Decimal`) but an `int` on SQLite; `AVG()` a float.

Errors are raised as subclasses of sqlite3's, so code written against sqlite3 keeps catching
them: a duplicate key (1062) is `DuplicateKey`, an `sqlite3.IntegrityError`, like every other
constraint (NOT NULL, CHECK, foreign key, a trigger's `SIGNAL`); a deadlock or Galera
certification failure (1213) and a lock wait timeout (1205) are `RetryableConflict`, which the
writer retries (scale-out §1); a full disk or table (1021, 1114, errno 28) is the domain's
`StorageFull`, as SQLITE_FULL is in `store/db.py`; anything else is `MariaDbError`. The driver's
exception is chained (`__cause__`) and its number kept in `errno`.

The session is utf8mb4 with `utf8mb4_bin` (ids compare byte for byte, as in SQLite), strict
(an over-long value is refused, not truncated), with `||` as concatenation as in SQLite, and
autocommit off: a transaction starts with the first statement and ends with `commit()` or
`rollback()`. On a Galera node it also sets `wsrep_sync_wait = 1`: a commit through another
node returns once every node has certified it, but this node applies it a little later, and a
read in between would miss it (a flow just made through another process not found; measured in
tests/galera, docs/scale-out.md phase 4). With it, each read first waits until this node has
applied every transaction the cluster committed before the read began.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NoReturn, Protocol

import pymysql
import pymysql.converters
from pymysql.constants import CLIENT, ER, FIELD_TYPE, SERVER_STATUS

from scaiflow_box.errors import StorageFull

DIALECT = "mariadb"
DEFAULT_PORT = 3306
CHARSET = "utf8mb4"
COLLATION = "utf8mb4_bin"
SQL_MODE = ("STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ZERO_DATE,NO_ZERO_IN_DATE,"
            "NO_ENGINE_SUBSTITUTION,PIPES_AS_CONCAT")
# The client's own limit on one packet; the server's max_allowed_packet is the real bound
# (docs/scale-out.md §2: a whole .scaipkg or live snapshot travels in one statement).
CLIENT_MAX_PACKET = 1024 * 1024 * 1024
# On Galera: reads (SELECT, SELECT ... FOR UPDATE, SHOW) wait until the node has caught up
# with the cluster (the module's docstring says why); nothing on a server without wsrep.
WSREP_SYNC_WAIT = 1


class Address(Protocol):
    """Where a MariaDB database is: the fields of a database URL (`store/engine.py`'s
    `DatabaseUrl` has them). `unix_socket`, when given, replaces host and port."""

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    @property
    def user(self) -> str: ...

    @property
    def password(self) -> str | None: ...

    @property
    def database(self) -> str: ...

    @property
    def unix_socket(self) -> str | None: ...


@dataclass(frozen=True)
class MariaDbAddress:
    """An `Address` of its own, for callers without a URL. The password is not in the repr."""

    database: str
    user: str
    host: str = "localhost"
    port: int = DEFAULT_PORT
    password: str | None = field(default=None, repr=False)
    unix_socket: str | None = None


# --- errors ----------------------------------------------------------------------------------


class MariaDbError(sqlite3.DatabaseError):
    """A server or driver error with no closer class; `errno` is MariaDB's error number."""

    def __init__(self, message: str, errno: int) -> None:
        super().__init__(message)
        self.errno = errno


class IntegrityViolation(MariaDbError, sqlite3.IntegrityError):
    """A constraint refused the statement (NOT NULL, CHECK, foreign key, a trigger's
    `SIGNAL`): what SQLite reports as `sqlite3.IntegrityError`."""


class DuplicateKey(IntegrityViolation):
    """A primary or unique key already holds the value (1062): SQLite's UNIQUE failure."""


class RetryableConflict(MariaDbError, sqlite3.OperationalError):
    """Another transaction got in the way: a deadlock or a Galera certification failure (1213,
    the whole transaction is rolled back), or a lock wait timeout (1205, only the statement
    is). Running the transaction again may succeed."""

    @property
    def transaction_rolled_back(self) -> bool:
        return self.errno == ER.LOCK_DEADLOCK


class ConnectionLost(MariaDbError, sqlite3.OperationalError):
    """The server cannot be reached or the connection broke: nothing is known of the open
    transaction's fate, and the connection must be opened again."""


_INTEGRITY = frozenset({
    ER.BAD_NULL_ERROR, 1364,  # NOT NULL; "field has no default value" (strict mode)
    ER.ROW_IS_REFERENCED, ER.NO_REFERENCED_ROW, ER.ROW_IS_REFERENCED_2,
    ER.NO_REFERENCED_ROW_2,
    4025,  # CHECK constraint (ER_CONSTRAINT_FAILED)
    1644,  # a trigger's SIGNAL SQLSTATE '45000' (ER_SIGNAL_EXCEPTION), SQLite's RAISE(ABORT)
})
_DUPLICATE = frozenset({ER.DUP_ENTRY, ER.DUP_UNIQUE, 1586})  # 1586: ..._WITH_KEY_NAME
_CONFLICT = frozenset({ER.LOCK_DEADLOCK, ER.LOCK_WAIT_TIMEOUT})
_FULL = frozenset({ER.DISK_FULL, ER.RECORD_FILE_FULL})
# Write failures that are a full disk when the OS error they carry is ENOSPC (28).
_WRITE_FAILED = frozenset({3, ER.ERROR_ON_WRITE, ER.GET_ERRNO, 1878})
_ENOSPC = re.compile(r"(errcode|error)\W+28\b|no space left", re.IGNORECASE)
# Client-side errors (CR_*) of a connection that is gone.
_LOST = frozenset({2002, 2003, 2006, 2013, 2055})


def map_error(exc: pymysql.err.MySQLError) -> Exception:
    """The error to raise for a driver exception (chained to it)."""
    errno = int(exc.args[0]) if exc.args and isinstance(exc.args[0], int) else 0
    message = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    mapped: Exception
    if errno in _FULL or (errno in _WRITE_FAILED and _ENOSPC.search(message)):
        mapped = StorageFull()
    elif errno in _DUPLICATE:
        mapped = DuplicateKey(message, errno)
    elif errno in _INTEGRITY or isinstance(exc, pymysql.err.IntegrityError):
        mapped = IntegrityViolation(message, errno)
    elif errno in _CONFLICT:
        mapped = RetryableConflict(message, errno)
    elif errno in _LOST or isinstance(exc, pymysql.err.InterfaceError):
        mapped = ConnectionLost(message or "the connection to MariaDB is closed", errno)
    else:
        mapped = MariaDbError(message, errno)
    mapped.__cause__ = exc
    return mapped


def _raise_mapped(exc: pymysql.err.MySQLError) -> NoReturn:
    raise map_error(exc) from exc


# --- placeholders --------------------------------------------------------------------------


@dataclass(frozen=True)
class Translated:
    """A statement in PyMySQL's paramstyle: `positional` `?`s, or the `:names` it uses."""

    sql: str
    positional: int
    names: frozenset[str]


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _quoted_end(sql: str, start: int) -> int:
    """The index after the quoted text opening at `start`, as MariaDB reads it: a doubled
    quote stays inside; in '...' and "..." a backslash escapes the next character."""
    quote = sql[start]
    i = start + 1
    while i < len(sql):
        char = sql[i]
        if char == "\\" and quote != "`":
            i += 2
            continue
        if char == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)  # unterminated: the server will say so


def _comment_end(sql: str, i: int) -> int | None:
    """The index after a comment starting at `i` (MariaDB's: `-- ` with a blank after the
    dashes, `#`, `/* */`), or None if no comment starts there."""
    if sql.startswith("--", i) and (i + 2 == len(sql) or sql[i + 2] in " \t\r\n"):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if sql[i] == "#":
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end < 0 else end + 2
    return None


@lru_cache(maxsize=4096)
def translate(sql: str) -> Translated:
    """`sql` with `?` → `%s` and `:name` → `%(name)s` outside quotes and comments, and every
    `%` doubled. Mixing both styles, or SQLite's numbered `?NNN`, is a ProgrammingError."""
    out: list[str] = []
    positional = 0
    names: set[str] = set()
    i = 0
    while i < len(sql):
        char = sql[i]
        if char in "'\"`":
            end = _quoted_end(sql, i)
            out.append(sql[i:end].replace("%", "%%"))
            i = end
            continue
        comment = _comment_end(sql, i) if char in "-#/" else None
        if comment is not None:
            out.append(sql[i:comment].replace("%", "%%"))
            i = comment
            continue
        if char == "?":
            if i + 1 < len(sql) and sql[i + 1].isdigit():
                raise sqlite3.ProgrammingError("numbered placeholders (?NNN) are not supported")
            out.append("%s")
            positional += 1
        elif char == ":" and i + 1 < len(sql) and sql[i + 1] in _NAME_CHARS \
                and not sql[i + 1].isdigit() and (i == 0 or sql[i - 1] != ":"):
            end = i + 1
            while end < len(sql) and sql[end] in _NAME_CHARS:
                end += 1
            name = sql[i + 1:end]
            names.add(name)
            out.append(f"%({name})s")
            i = end
            continue
        elif char == "%":
            out.append("%%")
        else:
            out.append(char)
        i += 1
    if positional and names:
        raise sqlite3.ProgrammingError("a statement uses either ? or :name placeholders")
    return Translated("".join(out), positional, frozenset(names))


def _arguments(statement: Translated, params: Any) -> tuple[Any, ...] | dict[str, Any]:
    """`params` checked against the statement as sqlite3 checks them."""
    if statement.names:
        if not isinstance(params, Mapping):
            raise sqlite3.ProgrammingError("named placeholders need a mapping of parameters")
        missing = sorted(statement.names - set(params))
        if missing:
            raise sqlite3.ProgrammingError(
                f"You did not supply a value for binding parameter :{missing[0]}.")
        return dict(params)
    if isinstance(params, Mapping) or isinstance(params, (str, bytes)) \
            or not isinstance(params, Sequence):
        raise sqlite3.ProgrammingError("? placeholders need a sequence of parameters")
    if len(params) != statement.positional:
        raise sqlite3.ProgrammingError(
            f"Incorrect number of bindings supplied. The current statement uses "
            f"{statement.positional}, and there are {len(params)} supplied.")
    return tuple(params)


# --- rows and cursors ----------------------------------------------------------------------


class Columns:
    """The column names of one result, shared by its rows."""

    __slots__ = ("folded", "names", "position")

    def __init__(self, description: Any) -> None:
        self.names = [str(column[0]) for column in description or ()]
        self.position: dict[str, int] = {}
        self.folded: dict[str, int] = {}
        for index, name in enumerate(self.names):  # the first of equal names wins
            self.position.setdefault(name, index)
            self.folded.setdefault(name.lower(), index)


class Row:
    """A result row like `sqlite3.Row`: by position, by column name (exact, else ignoring
    case), `keys()`, `dict(row)`, iteration, unpacking, equality."""

    __slots__ = ("_columns", "_values")

    def __init__(self, columns: Columns, values: tuple[Any, ...]) -> None:
        self._columns = columns
        self._values = values

    def __getitem__(self, key: int | str | slice) -> Any:
        if isinstance(key, str):
            index = self._columns.position.get(key)
            if index is None:
                index = self._columns.folded.get(key.lower())
                if index is None:
                    raise IndexError("No item with that key")
            return self._values[index]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._columns.names)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return NotImplemented
        return self._columns.names == other._columns.names and self._values == other._values

    def __hash__(self) -> int:
        return hash((tuple(self._columns.names), self._values))

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._columns.names, self._values, strict=True))!r})"


class MariaDbCursor:
    """The result of `execute`: rows already read from the server (PyMySQL buffers them)."""

    def __init__(self, cursor: pymysql.cursors.Cursor) -> None:
        self._cursor = cursor
        self._columns = Columns(cursor.description)

    @property
    def rowcount(self) -> int:
        """Rows matched by an UPDATE/DELETE, inserted by an INSERT; -1 after a SELECT, as
        sqlite3 says."""
        return -1 if self._cursor.description else int(self._cursor.rowcount)

    @property
    def lastrowid(self) -> int | None:
        return int(self._cursor.lastrowid) if self._cursor.lastrowid else None

    def fetchone(self) -> Row | None:
        values = self._cursor.fetchone()
        return None if values is None else Row(self._columns, tuple(values))

    def fetchall(self) -> list[Row]:
        return [Row(self._columns, tuple(values)) for values in self._cursor.fetchall()]

    def __iter__(self) -> Iterator[Row]:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self._cursor.close()


class _EmptyCursor(MariaDbCursor):
    """`executemany` over no parameters: nothing ran, as in sqlite3."""

    def __init__(self) -> None:
        self._columns = Columns(None)

    @property
    def rowcount(self) -> int:
        return 0

    @property
    def lastrowid(self) -> int | None:
        return None

    def fetchone(self) -> Row | None:
        return None

    def fetchall(self) -> list[Row]:
        return []

    def close(self) -> None:
        return None


# --- the connection ------------------------------------------------------------------------


def _number(text: bytes | str) -> int | float:
    """A DECIMAL result as SQLite gives it: `SUM()` of integers has no scale and becomes an
    int, `AVG()` has one and becomes a float (2.0, as SQLite's avg() says, not 2)."""
    value = text.decode() if isinstance(text, bytes) else text
    return float(value) if "." in value else int(value)


_CONVERSIONS: dict[Any, Any] = {**pymysql.converters.conversions,
                                FIELD_TYPE.NEWDECIMAL: _number, FIELD_TYPE.DECIMAL: _number}


class MariaDbConnection:
    """A PyMySQL connection behind sqlite3's API (see the module's docstring)."""

    dialect = DIALECT
    # The shard this connection's writes count live flows under (store/flow_counts.py): the
    # process's id on a MariaDatabase's writing connections, '' elsewhere.
    counter_shard = ""

    def __init__(self, raw: pymysql.connections.Connection[pymysql.cursors.Cursor]) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = (), /) -> MariaDbCursor:
        statement = translate(sql)
        arguments = _arguments(statement, parameters)
        cursor = self.raw.cursor()
        try:
            cursor.execute(statement.sql, arguments)
        except pymysql.err.MySQLError as exc:
            cursor.close()
            _raise_mapped(exc)
        return MariaDbCursor(cursor)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> MariaDbCursor:
        statement = translate(sql)
        arguments = [_arguments(statement, params) for params in seq_of_parameters]
        if not arguments:
            return _EmptyCursor()
        cursor = self.raw.cursor()
        try:
            cursor.executemany(statement.sql, arguments)
        except pymysql.err.MySQLError as exc:
            cursor.close()
            _raise_mapped(exc)
        return MariaDbCursor(cursor)

    def commit(self) -> None:
        try:
            self.raw.commit()
        except pymysql.err.MySQLError as exc:
            _raise_mapped(exc)

    def rollback(self) -> None:
        try:
            self.raw.rollback()
        except pymysql.err.MySQLError as exc:
            _raise_mapped(exc)

    @property
    def in_transaction(self) -> bool:
        """True between the first statement of a transaction and its commit or rollback (the
        server's own flag, from the last reply)."""
        status: int = getattr(self.raw, "server_status", 0)  # not in the type stubs
        return bool(status & SERVER_STATUS.SERVER_STATUS_IN_TRANS)

    def close(self) -> None:
        if self.raw.open:
            self.raw.close()


def connect(address: Address, *, connect_timeout: float = 10.0) -> MariaDbConnection:
    """A new connection to `address`'s database, configured as the module says."""
    options: dict[str, Any] = {}
    if address.unix_socket:
        options["unix_socket"] = address.unix_socket
    else:
        options.update(host=address.host, port=address.port)
    try:
        raw = pymysql.connect(
            user=address.user, password=address.password or "", database=address.database,
            charset=CHARSET, collation=COLLATION, sql_mode=SQL_MODE, autocommit=False,
            client_flag=CLIENT.FOUND_ROWS, binary_prefix=True, conv=_CONVERSIONS,
            max_allowed_packet=CLIENT_MAX_PACKET, connect_timeout=int(connect_timeout),
            **options)
        _follow_the_cluster(raw)
    except pymysql.err.MySQLError as exc:
        _raise_mapped(exc)
    return MariaDbConnection(raw)


def _follow_the_cluster(raw: pymysql.connections.Connection[Any]) -> None:
    """`wsrep_sync_wait` for this session when the server is a Galera node (one round trip at
    connect; none per statement)."""
    with raw.cursor() as cursor:
        cursor.execute("SHOW VARIABLES LIKE 'wsrep\\_on'")
        row = cursor.fetchone()
        if row is not None and str(row[1]).upper() == "ON":
            cursor.execute(f"SET SESSION wsrep_sync_wait = {WSREP_SYNC_WAIT}")
    raw.rollback()
