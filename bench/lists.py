"""The list paths and reads over a large tenant (issue 16).

One tenant of N flows (1,600 and 20,000 by default) is seeded straight into SQLite:

- OWNER, a member without an admin role, owns 99 % of the flows;
- MEMBER sees 1 %: half of it their own flows, half granted by OWNER (to MEMBER directly or to
  a group MEMBER belongs to), so both parts of a member's list are read;
- the super admin (the bootstrap operator) sees every flow;
- `users` extra users fill the directory for `GET /admin/users`.

Every list is compared with a GET by id (a random flow of the tenant, as the super admin) in
the same server and the same run: the ratio cancels most of a shared machine's noise. At the
largest size the GET by id is also compared with the ceiling (the bare aiohttp server sending
the same bytes) in `--rounds` alternating rounds, the median run of each kept, as the main GET
budget is; the peak RSS of the server is read after all its runs.

Every flow is read once before anything is measured, and that first pass is reported on its
own (a read-cache miss each: the row and the content read, the answer built and kept). The
GET by id then measures a tenant whose flows the box has served before. Without the pass, the
2 s warm-up of uniformly random ids left a third of 20,000 flows unread (1 - e^-1), and their
first reads made up ~7 % of the measured requests and a fifth of the figure's CPU.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from bench import pagecache
from bench.instructions import get_paths
from bench.measure import LoadSettings, Measurement, accounted, measure, median_run
from bench.processes import (
    LOCAL_TENANT,
    OPERATOR,
    ServerProcess,
    appliance,
    ceiling,
    init_data_dir,
    mint_token,
    request_json,
)
from bench.seed import Grant, SeedReport, seed_database, seed_directory

FLOWS_PATH = "/api/v1/flows"
USERS_PATH = "/api/v1/admin/users"
OWNER = "usr_seed_owner"
MEMBER = "usr_seed_member"
READERS = "grp_seed_readers"
PAGE = 100  # the list page size measured (the API's default)
VERSIONS_PER_FLOW = 2


@dataclass(frozen=True)
class FirstReads:
    """The pass that reads every flow once (8 keep-alive connections)."""

    reads: int
    seconds: float
    server_cpu_s: float

    @property
    def cpu_us_per_read(self) -> float:
        return self.server_cpu_s / self.reads * 1e6 if self.reads else 0.0


@dataclass
class SizeRun:
    flows: int
    users: int
    seed: SeedReport
    first_reads: FirstReads | None = None
    # At the largest size: the GET by id and the ceiling measured in alternating rounds
    # (`results` holds the median run of each).
    get_rounds: list[Measurement] = field(default_factory=list)
    ceiling_rounds: list[Measurement] = field(default_factory=list)
    results: dict[str, Measurement] = field(default_factory=dict)
    peak_rss_kb: int = 0  # VmHWM of the server after every run at this size
    rss_kb: int = 0  # VmRSS at the end
    totals: dict[str, int] = field(default_factory=dict)  # `total` each list answered


@dataclass
class ListsRun:
    sizes: list[SizeRun]
    connections: int


def _is_members(index: int) -> bool:
    return index % 100 == 1


def _owner_of(index: int) -> str:
    return MEMBER if _is_members(index) and (index // 100) % 2 == 0 else OWNER


def _member_grants(flow_ids: list[str]) -> list[Grant]:
    grants = []
    for index, flow_id in enumerate(flow_ids):
        if _is_members(index) and (index // 100) % 2 == 1:
            to_group = (index // 100) % 4 == 1
            grants.append(Grant(flow_id, "group" if to_group else "user",
                                READERS if to_group else MEMBER))
    return grants


def _deep_cursor(base: str, token: str, path: str, skip: int) -> str:
    """A cursor `skip` items into a list, followed 500 at a time (keyset pages stay flat)."""
    cursor = ""
    walked = 0
    while walked < skip:
        query = urllib.parse.urlencode({"limit": 500, **({"cursor": cursor} if cursor else {})})
        status, body = request_json("GET", f"{base}{path}?{query}", token)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:200]!r}")
        cursor = json.loads(body)["next_cursor"]
        if not cursor:
            raise RuntimeError(f"{path} ended before {skip} items")
        walked += 500
    return cursor


def _total(base: str, token: str) -> int:
    status, body = request_json("GET", f"{base}{FLOWS_PATH}?limit=1", token)
    if status != 200:
        raise RuntimeError(f"GET {FLOWS_PATH} answered {status}")
    total: int = json.loads(body)["total"]
    return total


def read_every_flow(server: ServerProcess, token: str, flow_ids: list[str]) -> FirstReads:
    """GET each flow once, as the super admin: each answer read, built and kept."""
    paths = [f"{FLOWS_PATH}/{flow_id}" for flow_id in flow_ids]
    started = time.monotonic()
    reads, server_cpu, _ = accounted(server, lambda: asyncio.run(
        get_paths(server.port, token, paths)))
    return FirstReads(reads=reads, seconds=time.monotonic() - started, server_cpu_s=server_cpu)


def run_size(workdir: Path, settings: LoadSettings, *, flows: int, users: int,
             with_ceiling: bool) -> SizeRun:
    data_dir = workdir / f"lists-{flows}"
    init_data_dir(data_dir)
    db_path = data_dir / "scaiflow.db"
    seed = seed_database(db_path, tenant_id=LOCAL_TENANT, flows=flows,
                         versions_per_flow=VERSIONS_PER_FLOW, owner_of=_owner_of)
    seed_directory(db_path, tenant_id=LOCAL_TENANT,
                   users=[OWNER, MEMBER] + [f"usr_seed_u{n:06d}" for n in range(users)],
                   groups={READERS: [MEMBER]}, grants=_member_grants(seed.flow_ids))
    ids_file = workdir / f"lists-{flows}-ids.txt"
    ids_file.write_text("\n".join(seed.flow_ids) + "\n")
    tokens = {who: mint_token(data_dir, sub) for who, sub in
              (("admin", OPERATOR), ("owner", OWNER), ("member", MEMBER))}
    run = SizeRun(flows=flows, users=users, seed=seed)
    try:
        pagecache.warm(db_path)
        with appliance(data_dir, cpu=settings.pins.server,
                       log_path=workdir / f"appliance-lists-{flows}.log") as server:
            server.start("/healthz")
            base = server.base_url
            run.first_reads = read_every_flow(server, tokens["admin"], seed.flow_ids)
            get_args = [tokens["admin"], str(ids_file), FLOWS_PATH + "/"]
            run.get_rounds.append(measure(server, base + "/", "get_random", get_args, settings))
            run.results["get"] = run.get_rounds[0]
            page = f"{base}{FLOWS_PATH}?limit={PAGE}"
            for who in ("owner", "admin", "member"):
                run.results[f"list_{who}"] = measure(server, page, "get", [tokens[who]],
                                                     settings)
                run.totals[who] = _total(base, tokens[who])
            if flows >= 2 * 10_000:
                # Half way down the owner's list: a keyset page costs what the first does.
                cursor = _deep_cursor(base, tokens["owner"], FLOWS_PATH, 10_000)
                run.results["list_owner_deep"] = measure(
                    server, f"{page}&cursor={cursor}", "get", [tokens["owner"]], settings)
            if users:
                users_page = f"{base}{USERS_PATH}?limit={PAGE}"
                run.results["users"] = measure(server, users_page, "get", [tokens["admin"]],
                                               settings)
                cursor = _deep_cursor(base, tokens["admin"], USERS_PATH, users // 2)
                run.results["users_deep"] = measure(server, f"{users_page}&cursor={cursor}",
                                                    "get", [tokens["admin"]], settings)
            if with_ceiling:
                status, document = request_json("GET", f"{base}{FLOWS_PATH}/{seed.flow_ids[0]}",
                                                tokens["admin"])
                if status != 200:
                    raise RuntimeError(f"GET of a seeded flow answered {status}")
                doc_file = workdir / f"lists-{flows}-doc.json"
                doc_file.write_bytes(document)
                with ceiling(doc_file, cpu=settings.pins.server,
                             log_path=workdir / "ceiling-lists.log") as bare:
                    bare.start("/healthz")
                    # Alternating rounds, as the main GET budget (bench/throughput.py): this
                    # machine's speed drifts by ~10 % from one minute to the next.
                    rounds = max(1, settings.rounds)
                    for n in range(rounds):
                        run.ceiling_rounds.append(measure(bare, bare.base_url + "/doc", "get",
                                                          [tokens["admin"]], settings))
                        if n < rounds - 1:
                            run.get_rounds.append(measure(server, base + "/", "get_random",
                                                          get_args, settings))
                    run.results["ceiling"] = median_run(run.ceiling_rounds)
                    run.results["get"] = median_run(run.get_rounds)
            memory = server.memory_kb()
            run.peak_rss_kb, run.rss_kb = memory["VmHWM"], memory["VmRSS"]
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return run


def run_lists(workdir: Path, settings: LoadSettings, *, sizes: list[int],
              users: int) -> ListsRun:
    """Each size in its own data directory and server; users and the ceiling at the largest."""
    largest = max(sizes)
    return ListsRun(sizes=[run_size(workdir, settings, flows=n,
                                    users=users if n == largest else 0,
                                    with_ceiling=n == largest) for n in sizes],
                    connections=settings.connections)
