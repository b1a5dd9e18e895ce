"""store/mariadb_database.py on a real mariadbd: the schema at open, readers that see new
commits, conflicts retried at the writer, FOR UPDATE on read-then-write, and the CLI's
MariaDB paths (password file, backup/restore refusals)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store.database import open_database
from scaiflow_box.store.engine import DatabaseUrl
from scaiflow_box.store.mariadb import RetryableConflict, connect
from scaiflow_box.store.mariadb_database import (
    BATCH_ATTEMPTS,
    CONFLICT_ATTEMPTS,
    JOB_ATTEMPTS,
    MariaDatabase,
    WriteConflict,
)
from scaiflow_box.store.mariadb_schema import baseline_sql, statements
from scaiflow_box.store.mariadb_schema.upgrade import latest_version, prepare_schema
from scaiflow_box.store.migrations import BadDatabase, SchemaTooNew
from tests.cli_process import run
from tests.mariadb_server import MariaDbDatabase

pytestmark = pytest.mark.mariadb


def url_of(database: MariaDbDatabase) -> DatabaseUrl:
    return DatabaseUrl(host="localhost", port=database.port, user="root",
                       database=database.database, unix_socket=database.unix_socket)


def admin_rows(database: MariaDbDatabase, sql: str) -> list[tuple[object, ...]]:
    conn = database.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        conn.close()


@pytest.fixture
def db(mariadb_database: MariaDbDatabase):
    opened = MariaDatabase(url_of(mariadb_database))
    yield opened
    opened.close()


def test_an_empty_database_gets_the_baseline_once(mariadb_database: MariaDbDatabase) -> None:
    first = open_database(Path("unused"), url_of(mariadb_database))
    first.close()
    applied = admin_rows(mariadb_database, "SELECT version, applied_at FROM schema_migrations"
                                           " ORDER BY version")
    assert [version for version, _ in applied] == list(range(1, latest_version() + 1))
    second = open_database(Path("unused"), url_of(mariadb_database))  # nothing re-applied
    second.close()
    assert admin_rows(mariadb_database, "SELECT version, applied_at FROM schema_migrations"
                                        " ORDER BY version") == applied


def test_a_schema_newer_than_the_binary_is_refused(mariadb_database: MariaDbDatabase) -> None:
    MariaDatabase(url_of(mariadb_database)).close()
    conn = mariadb_database.connect()
    conn.cursor().execute("INSERT INTO schema_migrations VALUES (99, 'future', 'now')")
    conn.close()
    with pytest.raises(SchemaTooNew, match=f"schema version 99, newer than this scaiflow-box "
                                           f"knows \\({latest_version()}\\)"):
        MariaDatabase(url_of(mariadb_database))


def test_a_case_insensitive_or_foreign_database_is_refused(
        mariadb_database: MariaDbDatabase) -> None:
    mariadb_database.server.admin(
        f"ALTER DATABASE `{mariadb_database.database}` CHARACTER SET utf8mb4"
        " COLLATE utf8mb4_general_ci")
    with pytest.raises(BadDatabase, match=r"uses utf8mb4/utf8mb4_general_ci; .*ALTER DATABASE"):
        MariaDatabase(url_of(mariadb_database))
    assert admin_rows(mariadb_database, "SHOW TABLES") == []  # nothing was created
    mariadb_database.server.admin(
        f"ALTER DATABASE `{mariadb_database.database}` COLLATE utf8mb4_bin",
        f"CREATE TABLE `{mariadb_database.database}`.other (id INT PRIMARY KEY)")
    with pytest.raises(BadDatabase, match="holds 1 table\\(s\\) but no scaiflow-box schema"):
        MariaDatabase(url_of(mariadb_database))


class _BaselineStartsAfterFirstLook:
    """A connection on which another process runs the baseline's first statement right after
    this one first looks at the database's tables (the interleaving that made one of three
    racing `init`s refuse the database as someone else's)."""

    def __init__(self, conn: Any, other: Callable[[], None]) -> None:
        self._conn, self._other, self.looked = conn, other, False

    def execute(self, sql: str, params: Any = ()) -> Any:
        answer = self._conn.execute(sql, params)
        if "information_schema.tables" in sql and not self.looked:
            self.looked = True
            self._other()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_a_baseline_another_process_is_creating_is_finished_not_refused(
        mariadb_database: MariaDbDatabase) -> None:
    first = statements(baseline_sql())[0]
    assert "schema_migrations" in first  # the baseline's first table (baseline.sql says why)

    def other_process_starts() -> None:
        conn = mariadb_database.connect()
        conn.cursor().execute(first)
        conn.close()

    url = url_of(mariadb_database)
    conn = _BaselineStartsAfterFirstLook(connect(url), other_process_starts)
    try:
        prepare_schema(conn, url.where, "test-process")  # type: ignore[arg-type]
    finally:
        conn.close()
    assert conn.looked
    applied = admin_rows(mariadb_database, "SELECT version FROM schema_migrations"
                                           " ORDER BY version")
    assert [version for (version,) in applied] == list(range(1, latest_version() + 1))


