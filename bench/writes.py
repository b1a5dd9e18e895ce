"""Reads under a write trickle (issue 16): GETs by id spread over every flow of a tenant, alone
and while a second load generator saves new content to random flows of the same tenant at
about 200 writes/s. The ratio of the two read rates is what the writes cost the readers:
the server's CPU they use, and the cached reads they make stale.

Last, the same trickle runs with no reads, and the server's CPU over it is what the saves
cost on their own. At that rate each save commits on its own (a batch of one) on a core that
idles between saves, so this is the price of a lone save woken from idle. Beside the reads a
save costs somewhat less (the core is awake and busy), but of the same order: this share of
the core is what the ratio pays for.
"""

from __future__ import annotations

import json
import shutil
import statistics
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import pagecache
from bench.content import BENCH_MARKER, bench_content
from bench.measure import LoadSettings, Measurement, measure
from bench.processes import appliance
from bench.seed import operator_box
from bench.wrk import WrkResult, run_wrk

FLOWS_PATH = "/api/v1/flows"
WRITE_CONNECTIONS = 16  # enough to hold the rate while a save takes up to 80 ms


@dataclass
class WritesRun:
    flows: int
    target_writes_per_s: float
    quiet: list[Measurement] = field(default_factory=list)
    under_writes: list[Measurement] = field(default_factory=list)
    trickles: list[WrkResult] = field(default_factory=list)
    saves_alone: WrkResult | None = None  # the trickle with no reads beside it
    saves_alone_cpu_s: float = 0.0  # the server's CPU over that run
    peak_rss_kb: int = 0

    @staticmethod
    def _median_rps(runs: list[Measurement]) -> float:
        return statistics.median(m.rps for m in runs) if runs else 0.0

    @property
    def ratio(self) -> float:
        quiet = self._median_rps(self.quiet)
        return self._median_rps(self.under_writes) / quiet if quiet else 0.0

    @property
    def cpu_ratio(self) -> float:
        """Reads per second of server CPU under writes / alone: the same comparison on a
        machine where other work takes the server's core now and then."""
        def reads_per_cpu_s(runs: list[Measurement]) -> float:
            return statistics.median(m.completed / m.server_cpu_s for m in runs
                                     if m.server_cpu_s) if runs else 0.0
        quiet = reads_per_cpu_s(self.quiet)
        return reads_per_cpu_s(self.under_writes) / quiet if quiet else 0.0

    @property
    def writes_per_s(self) -> float:
        rates = [t.ok / t.duration_s for t in self.trickles if t.duration_s]
        return statistics.median(rates) if rates else 0.0

    @property
    def write_latency_ms(self) -> tuple[float, float]:
        """(median of the trickles' p50, highest p99) of a save, in ms."""
        if not self.trickles:
            return 0.0, 0.0
        return (statistics.median(t.latency_ms.get("p50", 0.0) for t in self.trickles),
                max(t.latency_ms.get("p99", 0.0) for t in self.trickles))

    @property
    def failed_writes(self) -> int:
        runs = [*self.trickles, *([self.saves_alone] if self.saves_alone else [])]
        return sum(t.bad + t.error_count for t in runs)

    @property
    def cpu_us_per_lone_save(self) -> float:
        """Server CPU per save, saves alone at the trickle's rate (each its own commit)."""
        saves = self.saves_alone.ok if self.saves_alone else 0
        return self.saves_alone_cpu_s / saves * 1e6 if saves else 0.0

    @property
    def lone_saves_share(self) -> float:
        """The share of the server's core the saves alone used at the trickle's rate."""
        seconds = self.saves_alone.duration_s if self.saves_alone else 0.0
        return self.saves_alone_cpu_s / seconds if seconds else 0.0


class _Trickle(threading.Thread):
    """The write load generator, running beside a measured read run."""

    def __init__(self, url: str, args: list[str], seconds: int, cpu: int | None) -> None:
        super().__init__(name="write-trickle", daemon=True)
        self._url, self._args, self._seconds, self._cpu = url, args, seconds, cpu
        self.result: WrkResult | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = run_wrk(self._url, "put_trickle", self._args,
                                  duration_s=self._seconds, connections=WRITE_CONNECTIONS,
                                  cpu=self._cpu)
        except BaseException as exc:  # reported by the caller
            self.error = exc


def run_writes(workdir: Path, settings: LoadSettings, *, flows: int,
               writes_per_s: float, rounds: int) -> WritesRun:
    data_dir = workdir / "writes"
    db_path = data_dir / "scaiflow.db"
    flow_ids, token = operator_box(data_dir, flows)
    ids_file = workdir / "writes-ids.txt"
    ids_file.write_text("\n".join(flow_ids) + "\n")
    template = workdir / "writes-body.json"
    template.write_text(json.dumps({"content": bench_content(BENCH_MARKER)}))
    # A second wrk on the box is this run's own load, not noise: no retries.
    quiet_settings = settings
    busy_settings = replace(settings, retries=0, warmup_s=0)
    run = WritesRun(flows=flows, target_writes_per_s=writes_per_s)
    try:
        pagecache.warm(db_path)
        with appliance(data_dir, cpu=settings.pins.server,
                       log_path=workdir / "appliance-writes.log") as server:
            server.start("/healthz")
            base = server.base_url
            read_args = [token, str(ids_file), FLOWS_PATH + "/"]
            write_args = [token, str(ids_file), FLOWS_PATH + "/", str(template),
                          f"{writes_per_s:g}"]
            for _ in range(rounds):
                run.quiet.append(measure(server, base + "/", "get_random", read_args,
                                         quiet_settings))
                trickle = _Trickle(base + "/", write_args,
                                   settings.warmup_s + settings.duration_s + 1,
                                   settings.pins.load)
                trickle.start()
                if settings.warmup_s:
                    run_wrk(base + "/", "get_random", read_args, duration_s=settings.warmup_s,
                            connections=settings.connections, cpu=settings.pins.load)
                run.under_writes.append(measure(server, base + "/", "get_random", read_args,
                                                busy_settings))
                trickle.join()
                if trickle.error is not None or trickle.result is None:
                    raise RuntimeError(f"the write trickle failed: {trickle.error}")
                run.trickles.append(trickle.result)
            before = server.cpu_seconds()
            run.saves_alone = run_wrk(base + "/", "put_trickle", write_args,
                                      duration_s=settings.duration_s,
                                      connections=WRITE_CONNECTIONS, cpu=settings.pins.load)
            run.saves_alone_cpu_s = server.cpu_seconds() - before
            run.peak_rss_kb = server.memory_kb()["VmHWM"]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return run
