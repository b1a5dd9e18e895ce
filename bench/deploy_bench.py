"""What a deploy costs the appliance itself, and what a live event stream costs per subscriber.

    .venv/bin/python -m bench.deploy_bench [--deploys 50] [--subscribers 100]

Deploy: the appliance (`python -m scaiflow_box serve`, fresh data dir) deploys the example
customer-support flow (9 nodes, a ScaiQueue scope with two queues, publish) to the ScaiGrid
stand-in (`python -m tests.fakes.scaigrid`), `--deploys` times. The upstream part is measured
on its own: the same sequence of ScaiGrid calls (list scopes, list queues, create core,
publish), made directly with the appliance's ScaiGrid client against the same stand-in. The
appliance's own time is the median deploy minus the median upstream sequence.

Event stream: `--subscribers` clients of `GET /api/v1/scaicore/events/stream` that share a
tenant, a credential and a filter; reports the upstream polls per second against a single
subscriber's, and the server's CPU per second while they idle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
KEY = "sgk_bench_" + "0" * 24


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_http(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def upstream_sequence(grid_url: str, manifest: str, runs: int) -> list[float]:
    """The deploy's ScaiGrid calls, made directly (existing scope and queues: find only)."""
    from scaiflow_box.upstream.scaigrid import ScaiGridAuth, ScaiGridClient

    auth = ScaiGridAuth(base_url=grid_url, bearer=KEY, source="env_key")
    times = []
    async with aiohttp.ClientSession() as session:
        client = ScaiGridClient(lambda: session)
        for _ in range(runs):
            started = time.perf_counter()
            scope = await client.ensure_scope(auth, "support", "support")
            for slug in ("review", "escalations"):
                await client.ensure_queue(auth, scope["id"], slug=slug, display_name=slug,
                                          ordering="fifo", max_retries=3)
            core = await client.create_core(auth, manifest)
            await client.publish_core(auth, core["id"], [])
            times.append((time.perf_counter() - started) * 1000)
    return times


async def run(deploys: int, subscribers: int) -> dict[str, Any]:
    from tests.fakes.scaigrid import FakeScaiGrid

    data = Path(tempfile.mkdtemp(prefix="sfb-deploy-bench-"))
    app_port = free_port()
    # In this process, so its request log tells how often the appliance polls.
    grid = await FakeScaiGrid(api_keys={KEY: "acme"}).start()
    grid_port = int(grid.base_url.rsplit(":", 1)[1])
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SCAIFLOW_", "SCAI"))},
           "SCAIFLOW_DATA_DIR": str(data), "SCAIFLOW_ENV_FILE": "",
           "SCAIGRID_BASE_URL": f"http://127.0.0.1:{grid_port}", "SCAIGRID_API_KEY": KEY,
           "SCAIFLOW_EVENT_POLL_SECONDS": "1"}
    subprocess.run([sys.executable, "-m", "scaiflow_box", "init"], env=env, cwd=ROOT,
                   check=True, capture_output=True)
    token = subprocess.run([sys.executable, "-m", "scaiflow_box", "token", "mint", "--sub",
                            "usr_operator", "--tenant", "tnt_local"], env=env, cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([sys.executable, "-m", "scaiflow_box", "serve", "--port",
                               str(app_port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{app_port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        await wait_http(base + "/healthz")
        await wait_http(f"http://127.0.0.1:{grid_port}/v1/models")
        content = json.loads((ROOT / "examples" / "customer-support.flow.json").read_text())
        async with aiohttp.ClientSession(headers=headers) as session:
            async with session.post(base + "/api/v1/flows", json={
                    "name": "Customer support", "content": content}) as resp:
                flow = await resp.json()
            async with session.post(base + "/api/v1/flows/compile",
                                    json={"content": flow["content"]}) as resp:
                manifest = (await resp.json())["body"]
            totals = []
            for _ in range(deploys + 3):
                started = time.perf_counter()
                async with session.post(base + f"/api/v1/flows/{flow['id']}/deploy",
                                        json={"publish_as_model": True}) as resp:
                    assert resp.status == 201, await resp.text()
                totals.append((time.perf_counter() - started) * 1000)
            totals = totals[3:]  # warm-up
            upstream = (await upstream_sequence(f"http://127.0.0.1:{grid_port}", manifest,
                                                deploys + 3))[3:]
            stream = await measure_stream(session, base, server.pid, subscribers, grid)
        deploy_ms = statistics.median(totals)
        upstream_ms = statistics.median(upstream)
        return {"deploys": deploys, "deploy_ms_median": round(deploy_ms, 2),
                "deploy_ms_p90": round(sorted(totals)[int(len(totals) * 0.9) - 1], 2),
                "upstream_sequence_ms_median": round(upstream_ms, 2),
                "appliance_own_ms": round(deploy_ms - upstream_ms, 2), **stream}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
        await grid.stop()


async def measure_stream(session: aiohttp.ClientSession, base: str, pid: int,
                         subscribers: int, grid: Any) -> dict[str, Any]:
    """Upstream polls per second and server CPU while `count` streams idle (same tenant,
    credential and filter), for one subscriber and for `subscribers`."""
    result: dict[str, Any] = {"stream_subscribers": subscribers}
    for count in (1, subscribers):
        responses = [await session.get(base + "/api/v1/scaicore/events/stream")
                     for _ in range(count)]
        await asyncio.sleep(2)
        polls_before = len(grid.requests_to("list_events"))
        cpu_before, started = cpu_seconds(pid), time.perf_counter()
        await asyncio.sleep(10)
        elapsed = time.perf_counter() - started
        result[f"polls_per_s_{count}"] = round(
            (len(grid.requests_to("list_events")) - polls_before) / elapsed, 2)
        result[f"server_cpu_share_{count}"] = round(
            (cpu_seconds(pid) - cpu_before) / elapsed, 4)
        for resp in responses:
            resp.close()
        await asyncio.sleep(2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deploys", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.deploys, args.subscribers)), indent=2))


if __name__ == "__main__":
    main()
