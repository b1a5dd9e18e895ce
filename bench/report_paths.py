"""Tables, budgets and JSON for the issue 16 scenarios: lists, reads under writes, compile and
import. Every figure that has a target is a ratio within one run (to a GET by id, or to the
ceiling, or to the library), so the shared machine's noise mostly cancels."""

from __future__ import annotations

from typing import Any

from bench.compiler_load import CompilerRun
from bench.lists import ListsRun, SizeRun
from bench.measure import Measurement, spread
from bench.report import Budget
from bench.writes import WritesRun

LIST_RATIO_MIN = 0.5
GET_LARGE_RATIO_MIN = 0.5
GET_LARGE_P99_FACTOR = 2.0
WRITES_RATIO_MIN = 0.8
COMPILE_OVERHEAD_MAX = 1.5
IMPORT_CPU_MAX_MS = 50.0
IMPORT_RSS_MAX_MB = 120.0

LIST_LABELS = {"list_owner": "owner of 99 %", "list_admin": "super admin",
               "list_member": "member who sees 1 %"}


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _mb(kb: int) -> float:
    return kb / 1024


def _ratio(run: Measurement, base: Measurement) -> float:
    return run.rps / base.rps if base.rps else 0.0


def _cpu_ratio(run: Measurement, base: Measurement) -> float:
    """The same ratio from CPU per request: what it is on a quiet core (CPU-bound), and
    steadier when other work takes the server's core now and then."""
    own = run.cpu_us_per_request
    return base.cpu_us_per_request / own if own else 0.0


def _load_cells(run: Measurement) -> list[str]:
    lat = run.latency_ms
    return [f"{run.rps:,.0f}", f"{lat['p50']:.2f}", f"{lat['p99']:.2f}",
            f"{run.cpu_us_per_request:.0f}", str(run.wrk.error_count + run.wrk.bad),
            f"{run.background_cores:.2f}"]


def list_budgets(run: ListsRun) -> list[Budget]:
    budgets = []
    for size in run.sizes:
        get = size.results["get"]
        for key, label in LIST_LABELS.items():
            ratio = _ratio(size.results[key], get)
            budgets.append(Budget(
                f"GET /flows?limit=100, {label}, {size.flows:,} flows",
                f">= {LIST_RATIO_MIN:.2f} of a GET by id",
                f"{ratio:.2f} ({size.results[key].rps:,.0f} / {get.rps:,.0f} req/s);"
                f" {_cpu_ratio(size.results[key], get):.2f} by CPU per request",
                ratio >= LIST_RATIO_MIN))
        ceiling = size.results.get("ceiling")
        if ceiling is not None:
            ratio = _ratio(get, ceiling)
            budgets.append(Budget(
                f"GET by id in a tenant of {size.flows:,} flows", f">= {GET_LARGE_RATIO_MIN:.2f}"
                " of the ceiling", f"{ratio:.2f} ({get.rps:,.0f} / {ceiling.rps:,.0f} req/s);"
                f" {_cpu_ratio(get, ceiling):.2f} by CPU per request",
                ratio >= GET_LARGE_RATIO_MIN))
            p99, ceiling_p99 = get.latency_ms["p99"], ceiling.latency_ms["p99"]
            budgets.append(Budget(
                f"same, p99 ({size.flows:,} flows)",
                f"< {GET_LARGE_P99_FACTOR:.0f}x the ceiling's",
                f"{p99:.1f} ms vs {ceiling_p99:.1f} ms ({p99 / ceiling_p99:.1f}x)",
                p99 < GET_LARGE_P99_FACTOR * ceiling_p99))
    return budgets


def writes_budgets(run: WritesRun) -> list[Budget]:
    return [Budget(f"GET by id over {run.flows:,} flows under ~{run.target_writes_per_s:.0f}"
                   " writes/s", f">= {WRITES_RATIO_MIN:.2f} of the same reads without writes",
                   f"{run.ratio:.2f} by req/s, {run.cpu_ratio:.2f} by reads per CPU second"
                   f" ({run.writes_per_s:,.0f} writes/s achieved, {run.failed_writes} failed;"
                   f" the saves alone use {run.lone_saves_share:.0%} of the core,"
                   f" {run.cpu_us_per_lone_save:,.0f} us each)",
                   run.ratio >= WRITES_RATIO_MIN and run.failed_writes == 0)]


