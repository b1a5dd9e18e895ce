"""Debian's HAProxy in front of several appliance processes, as docs/operations.md
("Several processes behind one address") configures it: the tested configuration.

The live-editing routes (`/api/v1/flows/{id}/sync` and `/presence`) are hashed on the flow id
(the fifth field of the path: not the whole URI, whose `?token=` differs per editor) to one
process, so every editor of a flow meets the same in-memory document and presence board
(consistent hashing: a process that goes down moves only its own flows); everything else goes
to the process with the fewest connections. Each process is health-checked on `/readyz` every
500 ms and taken out after two failures; a request refused by a process that just died is sent
on to another one.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

HAPROXY = "/usr/sbin/haproxy"
CHECK_INTERVAL_MS = 500
CHECK_FALL = 2


def haproxy_path() -> str | None:
    return shutil.which("haproxy") or (HAPROXY if Path(HAPROXY).exists() else None)


def config(port: int, backends: list[tuple[str, int]], stats_socket: Path) -> str:
    """The configuration of docs/operations.md for `backends` [(name, port)]."""
    servers = "\n".join(
        f"    server {name} 127.0.0.1:{backend_port} check inter {CHECK_INTERVAL_MS}ms "
        f"fall {CHECK_FALL} rise 2" for name, backend_port in backends)
    return f"""global
    maxconn 2000
    stats socket {stats_socket} mode 600 level admin

defaults
    mode http
    # Connections to the processes are kept open and reused (HAProxy's default keep-alive with
    # `http-reuse safe`): a new connection per request (`option http-server-close`) cost each
    # GET ~80 µs of HAProxy's CPU and ~60 µs of the process's (bench.scaleout_compare).
    http-reuse safe
    # A request whose process refuses the connection (it just died) is sent to another one:
    # clients see no error in the second before the health checks take it out.
    retries 3
    option redispatch 1
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h

frontend appliance
    bind 127.0.0.1:{port}
    acl live path_reg ^/api/v1/flows/[^/]+/(sync|presence)$
    use_backend live if live
    default_backend api

backend api
    balance leastconn
    option httpchk GET /readyz
{servers}

backend live
    balance hash path,field(5,/)
    hash-type consistent
    option httpchk GET /readyz
{servers}
"""


class HaProxy:
    """One haproxy process in the foreground (`-db`), stopped by `stop()`."""

    def __init__(self, workdir: Path, port: int, backends: list[tuple[str, int]]) -> None:
        binary = haproxy_path()
        if binary is None:
            raise RuntimeError("haproxy is not installed (Debian package haproxy)")
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config_path = workdir / "haproxy.cfg"
        self.stats_socket = workdir / "haproxy.sock"
        self.config_path.write_text(config(port, backends, self.stats_socket))
        check = subprocess.run([binary, "-c", "-f", str(self.config_path)],
                               capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration: {check.stdout}"
                               f"{check.stderr}")
        self.log_path = workdir / "haproxy.log"
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen([binary, "-db", "-f", str(self.config_path)],
                                          stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def running(self) -> bool:
        return self._proc.poll() is None

    def server_states(self, backend: str = "api") -> dict[str, str]:
        """{server name: UP/DOWN/...} of `backend`, from the stats socket."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.stats_socket))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        lines = data.decode().splitlines()
        header = lines[0].lstrip("# ").split(",")
        states = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == backend and row.get("svname") not in ("FRONTEND", "BACKEND"):
                states[row["svname"]] = row["status"]
        return states


def wait_until(predicate: object, timeout_s: float, interval_s: float = 0.05) -> float:
    """Seconds until `predicate()` held (raises TimeoutError after `timeout_s`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(interval_s)
    raise TimeoutError(f"not within {timeout_s} s")
