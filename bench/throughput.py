"""The throughput scenarios: ceiling vs authenticated GET, durable PUTs, memory, SIGTERM."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bench.content import BENCH_MARKER, bench_content
from bench.measure import (
    LoadSettings,
    Measurement,
    accounted,
    least_disturbed,
    measure,
    median_run,
)
from bench.processes import (
    ServerProcess,
    appliance,
    ceiling,
    init_data_dir,
    mint_token,
    request_json,
)
from bench.wrk import run_wrk

FLOWS_PATH = "/api/v1/flows"
# After the PUT deadline, time for the last responses to arrive before wrk stops.
PUT_DRAIN_SECONDS = 3


@dataclass(frozen=True)
class PutRun:
    measurement: Measurement
    window_s: float  # from the first connection to the deadline; 200s counted within it
    versions_stored: int  # versions added to SQLite during the run
    contiguous: bool  # seqs 1..n without gaps and the flow row points at n

    @property
    def background_cores(self) -> float:
        return self.measurement.background_cores

    @property
    def consistent(self) -> bool:
        """Every 200 is a stored version and every stored version got its 200."""
        wrk = self.measurement.wrk
        return (wrk.ok == self.versions_stored and wrk.bad == 0 and wrk.error_count == 0
                and self.contiguous)


@dataclass
class MainRun:
    ceiling_get: Measurement
    flow_get: Measurement
    flow_put: PutRun  # the reported PUT run
    put_runs: list[PutRun]  # every PUT run (warm-up and retries too): all are verified
    ceiling_rounds: list[float]
    get_rounds: list[float]
    response_bytes: int
    idle_rss_kb: int
    get_peak_rss_kb: int  # VmHWM after the GET runs
    peak_rss_kb: int  # VmHWM at the end (after the PUT runs)
    after_load_rss_kb: int
    sigterm_exit_code: int | None


def _version_stats(db_path: Path, flow_id: str) -> tuple[int, bool]:
    """(number of stored versions, whether seqs are 1..n and the flow points at n)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        count, low, high = conn.execute(
            "SELECT count(*), min(seq), max(seq) FROM flow_versions WHERE flow_id = ?",
            (flow_id,)).fetchone()
        head = conn.execute("SELECT version_seq, version FROM flows WHERE id = ?",
                            (flow_id,)).fetchone()
    finally:
        conn.close()
    contiguous = (low == 1 and high == count and head is not None and head[0] == count
                  and head[1] == f"1.0.{count - 1}")
    return int(count), contiguous


@dataclass(frozen=True)
class PutTarget:
    server: ServerProcess
    db_path: Path
    flow_id: str
    url: str
    token: str
    template: Path  # the request body with a @@N@@ placeholder


def _timed_puts(target: PutTarget, settings: LoadSettings, seconds: int) -> PutRun:
    """PUTs for `seconds`, then a drain; the versions stored meanwhile, read from SQLite."""
    before, _ = _version_stats(target.db_path, target.flow_id)
    startup_slack = 0.5
    deadline = time.time() + startup_slack + seconds
    result, server_cpu, background = accounted(target.server, lambda: run_wrk(
        target.url, "put", [target.token, str(target.template), f"{deadline:.6f}"],
        duration_s=math.ceil(startup_slack + seconds) + PUT_DRAIN_SECONDS,
        connections=settings.connections, cpu=settings.pins.load))
    after, contiguous = _version_stats(target.db_path, target.flow_id)
    window = deadline - result.started
    # The drain after the deadline is idle time, so this slightly understates background load.
    measurement = Measurement(wrk=result, rps=result.ok / window if window > 0 else 0.0,
                              completed=result.ok, server_cpu_s=server_cpu,
                              background_cores=background)
    return PutRun(measurement=measurement, window_s=window, versions_stored=after - before,
                  contiguous=contiguous)


def run_main(workdir: Path, settings: LoadSettings) -> MainRun:
    data_dir = workdir / "main-data"
    init_data_dir(data_dir)
    server = appliance(data_dir, cpu=settings.pins.server, log_path=workdir / "appliance.log")
    with server:
        server.start("/healthz")
        time.sleep(1.0)  # let start-up work (JWKS load, first checkpoint) settle
        idle_rss = server.memory_kb()["VmRSS"]
        token = mint_token(data_dir)
        status, body = request_json("POST", server.base_url + FLOWS_PATH, token,
                                    {"name": "bench", "content": bench_content()})
        if status != 201:
            raise RuntimeError(f"creating the bench flow answered {status}: {body[:300]!r}")
        flow_id = json.loads(body)["id"]
        flow_url = f"{server.base_url}{FLOWS_PATH}/{flow_id}"
        status, document = request_json("GET", flow_url, token)
        if status != 200:
            raise RuntimeError(f"GET of the bench flow answered {status}")

        # Ceiling and appliance alternate, so a burst of noise from other work on the box
        # hits both rather than one; the median round of each is reported.
        doc_file = workdir / "ceiling-doc.json"
        doc_file.write_bytes(document)
        ceiling_runs: list[Measurement] = []
        get_runs: list[Measurement] = []
        with ceiling(doc_file, cpu=settings.pins.server,
                     log_path=workdir / "ceiling.log") as bare:
            bare.start("/healthz")
            for _ in range(settings.rounds):
                ceiling_runs.append(measure(bare, bare.base_url + "/doc", "get", [token],
                                             settings))
                get_runs.append(measure(server, flow_url, "get", [token], settings))

        get_peak = server.memory_kb()["VmHWM"]
        template = workdir / "put-body.json"
        template.write_text(json.dumps({"content": bench_content(BENCH_MARKER)}))
        target = PutTarget(server=server, db_path=data_dir / "scaiflow.db", flow_id=flow_id,
                           url=flow_url, token=token, template=template)
        puts: list[PutRun] = []
        if settings.warmup_s > 0:
            puts.append(_timed_puts(target, settings, settings.warmup_s))
        flow_put, attempts = least_disturbed(
            lambda: _timed_puts(target, settings, settings.duration_s), settings)
        puts += attempts
        memory = server.memory_kb()
        exit_code = server.stop()
    return MainRun(
        ceiling_get=median_run(ceiling_runs), flow_get=median_run(get_runs),
        flow_put=flow_put, put_runs=puts,
        ceiling_rounds=[round(m.rps, 1) for m in ceiling_runs],
        get_rounds=[round(m.rps, 1) for m in get_runs], response_bytes=len(document),
        idle_rss_kb=idle_rss, get_peak_rss_kb=get_peak, peak_rss_kb=memory["VmHWM"],
        after_load_rss_kb=memory["VmRSS"], sigterm_exit_code=exit_code,
    )


