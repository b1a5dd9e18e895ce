"""The writer-thread model with a sync driver (what the appliance runs: store/mariadb_database.py
over PyMySQL) against an async driver on the event loop (aiomysql, asyncmy), on the same
statements (docs/scale-out.md, "The driver: measured"; issue 17 asks for both, measured).
One run, for the record; not part of `make bench`.

    .venv/bin/pip install -e '.[spike]'   # aiomysql and asyncmy, for this bench only
    .venv/bin/python -m bench.mariadb_driver_compare [--seconds 4]

A private mariadbd (tests/mariadb_server.py) with its data in /var/tmp, durable
(`innodb_flush_log_at_trx_commit = 1`). For each way of reaching it:

- durable writes/s with 64 concurrent tasks, then with 1: each write one `INSERT` into
  `audit_log` in a transaction of its own (the async drivers: a pool of 16 connections, one
  write per transaction; the writer thread: one connection, the waiting jobs of up to 64 in
  one transaction, each in its own savepoint, as the appliance writes);
- primary-key reads/s of one flow row by 64 concurrent tasks, then one at a time: the
  writer-thread model's reader threads (`Database.read`) and its key-read thread
  (`read_small`), against the async pools;
- for each: this process's CPU and mariadbd's CPU per operation (µs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.engine import DatabaseUrl
from scaiflow_box.store.mariadb_database import MariaDatabase
from tests.mariadb_server import MariaDbServer, start_server

TASKS = 64
POOL = 16
TICKS = os.sysconf("SC_CLK_TCK")
INSERT = ("INSERT INTO audit_log (tenant_id, actor, action, target_type, target_id, details, at)"
          " VALUES (%s, 'bench', 'bench.write', 'none', 'x', '{}', %s)")
READ = "SELECT id, name, version, deleted_at FROM flows WHERE id = %s AND tenant_id = %s"


def server_cpu(server: MariaDbServer) -> float:
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def rate(op: Callable[[], Awaitable[Any]], seconds: float, tasks: int,
               server: MariaDbServer) -> tuple[float, float, float]:
    """(operations/s, this process's CPU µs per operation, mariadbd's CPU µs per operation)."""
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await op()
            done += 1

    cpu, srv, started = time.process_time(), server_cpu(server), time.monotonic()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.monotonic() - started
    return (done / elapsed, (time.process_time() - cpu) / done * 1e6,
            (server_cpu(server) - srv) / done * 1e6)


def writer_thread_ops(db: MariaDatabase) -> dict[str, Callable[[], Awaitable[Any]]]:
    def insert(conn: Any) -> None:
        conn.execute(INSERT.replace("%s", "?"), ("tnt_a", "2026-01-01T00:00:00Z"))

    def read(conn: Any) -> Any:
        return conn.execute(READ.replace("%s", "?"), ("flw_1", "tnt_a")).fetchone()

    return {"write": lambda: db.write(insert, flows_changed=()),
            "read": lambda: db.read(read),
            "read_small": lambda: db.read_small(read)}


Ops = dict[str, Callable[[], Awaitable[Any]]]


def pool_ops(pool: Any) -> tuple[Ops, Callable[[], Awaitable[None]]]:
    """The write and the read on a pool of either async driver (their APIs agree here)."""

    async def write() -> None:
        async with pool.acquire() as conn:
            async with conn.cursor() as cur:
                await cur.execute(INSERT, ("tnt_a", "2026-01-01T00:00:00Z"))
            await conn.commit()

    async def read() -> Any:
        async with pool.acquire() as conn:
            async with conn.cursor() as cur:
                await cur.execute(READ, ("flw_1", "tnt_a"))
                row = await cur.fetchone()
            await conn.rollback()  # a new snapshot for the next read, as the readers do
            return row

    async def close() -> None:
        pool.close()
        await pool.wait_closed()

    return {"write": write, "read": read}, close


async def aiomysql_ops(url: DatabaseUrl) -> tuple[Ops, Callable[[], Awaitable[None]]]:
    import aiomysql

    return pool_ops(await aiomysql.create_pool(
        unix_socket=url.unix_socket, user=url.user, db=url.database, autocommit=False,
        minsize=POOL, maxsize=POOL, charset="utf8mb4"))


async def asyncmy_ops(url: DatabaseUrl) -> tuple[Ops, Callable[[], Awaitable[None]]]:
    import asyncmy

    return pool_ops(await asyncmy.create_pool(
        unix_socket=url.unix_socket, user=url.user, database=url.database, autocommit=False,
        minsize=POOL, maxsize=POOL, charset="utf8mb4"))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sf-driver-compare-", dir="/var/tmp"))
    server = start_server(workdir / "mariadb")
    rows: list[tuple[str, str, int, tuple[float, float, float]]] = []
    try:
        server.admin("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
        name = server.create_database("bench")
        url = DatabaseUrl(host="localhost", port=server.port, user="root", database=name,
                          unix_socket=str(server.socket_path))
        db = MariaDatabase(url, reader_threads=2)
        try:
            await db.write(lambda conn: (
                user_rows.ensure_tenant(conn, "tnt_a"),
                flow_rows.insert_flow(conn, flow_id="flw_1", tenant_id="tnt_a", name="one",
                                      description="", owner_id="usr_a", version="0.1.0",
                                      now="2026-01-01T00:00:00Z")))
            for op, fn in writer_thread_ops(db).items():
                for tasks in (TASKS, 1):
                    rows.append(("writer thread + PyMySQL (the appliance)", op, tasks,
                                 await rate(fn, args.seconds, tasks, server)))
        finally:
            db.close()
        for label, make in (("aiomysql on the loop, pool of 16", aiomysql_ops),
                            ("asyncmy on the loop, pool of 16", asyncmy_ops)):
            ops, close = await make(url)
            try:
                for op, fn in ops.items():
                    for tasks in (TASKS, 1):
                        rows.append((label, op, tasks,
                                     await rate(fn, args.seconds, tasks, server)))
            finally:
                await close()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("| model | operation | tasks | ops/s | CPU µs/op, this process | CPU µs/op, mariadbd |")
    print("|---|---|---:|---:|---:|---:|")
    for label, op, tasks, (per_s, cpu, srv) in rows:
        print(f"| {label} | {op} | {tasks} | {per_s:,.0f} | {cpu:,.0f} | {srv:,.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
