"""The database the appliance's tests run against (`--db=sqlite|mariadb`, tests/conftest.py).

`Backend.open(path)` is the store's `open_database` for the selected engine: an SQLite file at
`path`, or a new empty database on the worker's private mariadbd (dropped after the test).
`Backend.environment()` is what an appliance's settings need for the same choice.
`stored_rows()` reads the stored state through a connection of its own, whichever engine
holds it: the tests' SQL is SQLite's, which the MariaDB wrapper runs as it is wherever the
two dialects agree (plain SELECTs, `?` placeholders).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from scaiflow_box.store.database import MARIADB, SQLITE, Database, open_database
from scaiflow_box.store.engine import DatabaseUrl
from tests.mariadb_server import MariaDbServer

SQLITE_ONLY = "SQLite only"


@dataclass
class Backend:
    name: str
    server: MariaDbServer | None = None
    databases: list[str] = field(default_factory=list)

    @property
    def mariadb(self) -> bool:
        return self.name == MARIADB

    def new_url(self) -> DatabaseUrl:
        """A new empty database on the private server (dropped at the end of the test)."""
        assert self.server is not None
        name = self.server.create_database()
        self.databases.append(name)
        return DatabaseUrl(host="localhost", port=self.server.port, user="root",
                           database=name, unix_socket=str(self.server.socket_path))

    def open(self, path: Path, **options: Any) -> Database:
        """A `Database` at `path` (SQLite) or in a new MariaDB database."""
        if not self.mariadb:
            path.parent.mkdir(parents=True, exist_ok=True)
            return open_database(path, None, **options)
        return open_database(path, self.new_url(), **options)

    def environment(self) -> dict[str, str]:
        """Settings for an appliance on this backend (nothing for SQLite)."""
        if not self.mariadb:
            return {}
        url = self.new_url()
        return {"SCAIFLOW_DATABASE_URL":
                f"mariadb://root@/{url.database}?unix_socket={quote(url.unix_socket or '')}"}

    def drop_all(self) -> None:
        if self.server is not None:
            for name in self.databases:
                self.server.drop_database(name)
        self.databases.clear()


def database_environment(settings: Any) -> dict[str, str]:
    """What a CLI process beside an appliance needs to reach the same database."""
    url = settings.database_url
    return {} if url is None else {"SCAIFLOW_DATABASE_URL": url.render(mask=False)}


def stored_write(where: Path | DatabaseUrl, statement: str, *params: Any) -> int:
    """Run one statement through a separate connection and commit it as another process would
    (the CLI; on MariaDB with its change-log row): the rows it changed."""
    if isinstance(where, Path):
        conn = sqlite3.connect(where)
        try:
            changed = conn.execute(statement, params).rowcount
            conn.commit()
            return changed
        finally:
            conn.close()
    from scaiflow_box.store import changes
    from scaiflow_box.store.mariadb import connect

    maria = connect(where)
    try:
        changed = maria.execute(statement, params).rowcount
        # What another process of the appliance (the CLI's write_sync) logs with its commit, so
        # serving processes drop their cached reads: a short-lived head with one "anything"
        # row, stopped at once. (A bare SQL shell's commit is not seen on MariaDB.)
        process_id = changes.new_process_id()
        changes.record(maria, process_id, 0, [changes.ANYTHING])
        changes.stopped(maria, process_id)
        maria.commit()
        return changed
    finally:
        maria.close()


def stored_rows(where: Path | DatabaseUrl | Database, query: str, *params: Any) -> list[Any]:
    """Rows of `query`, read through a separate connection: from the SQLite file `where`, or
    from the MariaDB database `where` names (a URL, or a `Database` opened on one)."""
    if isinstance(where, Path):
        target: Path | DatabaseUrl = where
    elif isinstance(where, DatabaseUrl):
        target = where
    elif where.engine == SQLITE:
        target = Path(where.path)  # type: ignore[attr-defined]
    else:
        target = where.url  # type: ignore[attr-defined]
    if isinstance(target, Path):
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()
    from scaiflow_box.store.mariadb import connect

    maria = connect(target)
    try:
        return maria.execute(query, params).fetchall()
    finally:
        maria.rollback()
        maria.close()
