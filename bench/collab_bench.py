"""Live-editing relay benchmark (SPEC §15, issue 14): fan-out latency, CPU per relayed update,
and the memory of idle sockets.

    .venv/bin/python -m bench.collab_bench [--clients 50] [--rate 10] [--duration 20]
                                           [--idle 1000] [--workers 2] [--no-pin]

Starts the appliance (`python -m scaiflow_box serve`, fresh temp data dir) pinned to one CPU
and drives it from worker processes pinned to the other:

- **fan-out**: `--clients` y-websocket peers on one flow, each sending `--rate` Yjs updates a
  second (real updates made with pycrdt, each carrying its send time) for `--duration`
  seconds. The box applies each to its replica, stores it and relays it to the other clients;
  the latency of a relay is receive time minus send time (CLOCK_MONOTONIC, the same in every
  process). Reported: p50/p99/max over every (update, receiver) pair, and the server's CPU
  time per relayed update (and per frame sent) over the measured window.
- **idle**: `--idle` sockets on 50 flows, each synced (step 1 / step 2) and then silent; the
  server's resident memory before and after.

The clients speak raw WebSocket (a minimal RFC 6455 client in this file): a load generator
built on aiohttp's client would cost more CPU per received frame than the server spends
relaying it. Results go to stdout (Markdown) and bench/results/collab.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.processes import (
    REPO_ROOT,
    appliance,
    init_data_dir,
    mint_token,
    read_cpu_seconds,
    read_memory_kb,
    request_json,
)

RESULTS_FILE = Path(__file__).with_name("results") / "collab.json"
EXAMPLE_FLOW = REPO_ROOT / "scaiflow_box" / "examples" / "hello-world.flow.json"
STAMP = re.compile(rb"T(\d{12,20})E")
# Latency histogram: 50 us buckets up to 200 ms, then one overflow bucket.
BUCKET_US = 50
BUCKETS = 4000


# -- a minimal WebSocket client ----------------------------------------------------------------
class RawSocket(asyncio.Protocol):
    """Client side of RFC 6455 with the least work per frame: frames from the server are
    unmasked; ours are masked with a zero key (valid, and the payload stays as it is)."""

    def __init__(self, on_message: Any) -> None:
        self.on_message = on_message
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            del self.buffer[:end + 4]
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.upgraded.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            self.upgraded.set_result(None)
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode = buffer[0] & 0x0F
            length = buffer[1] & 0x7F
            start = 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length = int.from_bytes(buffer[2:4], "big")
                start = 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length = int.from_bytes(buffer[2:10], "big")
                start = 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start:start + length])
            del buffer[:start + length]
            if opcode == 0x8:
                if self.transport is not None:
                    self.transport.close()
                return
            if opcode == 0x9 and self.transport is not None:  # ping: answer with a pong
                self.transport.write(self._frame(0xA, payload))
                continue
            self.on_message(opcode, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed during the handshake"))

    @staticmethod
    def _frame(opcode: int, payload: bytes) -> bytes:
        length = len(payload)
        if length < 126:
            header = bytes((0x80 | opcode, 0x80 | length))
        elif length < 65536:
            header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
        return header + b"\x00\x00\x00\x00" + payload

    def send(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(self._frame(0x2, payload))


async def open_socket(port: int, path: str, on_message: Any) -> RawSocket:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: RawSocket(on_message), "127.0.0.1",
                                               port)
    assert protocol.transport is not None
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    protocol.transport.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                              ).encode())
    await protocol.upgraded
    return protocol


def step1(state_vector: bytes) -> bytes:
    from scaiflow_box.collab import yprotocol as yp

    return yp.sync_step1(state_vector)


# -- the fan-out worker --------------------------------------------------------------------------
@dataclass
class WorkerResult:
    histogram: list[int] = field(default_factory=lambda: [0] * (BUCKETS + 1))
    sent: int = 0
    received: int = 0
    max_us: int = 0
    cpu_s: float = 0.0  # the worker's own CPU time during the load


async def fanout_worker(port: int, path: str, clients: int, rate: float, start_ns: int,
                        duration: float) -> WorkerResult:
    import pycrdt

    from scaiflow_box.collab import yprotocol as yp

    result = WorkerResult()
    synced: list[asyncio.Future[None]] = []

    def receiver(ready: asyncio.Future[None]) -> Any:
        def on_message(opcode: int, payload: bytes) -> None:
            if opcode != 0x2 or not payload:
                return
            if payload[0] == 0 and len(payload) > 1 and payload[1] == 1 and not ready.done():
                ready.set_result(None)  # the box's answer to our step 1
                return
            match = STAMP.search(payload)
            if match is None:
                return
            latency_us = (time.monotonic_ns() - int(match.group(1))) // 1000
            result.received += 1
            result.max_us = max(result.max_us, latency_us)
            result.histogram[min(latency_us // BUCKET_US, BUCKETS)] += 1
        return on_message

    sockets = []
    for _ in range(clients):
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        synced.append(ready)
        socket = await open_socket(port, path, receiver(ready))
        socket.send(step1(b"\x00"))
        sockets.append(socket)
    await asyncio.wait_for(asyncio.gather(*synced), 60)

    async def editor(socket: RawSocket) -> None:
        doc: pycrdt.Doc[Any] = pycrdt.Doc()
        values = doc.get("m", type=pycrdt.Map)
        updates: list[bytes] = []
        doc.observe(lambda event: updates.append(event.update))
        interval = 1.0 / rate
        # Each client starts at its own offset in the interval, as real typing would.
        next_at = start_ns / 1e9 + secrets.randbelow(1000) / 1000 * interval
        stop_at = start_ns / 1e9 + duration
        sequence = 0
        while True:
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.monotonic() >= stop_at:
                return
            values[f"k{sequence % 8}"] = f"T{time.monotonic_ns()}E"
            socket.send(yp.sync_update(updates.pop()))
            result.sent += 1
            sequence += 1
            next_at += interval

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    await asyncio.gather(*(editor(socket) for socket in sockets))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = usage.ru_utime + usage.ru_stime - cpu_before
    await asyncio.sleep(1.0)  # the last relays arrive
    for socket in sockets:
        if socket.transport is not None:
            socket.transport.close()
    return result


# -- the idle scenario ---------------------------------------------------------------------------
async def idle_clients(port: int, paths: list[str], count: int) -> list[RawSocket]:
    sockets: list[RawSocket] = []
    for index in range(count):
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_message(opcode: int, payload: bytes, ready: asyncio.Future[None] = ready
                       ) -> None:
            if opcode == 0x2 and payload[:2] == b"\x00\x01" and not ready.done():
                ready.set_result(None)

        socket = await open_socket(port, paths[index % len(paths)], on_message)
        socket.send(step1(b"\x00"))
        await asyncio.wait_for(ready, 30)
        sockets.append(socket)
    return sockets


# -- orchestration -------------------------------------------------------------------------------
def busy_cpu_seconds() -> float:
    """CPU seconds every process on the machine has used (from /proc/stat)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = stat.readline().split()[1:]
    ticks = sum(int(f) for f in fields[:8]) - int(fields[3]) - int(fields[4])
    return ticks / os.sysconf("SC_CLK_TCK")


