"""The servers under test, each in its own (optionally CPU-pinned) subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
OPERATOR = "usr_operator"
LOCAL_TENANT = "tnt_local"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    """`taskset -c CPU argv...`: taskset execs argv, so the pid stays the server's."""
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else argv


def read_memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a live process, in KiB."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def read_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """A server subprocess: start, wait for readiness, read its memory, stop gracefully."""

    def __init__(self, name: str, argv: list[str], *, port: int, env: dict[str, str],
                 log_path: Path, cpu: int | None) -> None:
        self.name = name
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._argv = pinned(argv, cpu)
        self._env = env
        self._log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._proc.pid

    def start(self, ready_path: str, timeout_s: float = 60.0) -> None:
        with open(self._log_path, "ab") as log:
            self._proc = subprocess.Popen(self._argv, env=self._env, cwd=REPO_ROOT,
                                          stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self._proc.returncode} during start-up;"
                                   f" see {self._log_path}")
            try:
                with urllib.request.urlopen(self.base_url + ready_path, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s; see {self._log_path}")

    def memory_kb(self) -> dict[str, int]:
        return read_memory_kb(self.pid)

    def cpu_seconds(self) -> float:
        return read_cpu_seconds(self.pid)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM and wait (SIGKILL after the timeout); the exit code, or None if killed."""
        proc = self._proc
        if proc is None:
            return None
        self._proc = None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# -- the appliance -----------------------------------------------------------------------
def appliance_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCAIFLOW_", "SCAIKEY_"))}
    env.update(SCAIFLOW_DATA_DIR=str(data_dir), SCAIFLOW_ENV_FILE="")
    return env


def cli(data_dir: Path, *args: str) -> str:
    """Run a `scaiflow_box` sub-command; its stdout."""
    done = subprocess.run([sys.executable, "-m", "scaiflow_box", *args],
                          env=appliance_env(data_dir), cwd=REPO_ROOT, capture_output=True,
                          text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"scaiflow_box {' '.join(args)} exited {done.returncode}:"
                           f" {done.stderr.strip()}")
    return done.stdout


def init_data_dir(data_dir: Path) -> None:
    cli(data_dir, "init")


def mint_token(data_dir: Path, sub: str = OPERATOR, tenant: str = LOCAL_TENANT) -> str:
    return cli(data_dir, "token", "mint", "--sub", sub, "--tenant", tenant,
               "--ttl", "86400").strip()


def appliance(data_dir: Path, *, cpu: int | None, log_path: Path,
              settings: dict[str, str] | None = None) -> ServerProcess:
    port = free_port()
    return ServerProcess("appliance",
                         [sys.executable, "-m", "scaiflow_box", "serve", "--port", str(port)],
                         port=port, env={**appliance_env(data_dir), **(settings or {})},
                         log_path=log_path, cpu=cpu)


def ceiling(body_file: Path, *, cpu: int | None, log_path: Path) -> ServerProcess:
    port = free_port()
    return ServerProcess("ceiling",
                         [sys.executable, "-m", "bench.ceiling", "--port", str(port),
                          "--body", str(body_file)],
                         port=port, env=dict(os.environ), log_path=log_path, cpu=cpu)


def request_json(method: str, url: str, token: str, body: Any | None = None,
                 timeout_s: float = 30.0) -> tuple[int, bytes]:
    """One small HTTP call for set-up and checks (not for load)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {token}"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
