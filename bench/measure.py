"""Measuring one server under wrk load: what a run cost the server, and how noisy it was.

Every measured run records the CPU time the server process spent (from /proc/PID/stat) and the
CPU that other processes on the box used meanwhile (/proc/stat minus the server and wrk). CPU
per request is much steadier than req/s on a shared box, and a run that other work disturbed
is repeated.
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from bench.processes import ServerProcess
from bench.wrk import WrkResult, run_wrk

R = TypeVar("R")


class Disturbable(Protocol):
    """A run that knows how much CPU other processes used during it."""

    @property
    def background_cores(self) -> float: ...


D = TypeVar("D", bound=Disturbable)


@dataclass(frozen=True)
class Pins:
    """CPU for the server under test and CPU for the load generator (None: not pinned)."""

    server: int | None
    load: int | None


@dataclass(frozen=True)
class LoadSettings:
    duration_s: int
    warmup_s: int
    connections: int
    pins: Pins
    rounds: int = 1
    # A run during which other processes used more CPU than this is repeated (up to
    # `retries` times) and the least disturbed attempt is kept.
    noise_cores: float = 0.15
    retries: int = 2


@dataclass(frozen=True)
class Measurement:
    """One measured wrk run and what it cost the server."""

    wrk: WrkResult
    rps: float  # for PUT: acknowledged versions per second of the load window
    server_cpu_s: float
    completed: int  # requests the rate is computed from
    background_cores: float  # CPU used by other processes on the box during the run

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.completed * 1e6 if self.completed else 0.0

    @property
    def latency_ms(self) -> dict[str, float]:
        return self.wrk.latency_ms

    def as_dict(self) -> dict[str, object]:
        return {**self.wrk.as_dict(), "rps": round(self.rps, 1),
                "server_cpu_s": round(self.server_cpu_s, 2),
                "server_cpu_us_per_request": round(self.cpu_us_per_request, 1),
                "background_cores": round(self.background_cores, 2)}


def _busy_cpu_seconds() -> float:
    """CPU time the whole machine spent busy (all CPUs, including steal), from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (
            int(v) for v in stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    """CPU time of this process's reaped children: wrk, once it has been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def accounted(server: ServerProcess, run: Callable[[], R]) -> tuple[R, float, float]:
    """(run's result, the server's CPU seconds, other processes' CPU in cores) for one run."""
    busy, children, own = _busy_cpu_seconds(), _children_cpu_seconds(), server.cpu_seconds()
    started = time.monotonic()
    result = run()
    wall = time.monotonic() - started
    server_cpu = server.cpu_seconds() - own
    load_generator = _children_cpu_seconds() - children
    others = _busy_cpu_seconds() - busy - server_cpu - load_generator
    return result, server_cpu, max(0.0, others / wall)


def least_disturbed(attempt: Callable[[], D], settings: LoadSettings) -> tuple[D, list[D]]:
    """Run `attempt` until one is undisturbed by other processes (or retries run out);
    (the least disturbed attempt, all attempts)."""
    attempts = [attempt()]
    while (attempts[-1].background_cores > settings.noise_cores
           and len(attempts) <= settings.retries):
        attempts.append(attempt())
    return min(attempts, key=lambda a: a.background_cores), attempts


def measure(server: ServerProcess, url: str, scenario: str, script_args: list[str],
             settings: LoadSettings) -> Measurement:
    if settings.warmup_s > 0:
        run_wrk(url, scenario, script_args, duration_s=settings.warmup_s,
                connections=settings.connections, cpu=settings.pins.load)

    def attempt() -> Measurement:
        result, server_cpu, background = accounted(server, lambda: run_wrk(
            url, scenario, script_args, duration_s=settings.duration_s,
            connections=settings.connections, cpu=settings.pins.load))
        return Measurement(wrk=result, rps=result.rps, completed=result.requests,
                           server_cpu_s=server_cpu, background_cores=background)

    return least_disturbed(attempt, settings)[0]


def median_run(runs: list[Measurement]) -> Measurement:
    """The run with the median req/s (its latencies belong to the same run)."""
    ordered = sorted(runs, key=lambda m: m.rps)
    return ordered[(len(ordered) - 1) // 2]


def spread(values: list[float]) -> str:
    """`min-max` of per-round figures, for the report."""
    if len(values) < 2:
        return f"{values[0]:,.0f}" if values else "-"
    return f"{min(values):,.0f}-{max(values):,.0f} (median {statistics.median(values):,.0f})"
