"""Cold start and idle RSS of the appliance: time from exec to the first 200 on /healthz,
repeated, and the resident memory of the serving process after it has idled.

    python bench/binary_start.py dist/scaiflow-box-linux-x86_64           # the frozen binary
    python bench/binary_start.py --python .venv/bin/python                # python -m scaiflow_box
    python bench/binary_start.py dist/scaiflow-box-linux-x86_64/scaiflow-box-linux-x86_64  # onedir

Each run gets a fresh data directory initialised beforehand (so `serve` does not create the
master key and database inside the measurement), an empty environment but PATH and TMPDIR,
and is stopped with SIGTERM (its exit code is reported). For the one-file binary the RSS is
the sum of the bootloader and the Python process it starts (`--children`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def one_run(command: list[str], tmp: Path, idle_s: float) -> tuple[float, int, int]:
    data = tmp / "data"
    shutil.rmtree(data, ignore_errors=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp),
           "TMPDIR": os.environ.get("TMPDIR", "/tmp"), "SCAIFLOW_ENV_FILE": "",
           "SCAIFLOW_DATA_DIR": str(data)}
    subprocess.run([*command, "init"], env=env, check=True, capture_output=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    started = time.perf_counter()
    proc = subprocess.Popen([*command, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not healthy(url):
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited {proc.returncode}")
        if time.perf_counter() - started > 30:
            proc.kill()
            raise RuntimeError("no 200 within 30 s")
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    time.sleep(idle_s)
    rss = rss_kib(proc.pid) + sum(rss_kib(child) for child in children(proc.pid))
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    return elapsed, rss, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", nargs="?", help="the executable (else --python)")
    parser.add_argument("--python", help="run `PYTHON -m scaiflow_box` instead")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before RSS")
    args = parser.parse_args()
    if args.binary:
        command = [str(Path(args.binary).resolve())]
    elif args.python:
        command = [args.python, "-m", "scaiflow_box"]
    else:
        parser.error("name the binary or --python")
    times: list[float] = []
    rss: list[int] = []
    codes: set[int] = set()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            elapsed, kib, code = one_run(command, Path(tmp), args.idle)
            times.append(elapsed)
            rss.append(kib)
            codes.add(code)
    print(f"{' '.join(command)}: {args.runs} runs")
    print(f"  exec -> first 200 on /healthz: median {statistics.median(times) * 1000:.0f} ms, "
          f"min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    print(f"  RSS after {args.idle:g} s idle: median {statistics.median(rss) / 1024:.1f} MiB "
          f"(max {max(rss) / 1024:.1f} MiB)")
    print(f"  exit codes on SIGTERM: {sorted(codes)}")


if __name__ == "__main__":
    main()
