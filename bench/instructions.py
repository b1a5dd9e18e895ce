"""Instructions per request, counted by valgrind's callgrind: the appliance's GET by id and the
ceiling's answer of the same bytes, on one connection pool of keep-alive requests.

Unlike the load figures of `make bench`, an instruction count does not move with what else the
machine runs (two runs of the same code agree within 0.01 %), so it settles a change of a few
microseconds on a shared machine where a timed A/B cannot. It counts what the process executes
in user space, not the kernel's share (the socket calls, the same for both) nor cache misses:
the ratio of the counts is not the ratio of throughputs, it says which of two versions of the
code does less.

    .venv/bin/python -m bench.instructions [--requests 2000]

Needs valgrind (Debian package `valgrind`); each server runs ~50 times slower under it, so a
run takes about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.processes import (
    REPO_ROOT,
    appliance_env,
    free_port,
    init_data_dir,
    mint_token,
    request_json,
)

WARMUP_REQUESTS = 400
CONNECTIONS = 8


async def get_paths(port: int, token: str, paths: list[str]) -> int:
    """GET each of `paths` over CONNECTIONS keep-alive connections, each answer read whole;
    how many were made."""
    async def one(chunk: list[str]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for path in chunk:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                             f"Authorization: Bearer {token}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"answered {head[:40]!r}")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
        finally:
            writer.close()

    await asyncio.gather(*(one(paths[i::CONNECTIONS]) for i in range(CONNECTIONS)))
    return len(paths)


async def _get_many(port: int, path: str, token: str, count: int) -> None:
    """`count` GETs of `path` (rounded down to a multiple of CONNECTIONS)."""
    await get_paths(port, token, [path] * (count // CONNECTIONS * CONNECTIONS))


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited {proc.returncode} under valgrind")
        try:
            status, _ = request_json("GET", f"http://127.0.0.1:{port}/healthz", "-",
                                     timeout_s=5)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not start under valgrind")


def count(argv: list[str], env: dict[str, str], port: int, path: str, token: str,
          requests: int, workdir: Path, prepare: bool = False) -> tuple[int, str]:
    """Instructions per request of the server `argv` (listening on `port`) answering
    `requests` GETs of `path`, after a warm-up; with `prepare`, a flow is created first and
    `path` is its prefix. Returns (instructions a request, the path used)."""
    out = workdir / f"callgrind.{port}"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p",
                             *argv], env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait_ready(port, proc)
        if prepare:
            content = (REPO_ROOT / "examples" / "hello-world.flow.json").read_text()
            status, body = request_json("POST", f"http://127.0.0.1:{port}/api/v1/flows", token,
                                        {"name": "instructions", "content": json.loads(content)})
            if status != 201:
                raise RuntimeError(f"creating the flow answered {status}")
            path = path + json.loads(body)["id"]
        asyncio.run(_get_many(port, path, token, WARMUP_REQUESTS))
        subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True,
                       capture_output=True)
        asyncio.run(_get_many(port, path, token, requests))
        subprocess.run(["callgrind_control", "--dump", str(proc.pid)], check=True,
                       capture_output=True)
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    dumps = sorted(workdir.glob(f"callgrind.{port}.*.*"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise RuntimeError("callgrind wrote no dump")
    for line in dumps[-1].read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1]) // (requests // CONNECTIONS * CONNECTIONS), path
    raise RuntimeError("no totals in the callgrind dump")


def require_valgrind() -> None:
    """Exit with the reason when valgrind (and its callgrind_control) is not installed."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("valgrind is not installed (Debian package valgrind)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    require_valgrind()
    with tempfile.TemporaryDirectory(prefix="sfb-instructions-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        init_data_dir(data_dir)
        token = mint_token(data_dir)
        port = free_port()
        ours, path = count([sys.executable, "-m", "scaiflow_box", "serve", "--port", str(port)],
                           appliance_env(data_dir), port, "/api/v1/flows/", token,
                           args.requests, workdir, prepare=True)
        # The ceiling answers the bytes the appliance answered, to the same request bytes.
        body_file = workdir / "doc.json"
        server = subprocess.Popen([sys.executable, "-m", "scaiflow_box", "serve", "--port",
                                   str(port)], env=appliance_env(data_dir), cwd=REPO_ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_ready(port, server, 60)
            _, document = request_json("GET", f"http://127.0.0.1:{port}{path}", token)
        finally:
            server.terminate()
            server.wait(timeout=60)
        body_file.write_bytes(document)
        ceiling_port = free_port()
        ceiling, _ = count([sys.executable, "-m", "bench.ceiling", "--port",
                            str(ceiling_port), "--body", str(body_file)],
                           dict(os.environ), ceiling_port, "/doc", token,
                           args.requests, workdir)
    print(f"instructions a request ({args.requests} GETs, {CONNECTIONS} connections):")
    print(f"  appliance, GET /api/v1/flows/{{id}}: {ours:,}")
    print(f"  ceiling, the same bytes:           {ceiling:,}")
    print(f"  ratio: {ours / ceiling:.2f}")


if __name__ == "__main__":
    main()