async def test_reads_see_every_commit_made_before_them(
        db: MariaDatabase, mariadb_database: MariaDbDatabase) -> None:
    def value(conn) -> object:
        row = conn.execute("SELECT value FROM meta WHERE `key` = 'k'").fetchone()
        return None if row is None else row[0]

    assert await db.read(value) is None and db.read_inline(value) is None
    other = mariadb_database.connect()  # another process's commit
    other.cursor().execute("INSERT INTO meta (`key`, value) VALUES ('k', 'v1')")
    other.close()
    assert await db.read(value) == "v1" and db.read_inline(value) == "v1"
    await db.write(lambda conn: conn.execute("UPDATE meta SET value = 'v2' WHERE `key` = 'k'"))
    assert await db.read(value) == "v2" and db.read_inline(value) == "v2"


async def test_a_conflict_runs_the_batch_again_unseen(
        db: MariaDatabase, mariadb_database: MariaDbDatabase) -> None:
    await db.write(lambda conn: conn.execute(
        "INSERT INTO meta (`key`, value) VALUES ('hot', 'before')"))
    holder = connect(url_of(mariadb_database))  # another process holds the row
    holder.execute("SELECT value FROM meta WHERE `key` = 'hot' FOR UPDATE").fetchall()
    attempts: list[str] = []

    def job(conn) -> int:
        attempts.append("run")
        conn.execute("SET SESSION innodb_lock_wait_timeout = 0")  # fail at once, not in 50 s
        if len(attempts) == 2:
            holder.rollback()  # the other transaction ends between the attempts
        return conn.execute("UPDATE meta SET value = 'after' WHERE `key` = 'hot'").rowcount

    retries = db.conflict_retries
    assert await db.write(job) == 1
    assert attempts == ["run", "run"] and db.conflict_retries == retries + 1
    assert admin_rows(mariadb_database, "SELECT value FROM meta WHERE `key` = 'hot'") == [
        ("after",)]
    holder.close()


async def one_batch(db: MariaDatabase, jobs: list[Callable[[Any], Any]],
                    scopes: list[list[tuple[str, str]]]) -> list[Any]:
    """Write `jobs` as one batch: the writer is held inside a job of its own until all of them
    are queued behind it. Each job's result or exception, in order."""
    gate = threading.Event()
    held = asyncio.ensure_future(db.write(lambda conn: gate.wait(10), flows_changed=()))
    await asyncio.sleep(0.05)  # the writer is inside the holding job
    writes = [asyncio.ensure_future(db.write(job, flows_changed=scope))
              for job, scope in zip(jobs, scopes, strict=True)]
    await asyncio.sleep(0)  # each write is queued
    gate.set()
    await held
    return await asyncio.gather(*writes, return_exceptions=True)


def logged_since(database: MariaDbDatabase, db: MariaDatabase, after: int
                 ) -> list[tuple[object, ...]]:
    return admin_rows(database, "SELECT tenant_id, flow_id FROM change_log WHERE process_id ="
                                f" '{db.process_id}' AND seq > {after} ORDER BY seq")


