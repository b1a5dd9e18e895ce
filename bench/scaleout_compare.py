"""GET by id and durable saves with 1, 2 and 3 appliance processes on one MariaDB behind
HAProxy, against one process on SQLite (issue 17, "Measure and report"). One run, for the
record; not part of `make bench`.

    .venv/bin/python -m bench.scaleout_compare [--duration 8] [--connections 64] [--flows 200]

Every server shares the machine (no pinning: the point is where adding processes stops
helping on these cores, and whose CPU it is then). MariaDB is a private mariadbd started here
(tests/mariadb_server.py) with its data on disk (/var/tmp) and an fsync per commit
(`innodb_flush_log_at_trx_commit = 1`, as SQLite's `synchronous = FULL`); the processes reach
it over TCP as a user with a password, as docs/operations.md has an operator configure them,
and HAProxy runs the tested configuration (tests/scaleout/haproxy.py). SQLite runs one process
with no proxy, as a single box does.

For each configuration: `--flows` flows made through the front address; then `wrk` GETs them
by id at random (`bench/lua/get_random.lua`), then saves new content to them at random as fast
as they are answered (`put_trickle.lua` with no pacing). Reported: requests per second, p99,
and the CPU each kind of process spent per request (appliances, mariadbd, haproxy), read from
/proc before and after each run.
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.content import BENCH_MARKER, bench_content
from bench.processes import (
    REPO_ROOT,
    ServerProcess,
    appliance_env,
    free_port,
    read_cpu_seconds,
    request_json,
)
from bench.wrk import WrkResult, run_wrk
from tests.mariadb_server import MariaDbServer, start_server
from tests.scaleout.haproxy import HaProxy

FLOWS_PATH = "/api/v1/flows"
UNPACED = "1000000"  # saves per second asked of put_trickle.lua: as fast as answered


@dataclass
class Run:
    """One wrk run and the CPU seconds each kind of process spent during it."""

    result: WrkResult
    cpu_s: dict[str, float]

    def rate(self) -> float:
        if self.result.ok or self.result.bad:  # a save run counts its 200s
            return self.result.ok / self.result.duration_s if self.result.duration_s else 0.0
        return self.result.rps

    def cpu_us_per_request(self, kind: str) -> float:
        done = self.result.ok or self.result.requests
        return self.cpu_s.get(kind, 0.0) / done * 1e6 if done else 0.0


@dataclass
class Configuration:
    name: str
    gets: Run | None = None
    saves: Run | None = None
    failed: dict[str, int] = field(default_factory=dict)


@dataclass
class Site:
    """What the load is sent to, and the processes whose CPU is counted."""

    url: str
    token: str
    pids: dict[str, list[int]]  # kind -> pids


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    return {kind: sum(read_cpu_seconds(pid) for pid in group) for kind, group in pids.items()}


def _measure(site: Site, script: str, args: list[str], duration: int,
             connections: int) -> Run:
    before = _cpu(site.pids)
    result = run_wrk(site.url + "/", script, args, duration_s=duration,
                     connections=connections, cpu=None)
    after = _cpu(site.pids)
    return Run(result, {kind: after[kind] - before[kind] for kind in after})


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "scaiflow_box", *args], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, check=False,
                          timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"scaiflow_box {' '.join(args)} exited {done.returncode}: "
                           f"{done.stderr.strip()}")
    return done.stdout.strip()


def _make_flows(url: str, token: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        status, body = request_json("POST", url + FLOWS_PATH, token,
                                    {"name": f"bench {n}", "content": bench_content(f"s{n}")})
        if status != 201:
            raise RuntimeError(f"creating a flow answered {status}: {body[:200]!r}")
        ids.append(json.loads(body)["id"])
    return ids


def _load(config: Configuration, site: Site, workdir: Path, flows: int, duration: int,
          connections: int) -> None:
    ids = _make_flows(site.url, site.token, flows)
    ids_file = workdir / f"{config.name}-ids.txt"
    ids_file.write_text("\n".join(ids) + "\n")
    template = workdir / "body.json"
    template.write_text(json.dumps({"content": bench_content(BENCH_MARKER)}))
    get_args = [site.token, str(ids_file), FLOWS_PATH + "/"]
    run_wrk(site.url + "/", "get_random", get_args, duration_s=2, connections=connections,
            cpu=None)  # warm every process's caches
    config.gets = _measure(site, "get_random", get_args, duration, connections)
    config.saves = _measure(site, "put_trickle",
                            [site.token, str(ids_file), FLOWS_PATH + "/", str(template),
                             UNPACED], duration, connections)
    config.failed = {"gets": config.gets.result.error_count,
                     "saves": config.saves.result.bad + config.saves.result.error_count}


@contextmanager
def _sqlite_site(workdir: Path) -> Iterator[Site]:
    data_dir = workdir / "sqlite"
    env = {**appliance_env(data_dir), "SCAIFLOW_SYNC_INTERVAL_MINUTES": "0"}
    _cli(env, "init")
    token = _cli(env, "token", "mint", "--sub", "usr_operator", "--tenant", "tnt_local",
                 "--ttl", "86400").splitlines()[-1]
    port = free_port()
    with ServerProcess("sqlite", [sys.executable, "-m", "scaiflow_box", "serve", "--port",
                                  str(port)], port=port, env=env,
                       log_path=workdir / "sqlite.log", cpu=None) as server:
        server.start("/readyz")
        yield Site(server.base_url, token, {"appliances": [server.pid]})


@contextmanager
def _maria_site(server: MariaDbServer, workdir: Path, processes: int) -> Iterator[Site]:
    name = server.create_database(f"bench{processes}")
    user, password = f"box_{name}", secrets.token_urlsafe(18)
    server.user_with_password(user, password, name)
    password_file = workdir / f"{name}.password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    shared = {"SCAIFLOW_DATABASE_URL": f"mariadb://{user}@127.0.0.1:{server.port}/{name}",
              "SCAIFLOW_DATABASE_PASSWORD_FILE": str(password_file),
              "SCAIFLOW_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
              "SCAIFLOW_SYNC_INTERVAL_MINUTES": "0"}
    envs = [{**appliance_env(workdir / f"{name}-p{n}"), **shared}
            for n in range(1, processes + 1)]
    _cli(envs[0], "init")
    token = _cli(envs[0], "token", "mint", "--sub", "usr_operator", "--tenant", "tnt_local",
                 "--ttl", "86400").splitlines()[-1]
    appliances = []
    try:
        for n, env in enumerate(envs, start=1):
            port = free_port()
            appliance = ServerProcess(f"{name}-p{n}", [sys.executable, "-m", "scaiflow_box",
                                                       "serve", "--port", str(port)],
                                      port=port, env=env, log_path=workdir / f"{name}-p{n}.log",
                                      cpu=None)
            appliance.start("/readyz")
            appliances.append(appliance)
        (workdir / name).mkdir()
        proxy = HaProxy(workdir / name, free_port(), [(a.name, a.port) for a in appliances])
        try:
            _wait_all_up(proxy, len(appliances))
            yield Site(proxy.url, token, {"appliances": [a.pid for a in appliances],
                                          "mariadbd": [server.process.pid],
                                          "haproxy": [proxy.pid]})
        finally:
            proxy.stop()
    finally:
        for appliance in appliances:
            appliance.stop()
        server.drop_database(name)


def _wait_all_up(proxy: HaProxy, count: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            states = proxy.server_states()
        except OSError:  # its stats socket is not there yet
            states = {}
        if len(states) == count and all(s.startswith("UP") for s in states.values()):
            return
        time.sleep(0.1)
    raise RuntimeError(f"HAProxy did not see {count} processes up: {states}")


def _table(configs: list[Configuration]) -> str:
    lines = ["| configuration | GET by id/s | GET p99 ms | CPU µs a GET: appliances / mariadbd"
             " / haproxy | saves/s | save p99 ms | CPU µs a save: appliances / mariadbd /"
             " haproxy | failed |",
             "|---|---:|---:|---|---:|---:|---|---|"]
    for c in configs:
        if c.gets is None or c.saves is None:
            continue

        def cpu(run: Run) -> str:
            return " / ".join(f"{run.cpu_us_per_request(kind):,.0f}"
                              for kind in ("appliances", "mariadbd", "haproxy"))

        lines.append(f"| {c.name} | {c.gets.rate():,.0f} | {c.gets.result.latency_ms['p99']:.1f}"
                     f" | {cpu(c.gets)} | {c.saves.rate():,.0f} |"
                     f" {c.saves.result.latency_ms['p99']:.1f} | {cpu(c.saves)} |"
                     f" {c.failed['gets']} GETs, {c.failed['saves']} saves |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--processes", default="1,2,3")
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results"
                                                / "scaleout.json"))
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    configs: list[Configuration] = []
    workdir = Path(tempfile.mkdtemp(prefix="sfb-scaleout-", dir="/var/tmp"))
    try:
        config = Configuration("SQLite, 1 process")
        with _sqlite_site(workdir) as site:
            _load(config, site, workdir, args.flows, args.duration, args.connections)
        configs.append(config)
        print(_table(configs), flush=True)
        server = start_server(workdir / "mariadb")
        try:
            server.admin("SET GLOBAL innodb_flush_log_at_trx_commit = 1")
            for count in counts:
                config = Configuration(f"MariaDB, {count} process{'es' if count > 1 else ''}"
                                       f" behind HAProxy")
                with _maria_site(server, workdir, count) as site:
                    _load(config, site, workdir, args.flows, args.duration, args.connections)
                configs.append(config)
                print(_table(configs[-1:]).splitlines()[-1], flush=True)
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(_table(configs))
    Path(args.output).write_text(json.dumps(
        [{"name": c.name, "failed": c.failed,
          **{kind: {"rate": run.rate(), "wrk": run.result.as_dict(), "cpu_s": run.cpu_s}
             for kind, run in (("gets", c.gets), ("saves", c.saves)) if run is not None}}
         for c in configs], indent=2) + "\n")


if __name__ == "__main__":
    main()
