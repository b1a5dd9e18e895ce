"""The private MariaDB server the MariaDB tests run against (tests/mariadb_server.py)."""

from __future__ import annotations

import pymysql
import pytest

from tests.mariadb_server import MariaDbDatabase, MariaDbServer

pytestmark = pytest.mark.mariadb


def _one(conn: pymysql.connections.Connection, sql: str) -> tuple:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    assert row is not None
    return row


def test_the_server_and_each_database_are_utf8mb4_bin(mariadb_database: MariaDbDatabase) -> None:
    """--no-defaults would give latin1 with a case-insensitive collation: ids would compare
    equal across case. The server is started with utf8mb4_bin, and a test database has it."""
    conn = mariadb_database.connect()
    try:
        assert _one(conn, "SELECT @@character_set_server, @@collation_server") == (
            "utf8mb4", "utf8mb4_bin")
        assert _one(conn, "SELECT @@character_set_database, @@collation_database") == (
            "utf8mb4", "utf8mb4_bin")
        conn.cursor().execute("CREATE TABLE t (id VARCHAR(10) PRIMARY KEY) ENGINE=InnoDB")
        conn.cursor().execute("INSERT INTO t VALUES ('abc'), ('ABC')")  # no duplicate
        assert _one(conn, "SELECT count(*) FROM t WHERE id = 'Abc'") == (0,)
        assert _one(conn, "SELECT count(*) FROM t") == (2,)
    finally:
        conn.close()


def test_reached_over_tcp_and_with_a_password(mariadb_database: MariaDbDatabase,
                                              mariadb_server: MariaDbServer) -> None:
    mariadb_server.user_with_password("sf_app", "s3cret pass", mariadb_database.database)
    tcp = mariadb_database.over_tcp("sf_app", "s3cret pass")
    conn = pymysql.connect(host=tcp.host, port=tcp.port, user=tcp.user, password=tcp.password,
                           database=tcp.database)
    try:
        assert _one(conn, "SELECT current_user(), database()") == (
            "sf_app@127.0.0.1", mariadb_database.database)
    finally:
        conn.close()
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(host=tcp.host, port=tcp.port, user="sf_app", password="wrong",
                        database=tcp.database)
    assert refused.value.args[0] == 1045  # access denied


def test_each_test_gets_a_new_database_that_is_dropped(mariadb_server: MariaDbServer) -> None:
    name = mariadb_server.create_database("probe")
    conn = mariadb_server.connect()
    try:
        assert _one(conn, f"SELECT count(*) FROM information_schema.schemata "
                          f"WHERE schema_name = '{name}'") == (1,)
        mariadb_server.drop_database(name)
        assert _one(conn, f"SELECT count(*) FROM information_schema.schemata "
                          f"WHERE schema_name = '{name}'") == (0,)
    finally:
        conn.close()
    assert mariadb_server.process.poll() is None