async def test_a_job_that_keeps_conflicting_fails_alone_and_the_rest_of_its_batch_commits(
        db: MariaDatabase, mariadb_database: MariaDbDatabase,
        caplog: pytest.LogCaptureFixture) -> None:
    await db.write(lambda conn: conn.execute(
        "INSERT INTO meta (`key`, value) VALUES ('hot', 'before')"))
    (after,), = admin_rows(mariadb_database, "SELECT seq FROM change_heads WHERE process_id ="
                                             f" '{db.process_id}'")
    holder = connect(url_of(mariadb_database))  # another process holds the row throughout
    holder.execute("SELECT value FROM meta WHERE `key` = 'hot' FOR UPDATE").fetchall()
    runs = {"blocked": 0, "beside 1": 0, "beside 2": 0, "beside 3": 0}

    def blocked(conn) -> None:
        runs["blocked"] += 1
        conn.execute("SET SESSION innodb_lock_wait_timeout = 0")
        conn.execute("INSERT INTO meta (`key`, value) VALUES ('blocked', 'x')")  # undone
        conn.execute("UPDATE meta SET value = 'after' WHERE `key` = 'hot'")

    def beside(name: str) -> Callable[[Any], str]:
        def job(conn) -> str:  # grouped with the blocked job, committed without it
            runs[name] += 1
            conn.execute("INSERT INTO meta (`key`, value) VALUES (?, 'x')", (name,))
            return name
        return job

    retries, split = db.conflict_retries, db.batches_split
    started = time.monotonic()
    results = await one_batch(
        db, [beside("beside 1"), blocked, beside("beside 2"), beside("beside 3")],
        [[("tnt_a", "flw_1")], [("tnt_a", "flw_blocked")], [("tnt_a", "flw_2")],
         [("tnt_a", "flw_3")]])
    elapsed = time.monotonic() - started
    holder.rollback()
    holder.close()
    assert results[0::2] + results[3:] == ["beside 1", "beside 2", "beside 3"], results
    assert isinstance(results[1], WriteConflict), results
    # A domain error (503 with Retry-After), naming no table or statement; the log has them.
    assert str(results[1]) == ("the database was busy with other writes to the same data: "
                               "nothing was written")
    assert results[1].code == "write_conflict"
    assert isinstance(results[1].__cause__, RetryableConflict)
    assert f"on each of up to {CONFLICT_ATTEMPTS} attempts" in caplog.text
    assert "1 of a write batch of 4 job(s) failed" in caplog.text
    # the batch ran whole BATCH_ATTEMPTS times, stopping at the blocked job (the jobs after it
    # never ran); then each job once alone, and the blocked one in every round
    assert runs == {"blocked": BATCH_ATTEMPTS + JOB_ATTEMPTS, "beside 1": BATCH_ATTEMPTS + 1,
                    "beside 2": 1, "beside 3": 1}
    assert db.conflict_retries == retries + (BATCH_ATTEMPTS - 1) + 4 + (JOB_ATTEMPTS - 1)
    assert db.batches_split == split + 1
    assert elapsed < 1.5, elapsed  # the pauses are bounded: a few tenths of a second
    assert admin_rows(mariadb_database, "SELECT `key`, value FROM meta ORDER BY `key`") == [
        ("beside 1", "x"), ("beside 2", "x"), ("beside 3", "x"), ("hot", "before")]
    # each committed job logged its flows once, in its own transaction; the failed one none
    assert logged_since(mariadb_database, db, after) == [
        ("tnt_a", "flw_1"), ("tnt_a", "flw_2"), ("tnt_a", "flw_3")]
    # the writer goes on
    await db.write(blocked)
    assert admin_rows(mariadb_database, "SELECT value FROM meta WHERE `key` = 'hot'") == [
        ("after",)]


async def test_a_job_that_conflicts_until_it_runs_alone_commits_on_a_later_round(
        db: MariaDatabase, mariadb_database: MariaDbDatabase) -> None:
    await db.write(lambda conn: conn.execute(
        "INSERT INTO meta (`key`, value) VALUES ('hot', 'before')"))
    (after,), = admin_rows(mariadb_database, "SELECT seq FROM change_heads WHERE process_id ="
                                             f" '{db.process_id}'")
    holder = connect(url_of(mariadb_database))
    holder.execute("SELECT value FROM meta WHERE `key` = 'hot' FOR UPDATE").fetchall()
    runs: list[str] = []

    def hot(conn) -> int:
        runs.append("hot")
        conn.execute("SET SESSION innodb_lock_wait_timeout = 0")
        if len(runs) == BATCH_ATTEMPTS + 2:
            holder.rollback()  # the other transaction ends before its second run alone
        return conn.execute("UPDATE meta SET value = 'after' WHERE `key` = 'hot'").rowcount

    def cold(conn) -> str:
        conn.execute("INSERT INTO meta (`key`, value) VALUES ('cold', 'x')")
        return "cold"

    results = await one_batch(db, [hot, cold], [[("tnt_a", "flw_hot")], [("tnt_a", "flw_cold")]])
    holder.close()
    assert results == [1, "cold"]
    assert len(runs) == BATCH_ATTEMPTS + 2
    assert admin_rows(mariadb_database, "SELECT `key`, value FROM meta ORDER BY `key`") == [
        ("cold", "x"), ("hot", "after")]
    # the cold job committed in the first round, the hot one in the second
    assert logged_since(mariadb_database, db, after) == [
        ("tnt_a", "flw_cold"), ("tnt_a", "flw_hot")]


