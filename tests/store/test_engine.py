"""The store seam: `DatabaseUrl` (where a MariaDB database is) and the connection protocols
that SQLite's own connection satisfies."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scaiflow_box.store import engine
from scaiflow_box.store.engine import BadDatabaseUrl, DatabaseUrl


@pytest.mark.parametrize(("text", "expected"), [
    ("mariadb://app@db.example/scaiflow",
     DatabaseUrl(host="db.example", port=3306, user="app", database="scaiflow")),
    ("mariadb://app:s3cret@10.0.0.5:3307/scaiflow",
     DatabaseUrl(host="10.0.0.5", port=3307, user="app", database="scaiflow",
                 password="s3cret")),
    ("mysql://app@db/scaiflow",
     DatabaseUrl(host="db", port=3306, user="app", database="scaiflow")),
    ("  mariadb://us%40er:p%3Aw%2Fd%40@[::1]:3306/sc%20db  ",
     DatabaseUrl(host="::1", port=3306, user="us@er", database="sc db", password="p:w/d@")),
    ("mariadb://root@/scaiflow?unix_socket=/run/mysqld/mysqld.sock",
     DatabaseUrl(host="localhost", port=3306, user="root", database="scaiflow",
                 unix_socket="/run/mysqld/mysqld.sock")),
    ("mariadb://app:@db/scaiflow",
     DatabaseUrl(host="db", port=3306, user="app", database="scaiflow", password="")),
])
def test_good_urls_parse_and_render_back(text: str, expected: DatabaseUrl) -> None:
    url = DatabaseUrl.parse(text)
    assert url == expected
    assert DatabaseUrl.parse(url.render(mask=False)) == url


def test_a_unix_socket_is_where_the_database_is() -> None:
    url = DatabaseUrl.parse("mariadb://root@/scaiflow?unix_socket=/tmp/d/sock")
    assert url.where == "MariaDB database 'scaiflow' at /tmp/d/sock"
    assert DatabaseUrl.parse("mariadb://a@h:3310/x").where == "MariaDB database 'x' at h:3310"


def test_every_problem_is_listed_in_one_message() -> None:
    with pytest.raises(BadDatabaseUrl) as caught:
        DatabaseUrl.parse("postgres://:hunter2@:99999/?charset=utf8&ssl=1")
    message = str(caught.value)
    assert message == (
        "the scheme must be mariadb://, got 'postgres'; "
        "name one database after the host: mariadb://user@host/database; "
        "the port must be a number from 1 to 65535; "
        "unknown option(s) charset, ssl (only unix_socket); "
        "a host (or ?unix_socket=/path) is required; "
        "a user is required: mariadb://user@host/database")
    assert "hunter2" not in message


@pytest.mark.parametrize(("text", "problem"), [
    ("https://app@db.example/scaiflow", "the scheme must be mariadb://, got 'https'"),
    ("mariadb://app@db", "name one database after the host"),
    ("mariadb://app@db/a/b", "name one database after the host"),
    ("mariadb://app@db:0/x", "the port must be a number from 1 to 65535"),
    ("mariadb://app@db:port/x", "the port must be a number from 1 to 65535"),
    ("mariadb://app@/x", "a host (or ?unix_socket=/path) is required"),
    ("mariadb://app@/x?unix_socket=", "a host (or ?unix_socket=/path) is required"),
    ("mariadb://db/x", "a user is required"),
    ("mariadb://:pw@db/x", "a user is required"),
])
def test_each_problem_alone(text: str, problem: str) -> None:
    with pytest.raises(BadDatabaseUrl) as caught:
        DatabaseUrl.parse(text)
    assert str(caught.value).startswith(problem)
    assert ";" not in str(caught.value)


def test_the_password_is_never_shown() -> None:
    url = DatabaseUrl.parse("mariadb://app:Tr0ub4dor@db:3306/scaiflow")
    assert url.password == "Tr0ub4dor"
    for shown in (repr(url), str(url), url.render(), url.render(mask=True), url.where,
                  repr(url.with_database("other"))):
        assert "Tr0ub4dor" not in shown
    assert url.render() == "mariadb://app:********@db:3306/scaiflow"
    assert url.render(mask=False) == "mariadb://app:Tr0ub4dor@db:3306/scaiflow"
    assert DatabaseUrl.parse("mariadb://app@db/x").render() == "mariadb://app@db:3306/x"


def test_the_password_file_fills_the_password() -> None:
    url = DatabaseUrl.parse("mariadb://app@db/scaiflow").with_password("from-file")
    assert url.password == "from-file" and "from-file" not in repr(url)
    assert url.with_password(None).password is None
    assert url.with_database("t_1").database == "t_1"


def test_sqlite_connection_rows_and_cursors_are_what_the_protocols_name(
        tmp_path: Path) -> None:
    """What the protocols promise, used as the repositories use it, on SQLite's own objects
    (mypy --strict checks the types where the store passes them on)."""
    conn: engine.Connection = sqlite3.connect(tmp_path / "e.db", isolation_level=None)
    assert isinstance(conn, sqlite3.Connection)
    conn.row_factory = sqlite3.Row
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, `key` TEXT)")
    assert conn.executemany("INSERT INTO t (`key`) VALUES (?)", [("a",), ("b",)]).rowcount == 2
    assert conn.execute("INSERT INTO t (`key`) VALUES (:k)", {"k": "c"}).lastrowid == 3
    assert not conn.in_transaction
    row: engine.Row = conn.execute("SELECT id, `key` FROM t WHERE id = 1").fetchone()
    assert (row[0], row["key"], row.keys(), len(row), tuple(row), dict(row)) == (
        1, "a", ["id", "key"], 2, (1, "a"), {"id": 1, "key": "a"})
    assert [r["key"] for r in conn.execute("SELECT `key` FROM t ORDER BY id")] == ["a", "b", "c"]
    conn.close()


def test_only_the_store_runs_sql() -> None:
    """The seam holds only if nothing outside `store/` talks to a connection directly: a
    second engine then needs changes in `store/` alone."""
    import ast

    import scaiflow_box

    package = Path(scaiflow_box.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(package / "store"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("execute", "executemany", "executescript"):
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert found == []
