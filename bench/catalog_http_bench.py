"""What the package catalog costs through its HTTP routes, on a served appliance.

    .venv/bin/python -m bench.catalog_http_bench [--runs 100] [--packages 1000] [--dir DIR]

The appliance (`python -m scaiflow_box serve`, a fresh data directory on disk under DIR,
default the system temp directory) and one client (aiohttp, one keep-alive connection, one
request at a time) with a service token of the bootstrap operator. For each example flow:
`POST /catalog/publish` with inline content and from the stored flow, `POST
/catalog/{id}/install` with and without `save`, the download, and `POST /catalog/import` of
the downloaded file (the same bytes again: every check and the re-pack, then 200). Then
`GET /catalog` with `--packages` packages published through the API: a page of 100, a page of
500, a search, and every page of 100 followed through the `Link` headers.

Reported per call: the median and 90th percentile of the client's wall time, and the server
process's CPU time per call (user + system of every thread, from /proc: the appliance's own
work, which other load on a shared machine inflates far less than wall time). The budget for
publish and install of the example flows is 100 ms of the appliance's own time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.deploy_bench import cpu_seconds, free_port, wait_http

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("hello-world", "customer-support", "compute")
NEXT = re.compile(r'<([^>]+)>; rel="next"')


@dataclass(frozen=True)
class Timing:
    wall: list[float]  # ms per call, as the client saw it
    cpu_ms: float  # the server's CPU ms per call

    def row(self) -> str:
        ordered = sorted(self.wall)
        p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
        return (f"{statistics.median(ordered):.1f} ms (p90 {p90:.1f}); server CPU "
                f"{self.cpu_ms:.1f} ms")


async def timed(pid: int, call: Callable[[], Awaitable[None]], runs: int,
                warmup: int = 3) -> Timing:
    for _ in range(warmup):
        await call()
    wall = []
    cpu_before = cpu_seconds(pid)
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        wall.append((time.perf_counter() - started) * 1000)
    return Timing(wall, (cpu_seconds(pid) - cpu_before) * 1000 / runs)


def example(name: str) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(
        (ROOT / "scaiflow_box" / "examples" / f"{name}.flow.json").read_text("utf-8"))
    return content


class Api:
    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def send(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            body = await resp.read()
            if resp.status != status:
                raise RuntimeError(f"{method} {path}: {resp.status} {body[:300]!r}")
            if resp.content_type == "application/json":
                return json.loads(body), resp.headers
            return body, resp.headers


async def bench_example(api: Api, pid: int, name: str, runs: int) -> list[tuple[str, str]]:
    content = example(name)
    nodes = len(content["nodes"])
    publish = await timed(pid, lambda: api.send("POST", "/api/v1/catalog/publish", 201, json={
        "package_id": name, "name": name, "content": content}), runs)
    flow, _ = await api.send("POST", "/api/v1/flows", 201, json={"name": name,
                                                                 "content": content})
    from_flow = await timed(pid, lambda: api.send("POST", "/api/v1/catalog/publish", 201, json={
        "package_id": f"{name}-flow", "name": name, "flow_id": flow["id"]}), runs)
    install = await timed(pid, lambda: api.send("POST", f"/api/v1/catalog/{name}/install", 200,
                                                json={}), runs)
    saved = await timed(pid, lambda: api.send("POST", f"/api/v1/catalog/{name}/install", 201,
                                              json={"save": True}), runs)
    data, _ = await api.send("GET", f"/api/v1/catalog/{name}/versions/0.1.0/download", 200)
    download = await timed(pid, lambda: api.send(
        "GET", f"/api/v1/catalog/{name}/versions/0.1.0/download", 200), runs)
    again = await timed(pid, lambda: api.send("POST", "/api/v1/catalog/import", 200, data=data,
                                              headers={"Content-Type": "application/zip"}),
                        runs)
    label = f"{name} ({nodes} nodes, {len(data):,}-byte package)"
    return [(f"publish {label}, inline content", publish.row()),
            (f"publish {name} from its stored flow", from_flow.row()),
            (f"install {name} (content only)", install.row()),
            (f"install {name} with save (a new flow)", saved.row()),
            (f"download {name}", download.row()),
            (f"import {name}'s own file again (checked, re-packed: 200)", again.row())]


async def bench_list(api: Api, pid: int, count: int, runs: int) -> list[tuple[str, str]]:
    content = example("hello-world")
    started = time.perf_counter()
    for i in range(count):
        await api.send("POST", "/api/v1/catalog/publish", 201, json={
            "package_id": f"pkg-{i:04d}", "name": f"Package {i}", "content": content})
    seeded = time.perf_counter() - started
    rows = [(f"seeding {count:,} packages through POST /catalog/publish",
             f"{seeded:.1f} s ({seeded * 1000 / count:.1f} ms each)")]
    for label, query in (("a page of 100", "limit=100"), ("a page of 500", "limit=500"),
                         ("search 'package 99' (11 matches)", "search=package%2099")):
        timing = await timed(pid, lambda q=query: api.send("GET", f"/api/v1/catalog?{q}", 200),
                             runs)
        rows.append((f"GET /catalog with {count:,} packages: {label}", timing.row()))
    pages = {"n": 0}

    async def every_page() -> None:
        path: str | None = "/api/v1/catalog?limit=100"
        pages["n"] = 0
        while path is not None:
            _, headers = await api.send("GET", path, 200)
            pages["n"] += 1
            found = NEXT.search(headers.get("Link", ""))
            path = found.group(1) if found else None

    timing = await timed(pid, every_page, max(5, runs // 3), warmup=1)
    rows.append((f"GET /catalog: all {pages['n']} pages of 100, following Link",
                 timing.row()))
    return rows


async def bench(args: argparse.Namespace) -> list[tuple[str, str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="sfb-catalog-http-", dir=args.dir))
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SCAIFLOW_", "SCAI"))},
           "SCAIFLOW_DATA_DIR": str(data_dir), "SCAIFLOW_ENV_FILE": ""}
    subprocess.run([sys.executable, "-m", "scaiflow_box", "init"], env=env, cwd=ROOT,
                   check=True, capture_output=True)
    token = subprocess.run([sys.executable, "-m", "scaiflow_box", "token", "mint", "--sub",
                            "usr_operator", "--tenant", "tnt_local"], env=env, cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([sys.executable, "-m", "scaiflow_box", "serve", "--port",
                               str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, str]] = [("data directory", str(data_dir))]
    try:
        await wait_http(base + "/healthz")
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector, headers={
                "Authorization": f"Bearer {token}"}) as session:
            api = Api(session, base)
            for name in EXAMPLES:
                rows += await bench_example(api, server.pid, name, args.runs)
            rows += await bench_list(api, server.pid, args.packages, args.runs)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # CPU time comes from /proc in clock ticks (10 ms): 100 calls read it to 0.1 ms.
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--dir", default=None, help="where the data directory is made")
    args = parser.parse_args()
    rows = asyncio.run(bench(args))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print()
    print("| measure | wall median (p90); server CPU per call |\n|---|---:|")
    for label, value in rows[1:]:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