def percentile(histogram: list[int], fraction: float) -> float:
    total = sum(histogram)
    wanted = fraction * total
    running = 0
    for index, count in enumerate(histogram):
        running += count
        if running >= wanted:
            return (index + 1) * BUCKET_US / 1000
    return float("inf")


def create_flow(base_url: str, token: str, name: str) -> str:
    content = json.loads(EXAMPLE_FLOW.read_text("utf-8"))
    status, body = request_json("POST", base_url + "/api/v1/flows", token,
                                {"name": name, "content": content})
    if status != 201:
        raise RuntimeError(f"creating a flow answered {status}: {body[:200]!r}")
    flow_id: str = json.loads(body)["id"]
    return flow_id


def run_workers(args: argparse.Namespace, port: int, path: str, load_cpu: int | None
                ) -> tuple[list[subprocess.Popen[str]], int]:
    """Start the load generators; they connect, sync and start sending at `start_ns`."""
    start_ns = time.monotonic_ns() + int(8e9)  # time to connect and sync everyone
    share = [args.clients // args.workers + (1 if i < args.clients % args.workers else 0)
             for i in range(args.workers)]
    procs = []
    for count in share:
        argv = [sys.executable, "-m", "bench.collab_bench", "--worker", "--port", str(port),
                "--path", path, "--clients", str(count), "--rate", str(args.rate),
                "--start-ns", str(start_ns), "--duration", str(args.duration)]
        if load_cpu is not None:
            argv = ["taskset", "-c", str(load_cpu), *argv]
        procs.append(subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True))
    return procs, start_ns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.collab_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="updates/s per client")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--idle", type=int, default=1000, help="idle sockets (0: skip)")
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--nice", type=int, default=0,
                        help="run the server and the load at this niceness (negative needs "
                             "root: on a machine shared with other work, the measurement's "
                             "processes then win the CPU they need)")
    parser.add_argument("--realtime", action="store_true",
                        help="run the server and the load under SCHED_FIFO (needs root): on "
                             "a machine busy with other work, what is measured is then the "
                             "box, not the queue for the CPU; they use a fraction of a core, "
                             "and the kernel keeps 5 %% of every second for everyone else")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    # worker mode (started by main)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--start-ns", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = asyncio.run(fanout_worker(args.port, args.path, args.clients, args.rate,
                                           args.start_ns, args.duration))
        print(json.dumps(result.__dict__))
        return 0

    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # inherited by every child
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))  # inherited too
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2 and shutil.which("taskset") is not None
    server_cpu, load_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    report: dict[str, Any] = {"clients": args.clients, "rate": args.rate,
                              "duration_s": args.duration, "pinned": pin, "nice": args.nice,
                              "workers": args.workers, "realtime": args.realtime,
                              "cpus": os.cpu_count(), "loadavg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="scaiflow-collab-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        init_data_dir(data_dir)
        token = mint_token(data_dir)
        # Live sockets are busy connections: 1,000 idle editors need a cap above the default
        # 1,024 with the fan-out's own (docs/operations.md, "Connection limits").
        with appliance(data_dir, cpu=server_cpu, log_path=Path(tmp) / "server.log",
                       settings={"SCAIFLOW_MAX_CONNECTIONS": "4096"}) as server:
            server.start("/healthz")
            flow_id = create_flow(server.base_url, token, "Fan-out")
            path = f"/api/v1/flows/{flow_id}/sync?token={token}&presence_frames=false"
            report["rss_started_kb"] = read_memory_kb(server.pid)["VmRSS"]
            procs, start_ns = run_workers(args, server.port, path, load_cpu)
            # The measured window: the load, plus the last relays.
            while time.monotonic_ns() < start_ns:
                time.sleep(0.01)
            cpu0, busy0, wall0 = read_cpu_seconds(server.pid), busy_cpu_seconds(), time.time()
            time.sleep(args.duration + 0.5)
            cpu1, busy1, wall1 = read_cpu_seconds(server.pid), busy_cpu_seconds(), time.time()
            merged = WorkerResult()
            for proc in procs:
                out, _ = proc.communicate(timeout=120)
                part = json.loads(out.strip().splitlines()[-1])
                merged.cpu_s += part["cpu_s"]
                merged.sent += part["sent"]
                merged.received += part["received"]
                merged.max_us = max(merged.max_us, part["max_us"])
                merged.histogram = [a + b for a, b in zip(merged.histogram, part["histogram"],
                                                          strict=True)]
            server_cpu_s = cpu1 - cpu0
            expected = merged.sent * (args.clients - 1)
            report["fanout"] = {
                "updates_sent": merged.sent, "relays_expected": expected,
                "relays_received": merged.received,
                "p50_ms": percentile(merged.histogram, 0.50),
                "p99_ms": percentile(merged.histogram, 0.99),
                "max_ms": merged.max_us / 1000,
                "server_cpu_s": round(server_cpu_s, 3),
                "server_cpu_cores": round(server_cpu_s / (wall1 - wall0), 3),
                "cpu_us_per_update": round(server_cpu_s / max(merged.sent, 1) * 1e6, 1),
                "cpu_us_per_frame_out": round(server_cpu_s / max(merged.received, 1) * 1e6, 2),
                "load_generator_cores": round(merged.cpu_s / args.duration, 2),
                "other_processes_cores": round((busy1 - busy0 - server_cpu_s - merged.cpu_s)
                                               / (wall1 - wall0), 2),
            }
            report["rss_after_fanout_kb"] = read_memory_kb(server.pid)["VmRSS"]
            if args.idle:
                flows = [create_flow(server.base_url, token, f"Idle {i}") for i in range(50)]
                paths = [f"/api/v1/flows/{f}/sync?token={token}&presence_frames=false"
                         for f in flows]
                report["idle"] = asyncio.run(_idle(server, paths, args.idle))
    report["loadavg_after"] = os.getloadavg()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(render(report))
    return 0


async def _idle(server: Any, paths: list[str], count: int) -> dict[str, Any]:
    # One socket per flow first, closed again, so that every flow's document is loaded and
    # pycrdt imported: what remains is what the sockets cost.
    warm = await idle_clients(server.port, paths, len(paths))
    await asyncio.sleep(1.0)
    before = read_memory_kb(server.pid)["VmRSS"]
    started = time.monotonic()
    sockets = await idle_clients(server.port, paths, count)
    connect_s = time.monotonic() - started
    await asyncio.sleep(3.0)  # a few once-a-second ticks over all of them
    cpu0 = read_cpu_seconds(server.pid)
    await asyncio.sleep(5.0)
    idle_cpu = (read_cpu_seconds(server.pid) - cpu0) / 5.0
    after = read_memory_kb(server.pid)["VmRSS"]
    for socket in sockets + warm:
        if socket.transport is not None:
            socket.transport.close()
    return {"sockets": count, "flows": len(paths), "rss_before_kb": before,
            "rss_with_sockets_kb": after, "kb_per_socket": round((after - before) / count, 1),
            "connect_and_sync_s": round(connect_s, 2), "idle_cpu_cores": round(idle_cpu, 4)}


def render(report: dict[str, Any]) -> str:
    fan = report["fanout"]
    lines = [
        f"fan-out: {report['clients']} clients on one flow x {report['rate']:g} updates/s, "
        f"{report['duration_s']:g} s ({'pinned' if report['pinned'] else 'not pinned'}, "
        f"nice {report['nice']}{', SCHED_FIFO' if report['realtime'] else ''}; "
        f"other processes used {fan['other_processes_cores']} cores meanwhile)",
        "",
        "| measure | value | budget |",
        "|---|---|---|",
        f"| relays received / expected | {fan['relays_received']} / "
        f"{fan['relays_expected']} | all |",
        f"| fan-out latency p50 | {fan['p50_ms']:.2f} ms | |",
        f"| fan-out latency p99 | {fan['p99_ms']:.2f} ms | < 10 ms |",
        f"| fan-out latency max | {fan['max_ms']:.1f} ms | |",
        f"| server CPU | {fan['server_cpu_cores']} cores | |",
        f"| load generator CPU ({report.get('workers', '?')} processes) | "
        f"{fan['load_generator_cores']} cores | |",
        f"| server CPU per relayed update ({report['clients'] - 1} frames) | "
        f"{fan['cpu_us_per_update']} us | |",
        f"| server CPU per frame sent | {fan['cpu_us_per_frame_out']} us | |",
    ]
    idle = report.get("idle")
    if idle:
        lines += [
            f"| RSS with {idle['sockets']} idle sockets ({idle['flows']} flows) | "
            f"{idle['rss_with_sockets_kb'] / 1024:.1f} MB | < 150 MB |",
            f"| RSS before them (documents loaded) | {idle['rss_before_kb'] / 1024:.1f} MB | |",
            f"| memory per idle socket | {idle['kb_per_socket']} KB | |",
            f"| CPU with {idle['sockets']} idle sockets | {idle['idle_cpu_cores']} cores | |",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
