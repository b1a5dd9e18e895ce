"""`POST /flows/compile` and `POST /flows/import` under load (issue 16).

The server's CPU per request is compared with what the compiler library itself takes for the
same work, measured in this process: the difference is what the HTTP path adds (parsing the
body, validating it, serializing the answer). Two figures:

- at 8 connections (wrk): the server's CPU over the run, from idle to idle, per completed
  request. Requests still running when wrk stops are charged but not counted, so this is an
  upper bound (by at most 8 requests' work over the run's count);
- one request at a time (N requests after the server went idle): exact.

The import runs first in a fresh server, so the peak RSS read after it is the import's.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bench.compiler_bench import make_flow
from bench.measure import LoadSettings, Measurement, accounted
from bench.processes import (
    REPO_ROOT,
    ServerProcess,
    appliance,
    init_data_dir,
    mint_token,
    pinned,
)
from bench.wrk import WrkResult, run_wrk
from scaiflow_box.compiler.emit_yaml import compile_flow
from scaiflow_box.compiler.importer import import_manifest
from scaiflow_box.gc_pause import gc_paused

NODES = 500
CONNECTIONS = 8
MIN_SECONDS = 10


@dataclass
class CompilerRun:
    nodes: int
    compile_body_bytes: int
    import_body_bytes: int
    library_compile_ms: float
    library_import_ms: float
    compile: Measurement
    import_: Measurement
    compile_alone_ms: float  # server CPU per request, one request at a time
    import_alone_ms: float
    idle_rss_kb: int
    import_peak_rss_kb: int  # VmHWM after the import runs (fresh server, nothing else ran)
    peak_rss_kb: int  # VmHWM after the compile runs too

    @property
    def compile_overhead(self) -> float:
        """Server CPU per compile at 8 connections / the library's compile time."""
        return self.compile.cpu_us_per_request / 1000 / self.library_compile_ms


def _median_ms(fn: Callable[[], object], repeat: int = 9) -> float:
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        fn()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


def _import_as_the_endpoint_does(text: str) -> object:
    with gc_paused():
        return import_manifest(text)


def library_ms(compile_body: Path, import_body: Path) -> tuple[float, float]:
    """(compile, import) CPU medians of the library alone, in this process."""
    content = json.loads(compile_body.read_text())["content"]
    manifest = json.loads(import_body.read_text())["yaml"]
    return (_median_ms(lambda: compile_flow(content, "yaml")),
            _median_ms(lambda: _import_as_the_endpoint_does(manifest), repeat=7))


def _pinned_library_ms(compile_body: Path, import_body: Path, cpu: int | None
                       ) -> tuple[float, float]:
    """The library's times measured on the server's CPU, in a process of their own: on a
    shared machine the server's core is not as quiet as the others, and a ratio of two
    timings is only fair if both ran there."""
    code = ("import sys, json; from bench.compiler_load import library_ms; "
            "print(json.dumps(library_ms(*map(__import__('pathlib').Path, sys.argv[1:]))))")
    done = subprocess.run(pinned([sys.executable, "-c", code, str(compile_body),
                                  str(import_body)], cpu),
                          cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                          timeout=300)
    compile_ms, import_ms = json.loads(done.stdout)
    return float(compile_ms), float(import_ms)


def _settle(server: ServerProcess, timeout_s: float = 60.0) -> None:
    """Wait until the server is idle (what earlier requests left running has finished)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = server.cpu_seconds()
        time.sleep(0.3)
        if server.cpu_seconds() - before < 0.02:
            return


def _post(url: str, token: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"POST {url} answered {response.status}")


def _alone_ms(server: ServerProcess, url: str, token: str, body: Path, count: int) -> float:
    """Server CPU per request, `count` requests one at a time from an idle server."""
    data = body.read_bytes()
    _post(url, token, data)
    _settle(server)
    before = server.cpu_seconds()
    for _ in range(count):
        _post(url, token, data)
    _settle(server)
    return (server.cpu_seconds() - before) / count * 1000


def _loaded(server: ServerProcess, url: str, args: list[str], load: LoadSettings
            ) -> Measurement:
    """One wrk run at `load.connections`, its CPU counted from idle to idle."""
    run_wrk(url, "post", args, duration_s=load.warmup_s, connections=load.connections,
            cpu=load.pins.load)
    _settle(server)
    def run_then_settle() -> WrkResult:
        result = run_wrk(url, "post", args, duration_s=load.duration_s,
                         connections=load.connections, cpu=load.pins.load)
        _settle(server)
        return result

    result, server_cpu, background = accounted(server, run_then_settle)
    return Measurement(wrk=result, rps=result.rps, completed=result.requests,
                       server_cpu_s=server_cpu, background_cores=background)


def run_compiler(workdir: Path, settings: LoadSettings) -> CompilerRun:
    content = make_flow(NODES)
    manifest = compile_flow(content, "yaml").body
    if manifest is None:
        raise RuntimeError("the bench flow does not compile")
    compile_body = workdir / "compile-body.json"
    compile_body.write_text(json.dumps({"content": content, "format": "yaml"}))
    import_body = workdir / "import-body.json"
    import_body.write_text(json.dumps({"yaml": manifest}))
    library_compile, library_import = _pinned_library_ms(compile_body, import_body,
                                                         settings.pins.server)
    # A request takes tens of milliseconds of CPU: runs shorter than 10 s count too few.
    load = replace(settings, connections=CONNECTIONS,
                   duration_s=max(settings.duration_s, MIN_SECONDS),
                   warmup_s=max(settings.warmup_s, 2))
    data_dir = workdir / "compiler-data"
    init_data_dir(data_dir)
    token = mint_token(data_dir)
    with appliance(data_dir, cpu=settings.pins.server,
                   log_path=workdir / "appliance-compiler.log") as server:
        server.start("/healthz")
        time.sleep(1.0)
        idle = server.memory_kb()["VmRSS"]
        import_url = server.base_url + "/api/v1/flows/import"
        compile_url = server.base_url + "/api/v1/flows/compile"
        imported = _loaded(server, import_url, [token, str(import_body)], load)
        import_peak = server.memory_kb()["VmHWM"]
        compiled = _loaded(server, compile_url, [token, str(compile_body)], load)
        peak = server.memory_kb()["VmHWM"]
        import_alone = _alone_ms(server, import_url, token, import_body, 10)
        compile_alone = _alone_ms(server, compile_url, token, compile_body, 30)
    return CompilerRun(nodes=len(content["nodes"]),
                       compile_body_bytes=compile_body.stat().st_size,
                       import_body_bytes=import_body.stat().st_size,
                       library_compile_ms=library_compile, library_import_ms=library_import,
                       compile=compiled, import_=imported, compile_alone_ms=compile_alone,
                       import_alone_ms=import_alone, idle_rss_kb=idle,
                       import_peak_rss_kb=import_peak, peak_rss_kb=peak)
