"""store/mariadb.py against a real mariadbd: placeholders, rows, counts, transactions and the
mapping of the server's errors (docs/scale-out.md §1, §2).

Where a statement means the same in both dialects, it runs on SQLite too and both answers must
be equal: the wrapper's promise is sqlite3's behaviour.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pymysql
import pytest

from scaiflow_box.errors import StorageFull
from scaiflow_box.store import mariadb
from scaiflow_box.store.mariadb import (
    ConnectionLost,
    DuplicateKey,
    IntegrityViolation,
    MariaDbAddress,
    MariaDbConnection,
    MariaDbError,
    RetryableConflict,
    translate,
)
from tests.mariadb_server import MariaDbDatabase, MariaDbServer

pytestmark = pytest.mark.mariadb


@pytest.fixture
def conn(mariadb_database: MariaDbDatabase) -> Any:
    connection = mariadb.connect(mariadb_database)
    yield connection
    connection.close()


def _sqlite() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    connection.row_factory = sqlite3.Row
    return connection


# --- placeholders --------------------------------------------------------------------------

# (statement, parameters): each means the same on SQLite and MariaDB.
SAME_IN_BOTH = [
    ("SELECT ?, ?", (1, "two")),
    ("SELECT '?', ?", ("x",)),
    ("SELECT 'it''s ?', ?, '??'", (7,)),
    ("SELECT '{\"q\": \"?\", \"share\": \"50%\"}', ?", ("json",)),
    ("SELECT ? /* a ? in a comment */, ?", (1, 2)),
    ("SELECT ? -- and one here?\n, ?", (1, 2)),
    ("SELECT 'abc' LIKE 'a%', ? LIKE '%?%', '100%' || ?", ("a?b", "!")),
    ("SELECT :a, ':b', :a || :c", {"a": "A", "c": "C", "unused": 0}),
    ("SELECT '10:30', :t", {"t": "t"}),
    ("SELECT 'a' = 'A', 'a' = ?", ("a",)),  # case-sensitive on both (utf8mb4_bin)
    ("SELECT ? || '%s' || ?", ("%s", "%d")),
]


@pytest.mark.parametrize(("sql", "params"), SAME_IN_BOTH)
def test_a_statement_gives_what_sqlite_gives(conn: MariaDbConnection, sql: str,
                                             params: Any) -> None:
    expected = _sqlite().execute(sql, params).fetchone()
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    assert tuple(row) == tuple(expected)


def test_question_marks_inside_json_and_quotes_are_not_parameters(
        conn: MariaDbConnection) -> None:
    row = conn.execute(
        "SELECT JSON_VALUE('{\"k?\": \"v?\"}', '$.\"k?\"'), `n?`, \"x?\", 'a\\'?', ? "
        "FROM (SELECT 1 AS `n?`) AS t", ("p",)).fetchone()
    assert row is not None
    assert tuple(row) == ("v?", 1, "x?", "a'?", "p")


def test_the_translation(conn: MariaDbConnection) -> None:
    assert translate("SELECT * FROM t WHERE a = ? AND b LIKE 'x%?' -- c?\n AND d = ?") \
        == mariadb.Translated(
            "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%?' -- c?\n AND d = %s", 2, frozenset())
    assert translate("UPDATE t SET a = :a WHERE id = :id AND x = 'y:z'").sql \
        == "UPDATE t SET a = %(a)s WHERE id = %(id)s AND x = 'y:z'"
    assert translate("SELECT 1 --1 ?").positional == 1  # `--1` is no comment on MariaDB
    for wrong in ("SELECT ?, :a", "SELECT ?1"):
        with pytest.raises(sqlite3.ProgrammingError):
            translate(wrong)


def test_wrong_parameters_are_refused_as_sqlite3_refuses_them(conn: MariaDbConnection) -> None:
    for sql, params in [("SELECT ?, ?", (1,)), ("SELECT ?", (1, 2)), ("SELECT :a", {"b": 1}),
                        ("SELECT ?", {"a": 1})]:
        with pytest.raises(sqlite3.ProgrammingError):
            _sqlite().execute(sql, params)
        with pytest.raises(sqlite3.ProgrammingError):
            conn.execute(sql, params)
    # sqlite3 still binds a sequence to :names by position (deprecated in Python 3.12)
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT :a", (1,))


# --- rows, values, counts ------------------------------------------------------------------

SCHEMA = ("CREATE TABLE items (id VARCHAR(64) NOT NULL PRIMARY KEY, n BIGINT, label TEXT, "
          "data LONGBLOB, ratio DOUBLE)")


def test_rows_by_position_by_name_and_as_dicts(conn: MariaDbConnection) -> None:
    lite = _sqlite()
    values = [("a", 2**40, "Zoë 😀 \"quoted\"", b"\x00\xff\xfe bytes", 0.5),
              ("b", None, None, None, None)]
    for db in (conn, lite):
        db.execute(SCHEMA.replace("LONGBLOB", "BLOB"))
        db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", values)
    rows = conn.execute("SELECT id, n, label, data, ratio FROM items ORDER BY id").fetchall()
    expected = lite.execute("SELECT id, n, label, data, ratio FROM items ORDER BY id").fetchall()
    assert [dict(row) for row in rows] == [dict(row) for row in expected]
    first = rows[0]
    assert first["id"] == first[0] == first["ID"] == "a"
    assert first.keys() == ["id", "n", "label", "data", "ratio"]
    assert isinstance(first["data"], bytes) and isinstance(first["label"], str)
    row_id, n, *_ = first
    assert (row_id, n, len(first)) == ("a", 2**40, 5)
    assert first[1:3] == (2**40, "Zoë 😀 \"quoted\"")
    with pytest.raises(IndexError):
        first["missing"]
    assert [row["id"] for row in conn.execute("SELECT id FROM items ORDER BY id")] == ["a", "b"]
    assert conn.execute("SELECT id FROM items WHERE id = ?", ("A",)).fetchone() is None


def test_aggregates_are_typed_as_sqlite_types_them(conn: MariaDbConnection) -> None:
    lite = _sqlite()
    for db in (conn, lite):
        db.execute(SCHEMA.replace("LONGBLOB", "BLOB"))
        db.executemany("INSERT INTO items (id, n) VALUES (?, ?)", [("a", 1), ("b", 3)])
    sql = "SELECT count(*), sum(n), avg(n), coalesce(sum(n), 0), max(n) FROM items"
    row = conn.execute(sql).fetchone()
    assert row is not None
    expected = lite.execute(sql).fetchone()
    assert tuple(row) == tuple(expected) == (2, 4, 2.0, 4, 3)
    assert [type(v) for v in row] == [type(v) for v in expected]


def test_rowcount_counts_matched_rows_as_sqlite_does(conn: MariaDbConnection) -> None:
    lite = _sqlite()
    for db in (conn, lite):
        db.execute(SCHEMA.replace("LONGBLOB", "BLOB"))
    counts = []
    for db in (conn, lite):
        counts.append([
            db.executemany("INSERT INTO items (id, n) VALUES (?, ?)",
                           [("a", 1), ("b", 1), ("c", 2)]).rowcount,
            # unchanged values: MariaDB alone would say 0
            db.execute("UPDATE items SET n = 1 WHERE id = ?", ("a",)).rowcount,
            db.execute("UPDATE items SET n = 1 WHERE n = 1").rowcount,
            db.execute("UPDATE items SET n = 5 WHERE id = 'zz'").rowcount,
            db.executemany("DELETE FROM items WHERE id = ?", [("a",), ("c",), ("x",)]).rowcount,
            db.executemany("DELETE FROM items WHERE id = ?", []).rowcount,
            db.execute("SELECT * FROM items").rowcount,
        ])
    assert counts[0] == counts[1] == [3, 1, 2, 0, 2, 0, -1]


def test_lastrowid_of_an_auto_increment_insert(conn: MariaDbConnection) -> None:
    conn.execute("CREATE TABLE log (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, v TEXT)")
    first = conn.execute("INSERT INTO log (v) VALUES (?)", ("a",)).lastrowid
    second = conn.execute("INSERT INTO log (v) VALUES (?)", ("b",)).lastrowid
    assert (first, second) == (1, 2)
    assert conn.execute("SELECT id FROM log WHERE v = 'b'").fetchone() == \
        conn.execute("SELECT 2 AS id").fetchone()


# --- transactions --------------------------------------------------------------------------


def test_autocommit_is_off_commit_and_rollback(conn: MariaDbConnection,
                                               mariadb_database: MariaDbDatabase) -> None:
    conn.execute(SCHEMA)  # DDL commits by itself
    other = mariadb.connect(mariadb_database)
    try:
        assert not conn.in_transaction
        conn.execute("INSERT INTO items (id) VALUES ('kept')")
        assert conn.in_transaction
        assert other.execute("SELECT count(*) AS n FROM items").fetchone() == \
            other.execute("SELECT 0 AS n").fetchone()
        other.rollback()
        conn.commit()
        assert not conn.in_transaction
        conn.execute("INSERT INTO items (id) VALUES ('dropped')")
        conn.rollback()
        assert not conn.in_transaction
        assert [r["id"] for r in other.execute("SELECT id FROM items")] == ["kept"]
    finally:
        other.close()


def test_the_session_is_utf8mb4_bin_and_strict(conn: MariaDbConnection) -> None:
    row = conn.execute("SELECT @@character_set_connection, @@collation_connection, "
                       "@@sql_mode, @@autocommit").fetchone()
    assert row is not None
    assert (row[0], row[1], row[3]) == ("utf8mb4", "utf8mb4_bin", 0)
    assert "STRICT_ALL_TABLES" in row[2] and "PIPES_AS_CONCAT" in row[2]
    conn.execute("CREATE TABLE short (id VARCHAR(3) PRIMARY KEY)")
    with pytest.raises(MariaDbError) as refused:  # not silently truncated
        conn.execute("INSERT INTO short VALUES (?)", ("abcd",))
    assert refused.value.errno == 1406
    assert isinstance(refused.value, sqlite3.DatabaseError)


# --- errors --------------------------------------------------------------------------------


def test_a_duplicate_key_is_an_integrity_error(conn: MariaDbConnection) -> None:
    conn.execute(SCHEMA)
    conn.execute("INSERT INTO items (id) VALUES ('a')")
    with pytest.raises(sqlite3.IntegrityError) as duplicate:
        conn.execute("INSERT INTO items (id) VALUES (?)", ("a",))
    assert isinstance(duplicate.value, DuplicateKey)
    assert duplicate.value.errno == 1062
    assert isinstance(duplicate.value.__cause__, pymysql.err.IntegrityError)
    conn.commit()  # the statement failed, the transaction goes on
    assert [r["id"] for r in conn.execute("SELECT id FROM items")] == ["a"]


def test_other_constraints_are_integrity_errors(conn: MariaDbConnection) -> None:
    conn.execute("CREATE TABLE parent (id INT PRIMARY KEY) ENGINE=InnoDB")
    conn.execute("CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL,"
                 " level VARCHAR(8) CHECK (level IN ('view', 'edit')),"
                 " FOREIGN KEY (parent_id) REFERENCES parent (id)) ENGINE=InnoDB")
    conn.execute("CREATE TRIGGER child_no_delete BEFORE DELETE ON child FOR EACH ROW"
                 " SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'children are append-only'")
    conn.execute("INSERT INTO parent VALUES (1)")
    conn.execute("INSERT INTO child VALUES (1, 1, 'view')")
    refused = {}
    for label, sql in [("not null", "INSERT INTO child VALUES (2, NULL, 'view')"),
                       ("check", "INSERT INTO child VALUES (2, 1, 'owner')"),
                       ("foreign key", "INSERT INTO child VALUES (2, 9, 'view')"),
                       ("trigger", "DELETE FROM child WHERE id = 1")]:
        with pytest.raises(IntegrityViolation) as caught:
            conn.execute(sql)
        assert isinstance(caught.value, sqlite3.IntegrityError)
        assert not isinstance(caught.value, DuplicateKey)
        refused[label] = caught.value.errno
    assert refused == {"not null": 1048, "check": 4025, "foreign key": 1452, "trigger": 1644}
    assert "append-only" in str(caught.value)
    assert conn.execute("SELECT count(*) FROM child").fetchone()[0] == 1


def _two_rows(mariadb_database: MariaDbDatabase) -> tuple[MariaDbConnection, MariaDbConnection]:
    setup = mariadb.connect(mariadb_database)
    setup.execute("CREATE TABLE rows2 (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")
    setup.execute("INSERT INTO rows2 VALUES (1, 0), (2, 0)")
    setup.commit()
    setup.close()
    return mariadb.connect(mariadb_database), mariadb.connect(mariadb_database)


def test_a_lock_wait_timeout_is_a_retryable_conflict(
        mariadb_database: MariaDbDatabase) -> None:
    holder, waiter = _two_rows(mariadb_database)
    try:
        holder.execute("UPDATE rows2 SET v = 1 WHERE id = 1")
        waiter.execute("SET SESSION innodb_lock_wait_timeout = 0")  # refuse at once
        with pytest.raises(RetryableConflict) as conflict:
            waiter.execute("UPDATE rows2 SET v = 2 WHERE id = 1")
        assert conflict.value.errno == 1205
        assert not conflict.value.transaction_rolled_back
        assert isinstance(conflict.value, sqlite3.OperationalError)
        holder.commit()
        waiter.rollback()
        assert waiter.execute("SELECT v FROM rows2 WHERE id = 1").fetchone()[0] == 1
    finally:
        holder.close()
        waiter.close()


def test_a_deadlock_is_a_retryable_conflict(mariadb_database: MariaDbDatabase) -> None:
    """Each of two transactions holds one row and asks for the other's: InnoDB rolls one back
    with 1213, the error a Galera certification failure also gives at commit."""
    first, second = _two_rows(mariadb_database)
    outcomes: dict[str, BaseException | None] = {}
    try:
        first.execute("UPDATE rows2 SET v = 1 WHERE id = 1")
        second.execute("UPDATE rows2 SET v = 2 WHERE id = 2")

        def first_wants_row_2() -> None:
            try:
                first.execute("UPDATE rows2 SET v = 1 WHERE id = 2")
                outcomes["first"] = None
            except BaseException as exc:
                outcomes["first"] = exc

        thread = threading.Thread(target=first_wants_row_2)
        thread.start()
        time.sleep(0.2)  # first now waits for row 2
        try:
            second.execute("UPDATE rows2 SET v = 2 WHERE id = 1")
            outcomes["second"] = None
        except RetryableConflict as exc:
            outcomes["second"] = exc
        if outcomes["second"] is None:
            second.commit()
        thread.join(10)
        errors = [exc for exc in outcomes.values() if exc is not None]
        assert len(errors) == 1, outcomes
        assert isinstance(errors[0], RetryableConflict)
        assert errors[0].errno == 1213 and errors[0].transaction_rolled_back
    finally:
        first.close()
        second.close()


def test_a_full_table_is_storage_full(conn: MariaDbConnection) -> None:
    """A table that cannot grow (1114; InnoDB says so when its tablespace cannot extend)
    refuses the write with the domain's StorageFull, as SQLITE_FULL does."""
    conn.execute("SET SESSION max_heap_table_size = 16384")
    conn.execute("CREATE TABLE capped (id INT PRIMARY KEY, v VARCHAR(100)) ENGINE=MEMORY")
    with pytest.raises(StorageFull) as full:
        conn.executemany("INSERT INTO capped VALUES (?, ?)",
                         [(i, "x" * 100) for i in range(10_000)])
    assert isinstance(full.value.__cause__, pymysql.err.OperationalError)
    assert full.value.__cause__.args[0] == 1114