def compiler_budgets(run: CompilerRun) -> list[Budget]:
    import_ms = run.import_.cpu_us_per_request / 1000
    errors = run.compile.wrk.error_count + run.import_.wrk.error_count
    return [
        Budget(f"POST /flows/compile, {run.nodes} nodes, 8 connections",
               f"<= {COMPILE_OVERHEAD_MAX:.1f}x the library's CPU",
               f"{run.compile_overhead:.2f}x ({run.compile.cpu_us_per_request / 1000:.1f} ms vs"
               f" {run.library_compile_ms:.1f} ms; one at a time {run.compile_alone_ms:.1f} ms,"
               f" {run.compile.wrk.requests:,} requests)",
               run.compile_overhead <= COMPILE_OVERHEAD_MAX and errors == 0),
        Budget(f"POST /flows/import, {run.nodes}-node manifest, 8 connections",
               f"< {IMPORT_CPU_MAX_MS:.0f} ms CPU a request",
               f"{import_ms:.1f} ms (one at a time {run.import_alone_ms:.1f} ms; library"
               f" {run.library_import_ms:.1f} ms)",
               import_ms < IMPORT_CPU_MAX_MS and errors == 0),
        Budget("peak RSS after the imports", f"< {IMPORT_RSS_MAX_MB:.0f} MB",
               f"{_mb(run.import_peak_rss_kb):.1f} MB",
               _mb(run.import_peak_rss_kb) < IMPORT_RSS_MAX_MB),
    ]


def _size_lines(size: SizeRun) -> list[str]:
    get = size.results["get"]
    lines = [
        "",
        f"Tenant of {size.flows:,} flows ({size.seed.versions:,} versions"
        + (f", {size.users:,} extra users" if size.users else "") + f"); peak RSS"
        f" {_mb(size.peak_rss_kb):.1f} MB, {_mb(size.rss_kb):.1f} MB at the end. `total`"
        f" answered: owner {size.totals.get('owner', 0):,}, super admin"
        f" {size.totals.get('admin', 0):,}, member {size.totals.get('member', 0):,}."
        + (f" Every flow read once first: {size.first_reads.reads:,} GETs in"
           f" {size.first_reads.seconds:.1f} s, {size.first_reads.cpu_us_per_read:.0f} us of"
           " server CPU each (a read-cache miss: the row and content read, the answer kept)."
           if size.first_reads else "")
        + (f" GET by id and ceiling in {len(size.ceiling_rounds)} alternating rounds, the"
           " median shown; server CPU us a request: GET"
           f" {spread([m.cpu_us_per_request for m in size.get_rounds])}, ceiling"
           f" {spread([m.cpu_us_per_request for m in size.ceiling_rounds])}."
           if len(size.ceiling_rounds) > 1 else ""),
        "",
        _row(["Request", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "errors",
              "other load", "vs GET by id", "by CPU"]),
        _row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
    ]
    labels = {"ceiling": "ceiling: bare aiohttp, same bytes",
              "get": "GET /flows/{id}, random flow, super admin",
              **{k: f"GET /flows?limit=100, {v}" for k, v in LIST_LABELS.items()},
              "list_owner_deep": "same, owner, 10,000 flows down (cursor)",
              "users": "GET /admin/users?limit=100",
              "users_deep": "same, half way down (cursor)"}
    for key, label in labels.items():
        if key in size.results:
            run = size.results[key]
            lines.append(_row([label, *_load_cells(run), f"{_ratio(run, get):.2f}",
                               f"{_cpu_ratio(run, get):.2f}"]))
    return lines


def render_lists(run: ListsRun) -> list[str]:
    lines = [f"Lists and reads over one tenant ({run.connections} connections):"]
    for size in run.sizes:
        lines += _size_lines(size)
    return lines