async def test_a_flow_read_for_update_holds_the_row_until_the_write_commits(
        db: MariaDatabase, mariadb_database: MariaDbDatabase) -> None:
    await db.write(lambda conn: flow_rows.insert_flow(
        conn, flow_id="flw_1", tenant_id="tnt_a", owner_id="usr_a", name="one",
        description="", version="0.1.0", now="2026-01-01T00:00:00Z"))
    other = connect(url_of(mariadb_database))  # another process's writer
    other.execute("SET SESSION innodb_lock_wait_timeout = 0")
    seen: list[str] = []

    def check_then_write(conn) -> None:
        flow = flow_rows.get_flow(conn, "tnt_a", "flw_1", for_update=True)
        assert flow is not None
        with pytest.raises(RetryableConflict):  # the other writer cannot change it now
            other.execute("UPDATE flows SET name = 'theirs' WHERE id = 'flw_1'")
        seen.append(flow["name"])
        flow_rows.update_flow(conn, "tnt_a", "flw_1", name="mine")

    await db.write(check_then_write)
    other.rollback()
    assert seen == ["one"]
    assert other.execute("UPDATE flows SET name = 'theirs' WHERE id = 'flw_1'").rowcount == 1
    other.rollback()
    other.close()
    assert admin_rows(mariadb_database, "SELECT name FROM flows") == [("mine",)]


def test_the_cli_on_mariadb_password_file_backup_and_restore(
        mariadb_database: MariaDbDatabase, tmp_path: Path) -> None:
    mariadb_database.server.user_with_password("box", "Pa55-w0rd!", mariadb_database.database)
    password = tmp_path / "db.password"
    password.write_text("Pa55-w0rd!\n")
    env = {"SCAIFLOW_DATABASE_URL": f"mariadb://box@127.0.0.1:{mariadb_database.port}/"
                                    f"{mariadb_database.database}",
           "SCAIFLOW_DATABASE_PASSWORD_FILE": str(password)}
    data = tmp_path / "data"
    os.chmod(password, 0o644)
    refused = run("init", data_dir=data, env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"error: database password file {password} is accessible by group or others (mode "
        f"0644); run `chmod 600 {password}`")
    os.chmod(password, 0o600)
    done = run("init", data_dir=data, env=env)
    assert done.returncode == 0, done.stderr
    assert "usr_operator" in done.stderr and "Pa55" not in done.stderr + done.stdout
    assert admin_rows(mariadb_database, "SELECT id, admin_role FROM users") == [
        ("usr_operator", "super_admin")]
    assert not (data / "scaiflow.db").exists()  # nothing went to SQLite
    shown = run("config", data_dir=data, env={**env, "SCAIFLOW_DATABASE_URL": env[
        "SCAIFLOW_DATABASE_URL"].replace("box@", "box:inline@")})
    assert "inline" not in shown.stdout + shown.stderr and "Pa55" not in shown.stdout
    assert "mariadb://box:********@127.0.0.1" in shown.stdout
    listed = run("admin", "users", data_dir=data, env=env)  # a command opening the data dir
    assert listed.returncode == 0, listed.stderr
    backup = run("backup", str(tmp_path / "b.db"), data_dir=data, env=env)
    assert (backup.returncode, backup.stdout) == (1, "")
    assert "mariadb-dump --single-transaction --routines --triggers" in backup.stderr
    assert "mariabackup --backup" in backup.stderr and "Pa55" not in backup.stderr
    assert not (tmp_path / "b.db").exists()
    restore = run("restore", str(tmp_path / "b.db"), data_dir=data, env=env)
    assert (restore.returncode, restore.stdout) == (1, "")
    assert "mariabackup --prepare" in restore.stderr and "start one scaiflow-box process" in \
        restore.stderr