@pytest.mark.parametrize(("errno", "message"), [
    (1021, "Disk full (/var/tmp/#sql_1.MAI); waiting for someone to free some space..."),
    (3, 'Error writing file \'/var/lib/mysql/x\' (Errcode: 28 "No space left on device")'),
    (1030, 'Got error 28 "No space left on device" from storage engine InnoDB'),
])
def test_disk_full_errors_are_storage_full(errno: int, message: str) -> None:
    """These need a real full disk, which a test cannot make portably: the driver's exception
    as PyMySQL raises it for the server's reply goes through the same mapping."""
    assert isinstance(mariadb.map_error(pymysql.err.OperationalError(errno, message)),
                      StorageFull)
    other = mariadb.map_error(pymysql.err.OperationalError(1030, "Got error 5 from engine"))
    assert type(other) is MariaDbError and other.errno == 1030


def test_a_killed_connection_is_connection_lost(conn: MariaDbConnection,
                                                mariadb_server: MariaDbServer) -> None:
    own_id = conn.execute("SELECT CONNECTION_ID()").fetchone()[0]
    mariadb_server.admin(f"KILL {int(own_id)}")
    with pytest.raises(ConnectionLost) as lost:
        conn.execute("SELECT 1")
    assert lost.value.errno in (2006, 2013, 4031)
    assert isinstance(lost.value, sqlite3.OperationalError)


