"""Python bytecode per request, counted: a cached GET by id and a save (`PUT` with new
content), by thread and by package, on one keep-alive connection.

Like `bench.instructions`, a count does not move with what else the machine runs, so it says
which of two versions of a path runs less Python. It does not say what that Python costs: an
opcode of a hot loop takes a few nanoseconds, the same opcode run cold (a save among reads)
tens of times more (docs/performance.md, "What a save costs"). C work (SQLite, orjson,
pydantic-core, aiohttp's parser) and the kernel are not counted.

    .venv/bin/python -m bench.opcodes [--requests 100]

The server runs with `bench/opcount/sitecustomize.py` on its PYTHONPATH, which traces every
opcode between two signals: about a hundred times slower while counting, so a run takes
about half a minute.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.content import bench_content
from bench.instructions import _wait_ready
from bench.processes import REPO_ROOT, appliance_env, free_port
from bench.seed import operator_box

FLOWS = 100
WARMUP = 200
OPCOUNT = REPO_ROOT / "bench" / "opcount"


def _group(filename: str) -> str:
    """A package (`aiohttp`), a subpackage of the appliance (`scaiflow_box/store`) or a
    standard library module (`stdlib/asyncio`)."""
    if "/scaiflow_box/" in filename:
        part = filename.split("/scaiflow_box/", 1)[1]
        return "scaiflow_box/" + part.split("/", 1)[0].removesuffix(".py")
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/lib/python3" in filename:
        part = filename.split("/lib/python3", 1)[1].split("/", 1)[1]
        return "stdlib/" + part.split("/", 1)[0].removesuffix(".py")
    return filename


def read_counts(path: Path, requests: int) -> dict[tuple[str, str], float]:
    """Opcodes per request by (thread, group), from the file the traced server wrote."""
    totals: collections.Counter[tuple[str, str]] = collections.Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        count, thread, location, _ = line.split("\t")
        thread = "writer" if thread == "sfb-writer" else thread
        totals[(thread, _group(location.rsplit(":", 1)[0]))] += int(count)
    return {key: count / requests for key, count in totals.items()}


class _Server:
    def __init__(self, data_dir: Path, out: Path) -> None:
        self.port = free_port()
        self.out = out
        env = appliance_env(data_dir)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(OPCOUNT), str(REPO_ROOT), env.get("PYTHONPATH")) if p)
        env["SFB_OPCOUNT_OUT"] = str(out)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "scaiflow_box", "serve", "--port", str(self.port)],
            env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_ready(self.port, self._proc)

    def count(self, load: Callable[[], int]) -> dict[tuple[str, str], float]:
        # Short pauses: what the server's timers run meanwhile is counted too.
        self._proc.send_signal(signal.SIGUSR1)
        time.sleep(0.1)
        requests = load()
        time.sleep(0.1)  # the writer's last settle
        self.out.unlink(missing_ok=True)
        self._proc.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 30
        while not self.out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        return read_counts(self.out, requests)

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=60)


def _render(name: str, counts: dict[tuple[str, str], float]) -> list[str]:
    lines = [f"{name}:"]
    for thread in sorted({t for t, _ in counts}, key=lambda t: (t != "MainThread", t)):
        rows = sorted(((g, n) for (t, g), n in counts.items() if t == thread),
                      key=lambda row: -row[1])
        total = sum(n for _, n in rows)
        if total < 1:
            continue
        lines.append(f"  {thread}: {total:,.0f} opcodes a request")
        lines += [f"    {g:<28} {n:>8,.0f}" for g, n in rows if n >= 1]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    requests: int = args.requests
    with tempfile.TemporaryDirectory(prefix="sfb-opcodes-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        ids, token = operator_box(data_dir, FLOWS)
        server = _Server(data_dir, workdir / "opcodes.txt")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            saves = 0

            def call(method: str, flow_id: str, body: object = None) -> None:
                conn.request(method, f"/api/v1/flows/{flow_id}", headers=headers,
                             body=None if body is None else json.dumps(body))
                response = conn.getresponse()
                data = response.read()
                if response.status != 200:
                    raise RuntimeError(f"{method} answered {response.status}: {data[:200]!r}")

            def gets() -> int:
                for n in range(requests):
                    call("GET", ids[n % FLOWS])
                return requests

            def puts() -> int:
                nonlocal saves
                for n in range(requests):
                    saves += 1
                    call("PUT", ids[n % FLOWS], {"content": bench_content(f"o{saves}")})
                return requests

            for _ in range(WARMUP // FLOWS):  # every answer cached, both paths run once
                gets()
                puts()
                gets()
            results = {"cached GET by id": server.count(gets), "save (PUT new content)":
                       server.count(puts)}
        finally:
            server.stop()
    for name, counts in results.items():
        print("\n".join(_render(name, counts)))


if __name__ == "__main__":
    main()