def render_writes(run: WritesRun) -> list[str]:
    lines = ["", f"Reads spread over {run.flows:,} flows, alone and under a trickle of saves"
             f" to random flows (target ~{run.target_writes_per_s:.0f}/s; achieved"
             f" {run.writes_per_s:,.0f}/s, {run.failed_writes} failed; a save's p50"
             f" {run.write_latency_ms[0]:.1f} ms, p99 {run.write_latency_ms[1]:.1f} ms); peak RSS"
             f" {_mb(run.peak_rss_kb):.1f} MB.", "",
             _row(["Round", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "errors",
                   "other load"]),
             _row(["---", "---:", "---:", "---:", "---:", "---:", "---:"])]
    for index, (quiet, busy) in enumerate(zip(run.quiet, run.under_writes, strict=True)):
        lines.append(_row([f"{index + 1}: reads alone", *_load_cells(quiet)]))
        lines.append(_row([f"{index + 1}: reads under writes", *_load_cells(busy)]))
    lines.append(f"Median ratio: {run.ratio:.2f} by req/s; {run.cpu_ratio:.2f} by reads per"
                 " second of server CPU (the writes' own CPU included).")
    if run.saves_alone is not None:
        alone = run.saves_alone
        lines.append(f"The trickle alone, no reads: {alone.ok:,} saves in {alone.duration_s:.0f} s,"
                     f" {run.cpu_us_per_lone_save:,.0f} us of server CPU a save (each its own"
                     f" commit, on a core idle between saves), {run.lone_saves_share:.0%} of"
                     " the core.")
    return lines


def render_compiler(run: CompilerRun) -> list[str]:
    return ["", f"Compile and import, {run.nodes} nodes, 8 connections (bodies"
            f" {run.compile_body_bytes / 1024:.0f} KiB / {run.import_body_bytes / 1024:.0f} KiB);"
            f" library CPU: compile {run.library_compile_ms:.1f} ms, import"
            f" {run.library_import_ms:.1f} ms; RSS idle {_mb(run.idle_rss_kb):.1f} MB, peak"
            f" after the imports {_mb(run.import_peak_rss_kb):.1f} MB, after the compiles"
            f" {_mb(run.peak_rss_kb):.1f} MB.", "",
            _row(["Request", "req/s", "p50 ms", "p99 ms", "server CPU us/req", "errors",
                  "other load"]),
            _row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]),
            _row(["POST /flows/import", *_load_cells(run.import_)]),
            _row(["POST /flows/compile", *_load_cells(run.compile)])]


def lists_json(run: ListsRun) -> dict[str, Any]:
    return {"connections": run.connections, "sizes": [
        {"flows": s.flows, "users": s.users, "versions": s.seed.versions,
         "peak_rss_mb": round(_mb(s.peak_rss_kb), 1), "rss_mb": round(_mb(s.rss_kb), 1),
         "totals": s.totals,
         "first_reads": None if s.first_reads is None else {
             "reads": s.first_reads.reads, "seconds": round(s.first_reads.seconds, 2),
             "server_cpu_us_per_read": round(s.first_reads.cpu_us_per_read, 1)},
         "ratios_to_get": {k: round(_ratio(m, s.results["get"]), 3)
                           for k, m in s.results.items()},
         "cpu_ratios_to_get": {k: round(_cpu_ratio(m, s.results["get"]), 3)
                               for k, m in s.results.items()},
         "get_rounds": [m.as_dict() for m in s.get_rounds],
         "ceiling_rounds": [m.as_dict() for m in s.ceiling_rounds],
         "results": {k: m.as_dict() for k, m in s.results.items()}} for s in run.sizes]}


def writes_json(run: WritesRun) -> dict[str, Any]:
    return {"flows": run.flows, "ratio": round(run.ratio, 3),
            "cpu_ratio": round(run.cpu_ratio, 3),
            "writes_per_s": round(run.writes_per_s, 1), "failed_writes": run.failed_writes,
            "peak_rss_mb": round(_mb(run.peak_rss_kb), 1),
            "saves_alone": None if run.saves_alone is None else {
                **run.saves_alone.as_dict(), "server_cpu_s": round(run.saves_alone_cpu_s, 3),
                "server_cpu_us_per_save": round(run.cpu_us_per_lone_save, 1),
                "share_of_core": round(run.lone_saves_share, 3)},
            "quiet": [m.as_dict() for m in run.quiet],
            "under_writes": [m.as_dict() for m in run.under_writes]}


def compiler_json(run: CompilerRun) -> dict[str, Any]:
    return {"nodes": run.nodes, "library_compile_ms": round(run.library_compile_ms, 2),
            "library_import_ms": round(run.library_import_ms, 2),
            "compile_overhead": round(run.compile_overhead, 3),
            "compile_alone_ms": round(run.compile_alone_ms, 2),
            "import_alone_ms": round(run.import_alone_ms, 2),
            "import_peak_rss_mb": round(_mb(run.import_peak_rss_kb), 1),
            "peak_rss_mb": round(_mb(run.peak_rss_kb), 1),
            "compile": run.compile.as_dict(), "import": run.import_.as_dict()}
