"""`POST /flows/compile` and `POST /flows/import` under load (issue 16).

The server's CPU per request (8 connections, one core) is compared with what the compiler
library itself takes for the same work, measured in this process: the difference is what
the HTTP path adds (parsing the body, validating it, serializing the answer). The import runs
first in a fresh server, so the peak RSS read after it is the import's.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bench.compiler_bench import make_flow
from bench.measure import LoadSettings, Measurement, measure
from bench.processes import appliance, init_data_dir, mint_token
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
    idle_rss_kb: int
    import_peak_rss_kb: int  # VmHWM after the import runs (fresh server, nothing else ran)
    peak_rss_kb: int  # VmHWM after the compile runs too

    @property
    def compile_overhead(self) -> float:
        """Server CPU per compile / the library's compile time."""
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


def run_compiler(workdir: Path, settings: LoadSettings) -> CompilerRun:
    content = make_flow(NODES)
    manifest = compile_flow(content, "yaml").body
    if manifest is None:
        raise RuntimeError("the bench flow does not compile")
    compile_body = workdir / "compile-body.json"
    compile_body.write_text(json.dumps({"content": content, "format": "yaml"}))
    import_body = workdir / "import-body.json"
    import_body.write_text(json.dumps({"yaml": manifest}))
    library_compile = _median_ms(lambda: compile_flow(content, "yaml"))
    library_import = _median_ms(lambda: _import_as_the_endpoint_does(manifest), repeat=5)
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
        base = server.base_url
        imported = measure(server, base + "/api/v1/flows/import", "post",
                           [token, str(import_body)], load)
        import_peak = server.memory_kb()["VmHWM"]
        compiled = measure(server, base + "/api/v1/flows/compile", "post",
                           [token, str(compile_body)], load)
        peak = server.memory_kb()["VmHWM"]
    return CompilerRun(nodes=len(content["nodes"]),
                       compile_body_bytes=compile_body.stat().st_size,
                       import_body_bytes=import_body.stat().st_size,
                       library_compile_ms=library_compile, library_import_ms=library_import,
                       compile=compiled, import_=imported, idle_rss_kb=idle,
                       import_peak_rss_kb=import_peak, peak_rss_kb=peak)
