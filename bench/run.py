"""`make bench`: measure the DESIGN.md budgets and the issue 16 paths in one run, report them.

    .venv/bin/python -m bench.run [--scenarios main,lists,writes,compiler] [--scale]
                                  [--duration 10] [--connections 64]

Starts a bare aiohttp endpoint (the ceiling) and the appliance (`python -m scaiflow_box serve`,
fresh temp data dirs), each in its own subprocess pinned to one core, and drives both with wrk
pinned to another core. Scenarios:

- main: ceiling vs GET by id, durable PUTs, memory, SIGTERM (bench/throughput.py)
- lists: flow lists (owner, super admin, 1 % member) at 1,600 and 20,000 flows, GET by id in
  the 20,000-flow tenant vs the ceiling, admin users at 20,000 users (bench/lists.py)
- writes: GET by id over 2,000 flows alone and under ~200 saves/s (bench/writes.py)
- compiler: compile and import of a 500-node flow at 8 connections (bench/compiler_load.py)
- scale (only with --scale): 100k flows / 1M versions against a one-page DB (bench/scale.py)

Prints Markdown tables and writes bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench import report_paths
from bench.compiler_load import run_compiler
from bench.lists import run_lists
from bench.measure import LoadSettings, Pins
from bench.report import Budget, main_budgets, render, scale_budgets, to_json
from bench.scale import run_scale
from bench.throughput import run_main
from bench.writes import run_writes
from bench.wrk import INSTALL_HINT, wrk_path

SCENARIOS = ("main", "lists", "writes", "compiler")

RESULTS_FILE = Path(__file__).with_name("results") / "latest.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unrecorded load first")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating ceiling/appliance GET runs; the median is reported")
    parser.add_argument("--no-pin", action="store_true", help="do not pin with taskset")
    parser.add_argument("--retries", type=int, default=2,
                        help="repeat a run disturbed by other processes up to this many times")
    parser.add_argument("--noise-cores", type=float, default=0.15,
                        help="CPU used by other processes (in cores) that marks a run disturbed")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--list-sizes", default="1600,20000",
                        help="flows in the tenant of the lists scenario, comma-separated")
    parser.add_argument("--users", type=int, default=20_000,
                        help="extra users at the largest list size (admin users list)")
    parser.add_argument("--write-flows", type=int, default=2_000)
    parser.add_argument("--writes-per-s", type=float, default=200.0)
    parser.add_argument("--scale", action="store_true",
                        help="also seed 100k flows / 1M versions and compare with a small DB")
    parser.add_argument("--scale-flows", type=int, default=100_000)
    parser.add_argument("--scale-versions-per-flow", type=int, default=10)
    parser.add_argument("--scale-duration", type=int, default=5)
    parser.add_argument("--scale-connections", type=int, default=1,
                        help="1 = latency of one request on an otherwise idle server")
    parser.add_argument("--output", type=Path, default=RESULTS_FILE)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a budget fails")
    return parser.parse_args(argv)


def choose_pins(no_pin: bool) -> tuple[Pins, str]:
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin:
        return Pins(None, None), "not pinned (--no-pin)"
    if len(cpus) < 2 or shutil.which("taskset") is None:
        return Pins(None, None), "not pinned (needs 2 CPUs and taskset)"
    return (Pins(cpus[0], cpus[1]),
            f"server on CPU {cpus[0]}, wrk on CPU {cpus[1]} (taskset)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if wrk_path() is None:
        print(f"bench needs wrk (the load generator). Install it with:\n  {INSTALL_HINT}",
              file=sys.stderr)
        return 2
    scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        print(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}",
              file=sys.stderr)
        return 2
    pins, pinning = choose_pins(args.no_pin)
    settings = LoadSettings(duration_s=args.duration, warmup_s=args.warmup,
                            connections=args.connections, pins=pins, rounds=args.rounds,
                            noise_cores=args.noise_cores, retries=args.retries)
    budgets: list[Budget] = []
    extra: list[str] = []
    extra_json: dict[str, object] = {}
    run = scale = None
    with tempfile.TemporaryDirectory(prefix="scaiflow-bench-") as tmp:
        workdir = Path(tmp)
        if "main" in scenarios:
            print(f"main scenarios ({pinning}) ...", file=sys.stderr)
            run = run_main(workdir, settings)
            budgets += main_budgets(run)
        if "lists" in scenarios:
            print("lists: seeding tenants and measuring ...", file=sys.stderr)
            lists = run_lists(workdir, settings,
                              sizes=[int(n) for n in args.list_sizes.split(",")],
                              users=args.users)
            budgets += report_paths.list_budgets(lists)
            extra += ["", *report_paths.render_lists(lists)]
            extra_json["lists"] = report_paths.lists_json(lists)
        if "writes" in scenarios:
            print("writes: reads alone and under a write trickle ...", file=sys.stderr)
            writes = run_writes(workdir, settings, flows=args.write_flows,
                                writes_per_s=args.writes_per_s, rounds=2)
            budgets += report_paths.writes_budgets(writes)
            extra += report_paths.render_writes(writes)
            extra_json["writes"] = report_paths.writes_json(writes)
        if "compiler" in scenarios:
            print("compiler: compile and import under load ...", file=sys.stderr)
            compiler = run_compiler(workdir, settings)
            budgets += report_paths.compiler_budgets(compiler)
            extra += report_paths.render_compiler(compiler)
            extra_json["compiler"] = report_paths.compiler_json(compiler)
        if args.scale:
            print("scale scenario: seeding and measuring ...", file=sys.stderr)
            scale_settings = LoadSettings(duration_s=args.scale_duration, warmup_s=1,
                                          connections=args.scale_connections, pins=pins,
                                          noise_cores=args.noise_cores, retries=args.retries)
            scale = run_scale(workdir, scale_settings, flows=args.scale_flows,
                              versions_per_flow=args.scale_versions_per_flow)
            budgets += scale_budgets(scale)
    print(render(run, scale, budgets, pinning, settings, extra))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    data = to_json(run, scale, budgets, pinning, settings, argv) | extra_json
    args.output.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nwrote {args.output}", file=sys.stderr)
    return 1 if args.strict and not all(b.passed for b in budgets) else 0


if __name__ == "__main__":
    raise SystemExit(main())
