"""Drive a server with wrk (a C load generator with Lua scripting) and parse its summary.

A Python load generator cannot saturate even a one-core aiohttp server on a 2-core box: it
spends more CPU per request than the server does, so it measures itself. wrk (one thread,
pinned to the other core) spends a few microseconds per request.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LUA_DIR = Path(__file__).with_name("lua")
INSTALL_HINT = "apt-get update && apt-get install -y wrk"
_MARKER = "WRK_JSON "


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no summary."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes_read: int
    errors: dict[str, int]
    latency_ms: dict[str, float]
    ok: int  # 200 responses counted by a script's response() (PUT), else 0
    bad: int  # other statuses counted by response()
    started: float  # unix time at which the first thread started (scripts that record it)

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests, "duration_s": round(self.duration_s, 3),
            "rps": round(self.rps, 1), "bytes_read": self.bytes_read, "errors": self.errors,
            "latency_ms": self.latency_ms, "ok": self.ok, "bad": self.bad,
        }


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    path = wrk_path()
    if path is None:
        return "missing"
    # `wrk --version` prints its banner and exits 1.
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip() if (done.stdout or done.stderr) \
        else "unknown"


def parse_summary(stdout: str) -> WrkResult:
    for line in stdout.splitlines():
        if line.startswith(_MARKER):
            raw = json.loads(line[len(_MARKER):])
            return WrkResult(
                requests=int(raw["requests"]),
                duration_s=raw["duration_us"] / 1e6,
                bytes_read=int(raw["bytes"]),
                errors={k: int(v) for k, v in raw["errors"].items()},
                latency_ms={k: round(v / 1000.0, 3) for k, v in raw["latency_us"].items()},
                ok=int(raw["ok"]),
                bad=int(raw["bad"]),
                started=float(raw["started"]),
            )
    raise WrkError(f"wrk printed no summary line; its output was:\n{stdout}")


def run_wrk(
    url: str,
    scenario: str,
    script_args: list[str],
    *,
    duration_s: int,
    connections: int,
    cpu: int | None,
    threads: int = 1,
    timeout_s: int = 30,
) -> WrkResult:
    """Run `bench/lua/<scenario>.lua` (with the shared reporter) against `url`."""
    wrk = wrk_path()
    if wrk is None:
        raise WrkError(f"wrk is not installed; install it with: {INSTALL_HINT}")
    script = (LUA_DIR / "report.lua").read_text() + "\n" + (LUA_DIR / f"{scenario}.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix=f"bench-{scenario}-") as handle:
        handle.write(script)
        handle.flush()
        argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration_s}s",
                f"--timeout={timeout_s}s", "-s", handle.name, url, "--", *script_args]
        if cpu is not None:
            argv = ["taskset", "-c", str(cpu), *argv]
        done = subprocess.run(argv, capture_output=True, text=True, check=False,
                              timeout=duration_s + timeout_s + 30)
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip() or done.stdout}")
    return parse_summary(done.stdout)
