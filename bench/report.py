"""What bench/run.py prints and stores: budget checks, Markdown tables, the JSON record."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bench.measure import LoadSettings, Measurement, spread
from bench.processes import REPO_ROOT
from bench.scale import ScaleRun
from bench.throughput import MainRun
from bench.wrk import wrk_version

GET_RATIO_MIN = 0.50
GET_P99_MAX_MS = 20.0
PUT_RATE_MIN = 1500.0
PUT_RATE_TARGET = 3000.0  # issue 16
IDLE_RSS_MAX_MB = 120.0
SCALE_RATIO_MAX = 2.0


@dataclass(frozen=True)
class Budget:
    name: str
    target: str
    measured: str
    passed: bool


def _git(*args: str) -> str:
    """Output of a read-only git command in the repository, or "" when git is unavailable."""
    try:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=False, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def machine_info() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version(), "aiohttp": aiohttp.__version__,
            "sqlite": sqlite3.sqlite_version, "wrk": wrk_version(),
            "commit": _git("rev-parse", "--short", "HEAD") or "unknown",
            "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no"))}


def _mb(kb: int) -> float:
    return kb / 1024


def main_budgets(run: MainRun) -> list[Budget]:
    ratio = run.flow_get.rps / run.ceiling_get.rps if run.ceiling_get.rps else 0.0
    put = run.flow_put.measurement
    acked = sum(r.measurement.wrk.ok for r in run.put_runs)
    stored = sum(r.versions_stored for r in run.put_runs)
    problems = sum(r.measurement.wrk.bad + r.measurement.wrk.error_count for r in run.put_runs)
    contiguous = all(r.contiguous for r in run.put_runs)
    return [
        Budget("authenticated GET throughput", f">= {GET_RATIO_MIN:.0%} of ceiling",
               f"{ratio:.0%} ({run.flow_get.rps:,.0f} / {run.ceiling_get.rps:,.0f} req/s)",
               ratio >= GET_RATIO_MIN),
        Budget("authenticated GET p99", f"< {GET_P99_MAX_MS:.0f} ms",
               f"{run.flow_get.latency_ms['p99']:.1f} ms",
               run.flow_get.latency_ms["p99"] < GET_P99_MAX_MS),
        Budget("PUT new content (durable versions/s)", f">= {PUT_RATE_MIN:,.0f}/s",
               f"{put.rps:,.0f}/s", put.rps >= PUT_RATE_MIN),
        Budget("same, issue 16 target (64 connections)", f">= {PUT_RATE_TARGET:,.0f}/s",
               f"{put.rps:,.0f}/s", put.rps >= PUT_RATE_TARGET),
        Budget("PUT: stored versions = 200 responses", "equal, seq contiguous, no errors",
               f"{stored:,} stored / {acked:,} acked over {len(run.put_runs)} runs,"
               f" {problems} non-200 or socket errors, contiguous={contiguous}",
               all(r.consistent for r in run.put_runs)),
        Budget("idle RSS after start-up", f"< {IDLE_RSS_MAX_MB:.0f} MB",
               f"{_mb(run.idle_rss_kb):.1f} MB", _mb(run.idle_rss_kb) < IDLE_RSS_MAX_MB),
        Budget("SIGTERM after load exits 0", "exit code 0", str(run.sigterm_exit_code),
               run.sigterm_exit_code == 0),
    ]


SCALE_LABELS = {"get": "GET /api/v1/flows/{id} (random id)",
                "list": "GET /api/v1/flows (super admin)",
                "list_member": "GET /api/v1/flows (member who can see 100 flows)"}
# What a large-DB row is compared with in the small DB (the heavy member owns nothing there).
SMALL_BASELINE = {"list_heavy_member": "list_member"}
# Reported, not budgeted. The same GETs from a fresh process with the DB file out of the OS
# page cache (the budget is about the amount of data, not a cold disk); and a member who can
# see 1 % of the large DB (1,000 flows), against the small DB's 100-flow member.
SCALE_INFO_LABELS = {
    "get_cold": "GET /api/v1/flows/{id} (random id), cold page cache",
    "list_heavy_member": "GET /api/v1/flows (member who can see 1 % of the flows)",
}


def scale_budgets(run: ScaleRun) -> list[Budget]:
    budgets = []
    for key, label in SCALE_LABELS.items():
        small = run.results["small"][key].latency_ms["p50"]
        large = run.results["large"][key].latency_ms["p50"]
        ratio = large / small if small else float("inf")
        budgets.append(Budget(f"scale: {label} p50", f"<= {SCALE_RATIO_MAX:.0f}x small DB",
                              f"{ratio:.1f}x ({small:.2f} -> {large:.2f} ms)",
                              ratio <= SCALE_RATIO_MAX))
    return budgets


def cpu_ratio(run: MainRun) -> float:
    """Ceiling CPU per request / appliance CPU per request: req/s ratio if CPU-bound."""
    own = run.flow_get.cpu_us_per_request
    return run.ceiling_get.cpu_us_per_request / own if own else 0.0


def noise_warning(run: MainRun, settings: LoadSettings) -> list[str]:
    worst = max(m.background_cores
                for m in (run.ceiling_get, run.flow_get, run.flow_put.measurement))
    if worst < settings.noise_cores:
        return []
    return [f"WARNING: other processes used up to {worst:.2f} cores during measured runs;"
            " req/s and latencies are disturbed, CPU per request less so."]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _load_row(name: str, run: Measurement, ceiling: Measurement | None) -> str:
    """One load row; `ceiling` None: no ratio (a PUT is not comparable with a GET)."""
    lat = run.latency_ms
    errors = run.wrk.error_count + run.wrk.bad
    ratio = f"{run.rps / ceiling.rps:.0%}" if ceiling is not None else "-"
    return _row([name, f"{run.rps:,.0f}", f"{lat['p50']:.2f}", f"{lat['p99']:.2f}",
                 f"{lat['max']:.1f}", ratio,
                 f"{run.cpu_us_per_request:.0f}", f"{run.background_cores:.2f}", str(errors)])


def render(run: MainRun | None, scale: ScaleRun | None, budgets: list[Budget], pinning: str,
           settings: LoadSettings, extra: list[str] | None = None) -> str:
    lines = _main_lines(run, settings, pinning) if run is not None else [f"Pinning: {pinning}."]
    if scale is not None:
        lines += _scale_lines(scale)
    lines += extra or []
    lines += ["", _row(["Budget", "Target", "Measured", "Result"]),
              _row(["---", "---", "---", "---"])]
    lines += [_row([b.name, b.target, b.measured, "PASS" if b.passed else "FAIL"])
              for b in budgets]
    return "\n".join(lines)


def _main_lines(run: MainRun, settings: LoadSettings, pinning: str) -> list[str]:
    ceiling = run.ceiling_get
    return [
        f"Load: wrk, 1 thread, {settings.connections} connections, {settings.duration_s} s"
        f" per run after {settings.warmup_s} s warm-up; {pinning}. The ceiling serves the"
        f" appliance's own {run.response_bytes}-byte GET answer from memory.",
        f"GET: {settings.rounds} alternating round(s), median shown; req/s per round:"
        f" ceiling {spread(run.ceiling_rounds)}, appliance {spread(run.get_rounds)}.",
        f"PUT: {run.flow_put.window_s:.1f} s window; rate = acknowledged versions / window.",
        "",
        _row(["Scenario", "req/s", "p50 ms", "p99 ms", "max ms", "vs ceiling",
              "server CPU us/req", "other load (cores)", "errors"]),
        _row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
        _load_row("ceiling: bare aiohttp GET", ceiling, ceiling),
        _load_row("GET /api/v1/flows/{id}", run.flow_get, ceiling),
        _load_row("PUT /api/v1/flows/{id} (new content)", run.flow_put.measurement, None),
        "",
        f"Server CPU per request: ceiling {ceiling.cpu_us_per_request:.0f} us, appliance GET"
        f" {run.flow_get.cpu_us_per_request:.0f} us, i.e. a CPU-bound capacity of"
        f" {cpu_ratio(run):.0%} of the ceiling (steadier than req/s on a shared box).",
        *noise_warning(run, settings),
        f"Memory (VmRSS/VmHWM): idle {_mb(run.idle_rss_kb):.1f} MB; peak after the GET runs"
        f" {_mb(run.get_peak_rss_kb):.1f} MB; peak after the PUT runs"
        f" {_mb(run.peak_rss_kb):.1f} MB ({sum(r.versions_stored for r in run.put_runs):,}"
        f" new versions); RSS at the end {_mb(run.after_load_rss_kb):.1f} MB.",
    ]


def _scale_lines(scale: ScaleRun) -> list[str]:
    lines = [
        "",
        f"Scale: {scale.large.flows:,} flows / {scale.large.versions:,} versions"
        f" (seeded in {scale.large.seconds:.0f} s, {scale.large.db_bytes / 1e9:.2f} GB)"
        f" vs {scale.small.flows} flows / {scale.small.versions:,} versions;"
        f" {scale.connections} connection(s).",
        "",
        _row(["Request", "small p50 ms", "small p99 ms", "large p50 ms", "large p99 ms",
              "small req/s", "large req/s", "p50 ratio"]),
        _row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ]
    for key, label in (SCALE_LABELS | SCALE_INFO_LABELS).items():
        small = scale.results["small"][SMALL_BASELINE.get(key, key)]
        large = scale.results["large"][key]
        ratio = large.latency_ms["p50"] / small.latency_ms["p50"]
        lines.append(_row([label, f"{small.latency_ms['p50']:.2f}",
                           f"{small.latency_ms['p99']:.2f}", f"{large.latency_ms['p50']:.2f}",
                           f"{large.latency_ms['p99']:.2f}", f"{small.rps:,.0f}",
                           f"{large.rps:,.0f}", f"{ratio:.1f}x"]))
    return lines


def to_json(run: MainRun | None, scale: ScaleRun | None, budgets: list[Budget], pinning: str,
            settings: LoadSettings, argv: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.run", *argv]),
        "machine": machine_info(),
        "method": {"load_generator": "wrk", "threads": 1, "connections": settings.connections,
                   "duration_s": settings.duration_s, "warmup_s": settings.warmup_s,
                   "rounds": settings.rounds, "pinning": pinning},
        "budgets": [asdict(b) for b in budgets],
    }
    if run is not None:
        data |= _main_json(run)
    if scale is not None:
        data["scale"] = {
            "connections": scale.connections,
            "small": {"flows": scale.small.flows, "versions": scale.small.versions},
            "large": {"flows": scale.large.flows, "versions": scale.large.versions,
                      "seed_seconds": round(scale.large.seconds, 1),
                      "db_bytes": scale.large.db_bytes},
            "results": {size: {key: result.as_dict() for key, result in results.items()}
                        for size, results in scale.results.items()},
        }
    return data


def _main_json(run: MainRun) -> dict[str, Any]:
    return {
        "response_bytes": run.response_bytes,
        "ceiling_get": run.ceiling_get.as_dict(),
        "flow_get": run.flow_get.as_dict(),
        "flow_get_ratio": round(run.flow_get.rps / run.ceiling_get.rps, 3),
        "flow_get_cpu_ratio": round(cpu_ratio(run), 3),
        "rounds_rps": {"ceiling_get": run.ceiling_rounds, "flow_get": run.get_rounds},
        "flow_put": {**run.flow_put.measurement.as_dict(),
                     "window_s": round(run.flow_put.window_s, 3),
                     "versions_stored": run.flow_put.versions_stored,
                     "contiguous": run.flow_put.contiguous},
        "put_runs": [{"acked": r.measurement.wrk.ok, "stored": r.versions_stored,
                      "consistent": r.consistent} for r in run.put_runs],
        "memory_mb": {"idle_rss": round(_mb(run.idle_rss_kb), 1),
                      "peak_rss_after_get": round(_mb(run.get_peak_rss_kb), 1),
                      "peak_rss": round(_mb(run.peak_rss_kb), 1),
                      "after_load_rss": round(_mb(run.after_load_rss_kb), 1)},
        "sigterm_exit_code": run.sigterm_exit_code,
    }
