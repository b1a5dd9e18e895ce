"""Several real appliance processes behind a real HAProxy (Debian packages), on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli_process import environment, run
from tests.scaleout.haproxy import HaProxy, haproxy_path, wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, timeout_s: float = 5.0) -> tuple[int, dict[str, str]]:
    """(status, headers with lower-case names: HAProxy sends them so) of a GET without
    credentials (errors are answers too)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def process_of(headers: dict[str, str]) -> str:
    """Which process answered: request ids are a per-process prefix and a counter
    (`req_` + 8 hex digits, then 8 more)."""
    return headers["x-request-id"][:12]


@dataclass
class Appliance:
    """One `python -m scaiflow_box serve` process with its own data directory."""

    name: str
    data_dir: Path
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    prefix: str = ""

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scaiflow_box", "serve", "--port", str(self.port)],
                env=environment(self.data_dir), stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{self.port}/readyz"

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_path.read_text()
            try:
                return get(url, 1.0)[0] == 200
            except OSError:
                return False

        wait_until(ready, 60)
        self.prefix = process_of(get(f"http://127.0.0.1:{self.port}/healthz")[1])

    def kill(self) -> None:
        """kill -9: no drain, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Site:
    """Appliance processes behind HAProxy."""

    proxy: HaProxy
    appliances: list[Appliance] = field(default_factory=list)

    def by_prefix(self, prefix: str) -> Appliance:
        return next(a for a in self.appliances if a.prefix == prefix)


def _site(workdir: Path, processes: int) -> Iterator[Site]:
    if haproxy_path() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is missing on CI: .ci/run installs the Debian package haproxy")
        pytest.skip("haproxy is not installed (Debian package haproxy)")
    appliances = []
    for n in range(1, processes + 1):
        data_dir = workdir / f"p{n}"
        done = run("init", data_dir=data_dir)
        assert done.returncode == 0, done.stderr
        appliances.append(Appliance(f"p{n}", data_dir, free_port(), workdir / f"p{n}.log"))
    try:
        for appliance in appliances:
            appliance.start()
        proxy = HaProxy(workdir, free_port(), [(a.name, a.port) for a in appliances])
        site = Site(proxy, appliances)
        try:
            # Up when HAProxy answers and has seen every process healthy.
            def all_up() -> bool:
                try:
                    return len({process_of(get(proxy.url + "/healthz")[1])
                                for _ in range(8)}) == processes
                except OSError:
                    return False

            wait_until(all_up, 15, 0.2)
            yield site
        finally:
            proxy.stop()
    finally:
        for appliance in appliances:
            appliance.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two processes behind HAProxy, shared by a module's tests (which must leave both up)."""
    yield from _site(tmp_path_factory.mktemp("site"), 2)


@pytest.fixture
def own_site(tmp_path: Path) -> Iterator[Site]:
    """Two processes behind HAProxy for one test, which may kill them."""
    yield from _site(tmp_path, 2)
