"""Instructions of the two paths issue 16 still measures short (callgrind, like
bench/instructions.py; deterministic where a timed run on a shared machine is not):

- `saves`: a save (`PUT` with new content) of one of 60 flows, the first GET of that flow
  after it (a read-cache miss), and a cached GET, one keep-alive connection;
- `spread`: a cached GET by id spread at random over a tenant of `--flows` seeded flows
  (every one read once first), against a GET of one flow, over 8 connections.

    .venv/bin/python -m bench.instructions_paths saves
    .venv/bin/python -m bench.instructions_paths spread [--flows 20000]

Counts cover every thread of the server (the writer's too) and user space only. `spread` at
20,000 flows reads every flow under valgrind first: about 8 minutes on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.content import bench_content
from bench.instructions import _wait_ready, get_paths, require_valgrind
from bench.processes import REPO_ROOT, appliance_env, free_port
from bench.seed import operator_box

SAVE_FLOWS = 60
SPREAD_GETS = 2000


class _Server:
    """`scaiflow_box serve` under callgrind; `phase()` counts what one piece of load costs."""

    def __init__(self, data_dir: Path, workdir: Path) -> None:
        self.port = free_port()
        self._out = workdir / "callgrind"
        self._proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self._out}.%p",
             sys.executable, "-m", "scaiflow_box", "serve", "--port", str(self.port)],
            env=appliance_env(data_dir), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        _wait_ready(self.port, self._proc)

    def phase(self, load: Callable[[], int]) -> int:
        """Instructions per operation of `load` (which returns how many it made)."""
        pid = str(self._proc.pid)
        subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
        count = load()
        subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
        time.sleep(0.5)
        dumps = sorted(self._out.parent.glob(f"{self._out.name}.*.*"),
                       key=lambda p: p.stat().st_mtime)
        for line in dumps[-1].read_text(errors="replace").splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1]) // count
        raise RuntimeError("no totals in the callgrind dump")

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=120)


def _saves(server: _Server, token: str) -> dict[str, int]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(method: str, path: str, body: object = None) -> bytes:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status not in (200, 201):
            raise RuntimeError(f"{method} {path} answered {response.status}: {data[:200]!r}")
        return data

    ids = [json.loads(call("POST", "/api/v1/flows", {"name": f"f{n}",
                                                      "content": bench_content(f"s{n}")}))["id"]
           for n in range(SAVE_FLOWS)]
    paths = [f"/api/v1/flows/{flow_id}" for flow_id in ids]
    for _ in range(3):  # warm: every flow cached, the save path's code run
        for path in paths:
            call("GET", path)
    for n, path in enumerate(paths[:10]):
        call("PUT", path, {"content": bench_content(f"w{n}")})
        call("GET", path)

    def gets() -> int:
        for path in paths:
            call("GET", path)
        return len(paths)

    def saves() -> int:
        for n, path in enumerate(paths):
            call("PUT", path, {"content": bench_content(f"x{n}")})
        return len(paths)

    return {"cached GET": server.phase(gets), "save": server.phase(saves),
            "first GET after a save (miss)": server.phase(gets),
            "cached GET again": server.phase(gets)}


def _spread(server: _Server, token: str, ids: list[str]) -> dict[str, int]:
    every = [f"/api/v1/flows/{flow_id}" for flow_id in ids]
    asyncio.run(get_paths(server.port, token, every))  # every answer in the read cache
    rng = random.Random(7)

    def spread() -> int:
        return asyncio.run(get_paths(server.port, token,
                                      [rng.choice(every) for _ in range(SPREAD_GETS)]))

    return {f"GET spread over {len(ids):,} flows": server.phase(spread),
            "GET of one flow": server.phase(
                lambda: asyncio.run(get_paths(server.port, token, [every[0]] * SPREAD_GETS))),
            f"GET spread over {len(ids):,} flows, again": server.phase(spread)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("saves", "spread"))
    parser.add_argument("--flows", type=int, default=20_000)
    args = parser.parse_args()
    require_valgrind()
    with tempfile.TemporaryDirectory(prefix="sfb-instructions-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        ids, token = operator_box(data_dir, args.flows if args.what == "spread" else 0)
        server = _Server(data_dir, workdir)
        try:
            counts = _saves(server, token) if args.what == "saves" else _spread(server, token,
                                                                                 ids)
        finally:
            server.stop()
    print("instructions each (callgrind, every thread of the server):")
    for label, value in counts.items():
        print(f"  {label}: {value:,}")


if __name__ == "__main__":
    main()
