"""Connection exhaustion against the real server process (issue 12): 320 idle sockets under a
300-descriptor limit once stopped `/healthz` for good (every `accept()` failed with EMFILE and
nothing ever closed them).

The server runs as `python -m scaiflow_box serve` with its open-file limit set to 512 (a
tighter box than any real install; the systemd unit allows 65,536). The test holds 1,000 idle
connections and 200 slowloris clients (one header byte a second) on it, each reconnecting a
few seconds after the server closes it, as attack tools do (they run in a process of their
own, so that their work does not count in the probes' latency), and meanwhile opens a fresh
connection for every probe: `GET /healthz` and an authenticated `GET /api/v1/flows/{id}`
must answer 200 within 100 ms. Slow clients that keep their place are answered 408 by the
header-read timeout, and the log must show no `accept()` failure.

Marked `load` (about 15 s); it runs in `make test`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import hello_content

pytestmark = pytest.mark.load

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVER_FILE_LIMIT = 512
IDLE_CLIENTS = 1_000
SLOWLORIS_CLIENTS = 200
PROBES = 30
HEADER_TIMEOUT_S = 3
KEEPALIVE_TIMEOUT_S = 5
RECONNECT_AFTER_S = 5.0
BUDGET_MS = 100.0
# Probes over ~8 s: past the header timeout and a round of reconnections.
PROBE_INTERVAL_S = 0.25


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCAIFLOW_", "SCAIKEY_", "SCAIGRID_"))}
    env.update(SCAIFLOW_DATA_DIR=str(data_dir), SCAIFLOW_ENV_FILE="",
               SCAIFLOW_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT_S),
               SCAIFLOW_KEEPALIVE_TIMEOUT_SECONDS=str(KEEPALIVE_TIMEOUT_S))
    return env


def _cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "scaiflow_box", *args], env=_env(data_dir),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _limit_open_files() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_FILE_LIMIT, SERVER_FILE_LIMIT))


@pytest.fixture
def own_file_limit() -> Iterator[None]:
    """The test itself holds ~1,300 sockets: raise its soft limit within the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = IDLE_CLIENTS + SLOWLORIS_CLIENTS + 300
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard open-file limit ({hard}) is below the {needed} sockets needed")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@dataclass
class Served:
    url: str
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes]