def test_a_syntax_error_is_a_database_error(conn: MariaDbConnection) -> None:
    with pytest.raises(MariaDbError) as wrong:
        conn.execute("SELEC 1")
    assert wrong.value.errno == 1064 and isinstance(wrong.value, sqlite3.DatabaseError)


# --- connecting ----------------------------------------------------------------------------


def test_connect_over_tcp_with_a_password(mariadb_database: MariaDbDatabase,
                                          mariadb_server: MariaDbServer) -> None:
    mariadb_server.user_with_password("sf_app", "p@ss:w/rd", mariadb_database.database)
    address = MariaDbAddress(database=mariadb_database.database, user="sf_app",
                             password="p@ss:w/rd", host="127.0.0.1", port=mariadb_server.port)
    assert "p@ss" not in repr(address)
    connection = mariadb.connect(address)
    try:
        row = connection.execute("SELECT current_user(), database()").fetchone()
        assert row is not None
        assert tuple(row) == ("sf_app@127.0.0.1", mariadb_database.database)
    finally:
        connection.close()
    with pytest.raises(MariaDbError) as denied:
        mariadb.connect(MariaDbAddress(database=mariadb_database.database, user="sf_app",
                                       password="wrong", host="127.0.0.1",
                                       port=mariadb_server.port))
    assert denied.value.errno == 1045 and "wrong" not in str(denied.value)


def test_connecting_to_nothing_is_connection_lost(mariadb_server: MariaDbServer) -> None:
    with pytest.raises(ConnectionLost) as lost:
        mariadb.connect(MariaDbAddress(database="x", user="root", host="127.0.0.1", port=1),
                        connect_timeout=2)
    assert lost.value.errno == 2003
