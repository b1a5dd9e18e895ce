"""SQLite vs MariaDB in one process: durable writes per second and the CPU of a GET by id
(docs/scale-out.md, "Phase 2 measurement"). One run, for the record; not part of `make bench`.

    .venv/bin/python -m bench.mariadb_compare [--seconds 5] [--gets 3000]

MariaDB is a private mariadbd started here (tests/mariadb_server.py) with its data on disk
(/var/tmp), made durable for the run (`innodb_flush_log_at_trx_commit = 1`: an fsync per
commit, as SQLite's `synchronous = FULL`); SQLite's file is in the same directory. For each
engine:

- writes: 64 tasks each awaiting `Database.write` of one audit row in a loop (group commit),
  then 1 task (one commit per write); acknowledged writes per second;
- uncached read: `read_inline(get_flow)` by primary key, CPU of this process (and of mariadbd)
  per read;
- GET by id: `GET /api/v1/flows/{id}` through the whole app (aiohttp, the client in the same
  process), CPU of this process (and of mariadbd) per request; the flow's detail and the
  token's principal come from the read cache after the first request, on both engines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from scaiflow_box.app import create_app
from scaiflow_box.config import load_settings
from scaiflow_box.keys import DB, ISSUER
from scaiflow_box.services.service_tokens import mint_service_token
from scaiflow_box.store import audit
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.database import open_database
from scaiflow_box.store.engine import DatabaseUrl
from tests.conftest import hello_content as flow_content
from tests.mariadb_server import MariaDbServer, start_server

CONCURRENCY = 64
TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(server: MariaDbServer | None) -> float:
    """Seconds of CPU mariadbd has used (0 without a server)."""
    if server is None:
        return 0.0
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def writes_per_second(db: Any, seconds: float, tasks: int) -> float:
    done = 0
    stop = time.monotonic() + seconds

    def job(conn: Any) -> None:
        audit.record(conn, tenant_id="tnt_bench", actor="bench", action="bench.write",
                     target_type="none", target_id="x", details={"n": 1})

    async def writer() -> None:
        nonlocal done
        while time.monotonic() < stop:
            await db.write(job)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(writer() for _ in range(tasks)))
    return done / (time.monotonic() - started)


def cpu_per_call(fn: Callable[[], Any], count: int, server: MariaDbServer | None
                 ) -> tuple[float, float]:
    """(µs of this process's CPU, µs of mariadbd's CPU) per call."""
    fn()
    cpu, srv = time.process_time(), server_cpu(server)
    for _ in range(count):
        fn()
    return ((time.process_time() - cpu) / count * 1e6,
            (server_cpu(server) - srv) / count * 1e6)


async def measure(engine: str, workdir: Path, server: MariaDbServer | None,
                  seconds: float, gets: int) -> dict[str, float]:
    url: DatabaseUrl | None = None
    env = {"SCAIFLOW_DATA_DIR": str(workdir / f"data-{engine}"), "SCAIFLOW_ENV_FILE": "",
           "SCAIFLOW_SYNC_INTERVAL_MINUTES": "0"}
    if server is not None:
        name = server.create_database("bench")
        url = DatabaseUrl(host="localhost", port=server.port, user="root", database=name,
                          unix_socket=str(server.socket_path))
        env["SCAIFLOW_DATABASE_URL"] = url.render(mask=False)
    result: dict[str, float] = {}
    db = open_database(workdir / f"{engine}.db", url)
    try:
        result["writes_per_s_64"] = await writes_per_second(db, seconds, CONCURRENCY)
        result["writes_per_s_1"] = await writes_per_second(db, seconds, 1)
        await db.write(lambda conn: (
            user_rows.ensure_tenant(conn, "tnt_a"),
            flow_rows.insert_flow(conn, flow_id="flw_1", tenant_id="tnt_a", name="one",
                                  description="", owner_id="usr_a", version="0.1.0",
                                  now="2026-01-01T00:00:00Z")))
        result["read_cpu_us"], result["read_server_cpu_us"] = cpu_per_call(
            lambda: db.read_inline(lambda conn: flow_rows.get_flow(conn, "tnt_a", "flw_1")),
            gets, server)
    finally:
        db.close()
    # the whole GET through the app
    settings = load_settings(env)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        app_db = client.app[DB]
        await app_db.write(lambda conn: user_rows.provision_user_just_in_time(
            conn, tenant_id="tnt_a", user_id="usr_alice", email=None, display_name=None,
            issuer=user_rows.LOCAL))
        minted = await app_db.write(lambda conn: mint_service_token(
            conn, client.app[ISSUER], sub="usr_alice", tenant_id="tnt_a",
            scope="scaicore:view scaicore:manage", ttl_seconds=3600, created_by="bench"))
        headers = {"Authorization": f"Bearer {minted.token}"}
        created = await client.post("/api/v1/flows", headers=headers,
                                    json={"name": "bench", "content": flow_content()})
        assert created.status == 201, await created.text()
        flow_id = (await created.json())["id"]
        for _ in range(50):  # warm
            assert (await client.get(f"/api/v1/flows/{flow_id}", headers=headers)).status == 200
        cpu, srv = time.process_time(), server_cpu(server)
        wall = time.monotonic()
        for _ in range(gets):
            resp = await client.get(f"/api/v1/flows/{flow_id}", headers=headers)
            await resp.read()
        result["get_cpu_us"] = (time.process_time() - cpu) / gets * 1e6
        result["get_server_cpu_us"] = (server_cpu(server) - srv) / gets * 1e6
        result["get_wall_us"] = (time.monotonic() - wall) / gets * 1e6
    finally:
        await client.close()
    return result


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--gets", type=int, default=3000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sf-mariadb-compare-", dir="/var/tmp"))
    server = start_server(workdir / "mariadb")
    try:
        server.admin("SET GLOBAL innodb_flush_log_at_trx_commit = 1")  # durable, as SQLite
        rows = {"sqlite": await measure("sqlite", workdir, None, args.seconds, args.gets),
                "mariadb": await measure("mariadb", workdir, server, args.seconds, args.gets)}
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print("| | SQLite | MariaDB (PyMySQL) |")
    print("|---|---|---|")
    labels = {"writes_per_s_64": "durable writes/s, 64 concurrent (group commit)",
              "writes_per_s_1": "durable writes/s, 1 at a time",
              "read_cpu_us": "uncached PK read (read_inline): CPU µs, this process",
              "read_server_cpu_us": "... CPU µs, mariadbd",
              "get_cpu_us": "GET /flows/{id} via the app: CPU µs, this process (client too)",
              "get_server_cpu_us": "... CPU µs, mariadbd",
              "get_wall_us": "... wall µs per request (sequential)"}
    for key, label in labels.items():
        print(f"| {label} | {rows['sqlite'][key]:,.0f} | {rows['mariadb'][key]:,.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