@pytest.fixture
def server(tmp_path: Path, own_file_limit: None) -> Iterator[Served]:
    data_dir = tmp_path / "data"
    _cli(data_dir, "init")
    port = _free_port()
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scaiflow_box", "serve", "--port", str(port)],
            env=_env(data_dir), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_limit_open_files)
    try:
        yield Served(f"http://127.0.0.1:{port}", data_dir, log_path, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def _wait_ready(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            try:
                async with session.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.05)
    pytest.fail(f"server not ready:\n{log_path.read_text()}")


@dataclass
class Attack:
    """What the attacking clients saw."""

    port: int
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    connected: set[int] = field(default_factory=set)  # clients connected at least once
    connects: int = 0
    closed_by_server: int = 0
    answered_408: int = 0
    connect_errors: int = 0

    async def _open(self, client: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while True:
            try:
                opened = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                self.connect_errors += 1
                await asyncio.sleep(RECONNECT_AFTER_S * random.uniform(0.5, 1.5))
                continue
            self.connects += 1
            self.connected.add(client)
            return opened

    async def idle(self, client: int) -> None:
        """Connect and send nothing; reconnect a second after the server hangs up."""
        while not self.stop.is_set():
            reader, writer = await self._open(client)
            try:
                await reader.read()  # returns at EOF
                self.closed_by_server += 1
            except OSError:
                self.closed_by_server += 1
            finally:
                writer.close()
            await asyncio.sleep(RECONNECT_AFTER_S * random.uniform(0.5, 1.5))

    async def slowloris(self, client: int) -> None:
        """Send a request's headers one byte a second, never finishing them."""
        header = b"GET /healthz HTTP/1.1\r\nHost: box\r\nX-Padding: " + b"a" * 4000
        while not self.stop.is_set():
            reader, writer = await self._open(client)
            answer = asyncio.create_task(reader.read(64))
            try:
                for byte in header:
                    writer.write(bytes([byte]))
                    done, _ = await asyncio.wait([answer], timeout=1.0)
                    if done:
                        break
                first = await answer
                if first.startswith(b"HTTP/1.1 408"):
                    self.answered_408 += 1
                self.closed_by_server += 1
            except OSError:
                self.closed_by_server += 1
            finally:
                answer.cancel()
                writer.close()
            await asyncio.sleep(RECONNECT_AFTER_S * random.uniform(0.5, 1.5))


    def counts(self) -> dict[str, int]:
        return {"connects": self.connects, "closed_by_server": self.closed_by_server,
                "answered_408": self.answered_408, "connect_errors": self.connect_errors}

    async def run(self, connected: Callable[[], None]) -> None:
        tasks = [asyncio.create_task(self.idle(n)) for n in range(IDLE_CLIENTS)]
        tasks += [asyncio.create_task(self.slowloris(IDLE_CLIENTS + n))
                  for n in range(SLOWLORIS_CLIENTS)]
        while len(self.connected) < IDLE_CLIENTS + SLOWLORIS_CLIENTS:
            await asyncio.sleep(0.05)
        connected()
        while not self.stopped.is_set():
            await asyncio.sleep(0.05)
        self.stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def attack(port: int, messages: multiprocessing.queues.Queue[object],
           stop: multiprocessing.synchronize.Event) -> None:
    """The attacking clients, in a process of their own (multiprocessing's spawn)."""
    clients = Attack(port)
    watcher = threading.Thread(target=lambda: (stop.wait(), clients.stopped.set()),
                               daemon=True)
    watcher.start()
    asyncio.run(clients.run(lambda: messages.put("connected")))
    messages.put(clients.counts())


async def _probe(url: str, headers: dict[str, str] | None = None) -> tuple[float, int, bytes]:
    """One request on a fresh connection (as a health checker makes them): ms, status, body."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=3)) as session:
        started = time.perf_counter()
        async with session.get(url, headers=headers) as response:
            body = await response.read()
        return (time.perf_counter() - started) * 1000, response.status, body


def _figures(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return (f"{name}: median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
            f"max {ordered[-1]:.1f} ms")


async def test_health_and_reads_stay_fast_while_idle_and_slowloris_clients_hang_on(
        server: Served) -> None:
    url, log_path, proc = server.url, server.log_path, server.proc
    await _wait_ready(url, proc, log_path)
    token = _cli(server.data_dir, "token", "mint", "--sub", "usr_operator",
                 "--tenant", "tnt_local").strip()
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as session:
        async with session.post(url + "/api/v1/flows",
                                json={"name": "probe", "content": hello_content()}) as resp:
            assert resp.status == 201
            flow_id = (await resp.json())["id"]

    # The same probes without the attack: this machine's own noise, for the figures.
    quiet_health: list[float] = []
    quiet_reads: list[float] = []
    for _ in range(PROBES // 3):
        quiet_health.append((await _probe(url + "/healthz"))[0])
        quiet_reads.append((await _probe(f"{url}/api/v1/flows/{flow_id}", auth))[0])

    context = multiprocessing.get_context("spawn")
    messages: multiprocessing.queues.Queue[object] = context.Queue()
    stop = context.Event()
    attacker = context.Process(target=attack, args=(int(url.rsplit(":", 1)[1]), messages, stop))
    attacker.start()
    loop = asyncio.get_running_loop()
    try:
        assert await loop.run_in_executor(None, messages.get, True, 60) == "connected"
        await asyncio.sleep(0.5)
        health: list[float] = []
        reads: list[float] = []
        for _ in range(PROBES):
            elapsed, status, body = await _probe(url + "/healthz")
            assert (status, body) == (200, b'{"status":"ok"}')
            health.append(elapsed)
            elapsed, status, body = await _probe(f"{url}/api/v1/flows/{flow_id}", auth)
            assert status == 200 and flow_id.encode() in body
            reads.append(elapsed)
            await asyncio.sleep(PROBE_INTERVAL_S)
    finally:
        stop.set()
        counts = await loop.run_in_executor(None, messages.get, True, 60)
        attacker.join(timeout=30)
    assert isinstance(counts, dict)
    assert counts["answered_408"] > 0, counts  # slow clients that kept their place

    figures = "\n".join([
        f"server open-file limit {SERVER_FILE_LIMIT}; {IDLE_CLIENTS} idle + "
        f"{SLOWLORIS_CLIENTS} slowloris clients: {counts['connects']} connections made, "
        f"{counts['closed_by_server']} closed by the server ({counts['answered_408']} of them "
        f"with a 408), {counts['connect_errors']} connect errors",
        _figures("GET /healthz (fresh connection each)", health),
        _figures("authenticated GET /api/v1/flows/{id} (fresh connection each)", reads),
        _figures("without the attack: GET /healthz", quiet_health),
        _figures("without the attack: authenticated GET", quiet_reads)])
    print("\n" + figures)
    assert statistics.median(health) < BUDGET_MS and statistics.median(reads) < BUDGET_MS, \
        figures
    # The tail within the budget too, unless this machine is that slow without the attack
    # (other test processes share its two cores): then within four times its own quiet tail.
    for attacked, quiet in ((health, quiet_health), (reads, quiet_reads)):
        allowed = max(BUDGET_MS, 4 * sorted(quiet)[-1])
        assert sorted(attacked)[int(PROBES * 0.9)] < allowed, figures
    log = log_path.read_text()
    assert "out of system resource" not in log and "Too many open files" not in log, log
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log_path.read_text()

