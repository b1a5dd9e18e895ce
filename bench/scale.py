"""The scale scenario: the same reads against a one-page DB and a 100,000-flow DB."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from bench import pagecache
from bench.measure import LoadSettings, Measurement, measure
from bench.processes import appliance, init_data_dir, mint_token
from bench.seed import SeedReport, seed_database
from bench.throughput import FLOWS_PATH

LOCAL_TENANT = "tnt_local"
# Tenant members without an admin role: their lists go through the visibility rules.
MEMBER = "usr_seed_000"  # can see 100 flows in both the small and the large DB
HEAVY_MEMBER = "usr_seed_001"  # can see 1 % of the large DB's flows


@dataclass
class ScaleRun:
    small: SeedReport
    large: SeedReport
    connections: int
    results: dict[str, dict[str, Measurement]] = field(default_factory=dict)


def _measure_db(workdir: Path, label: str, *, flows: int, versions_per_flow: int,
                owner_of: Callable[[int], str], settings: LoadSettings,
                ) -> tuple[SeedReport, dict[str, Measurement]]:
    """Seed a DB; measure get/list with its file in the page cache, then get from disk."""
    data_dir = workdir / f"scale-{label}"
    init_data_dir(data_dir)
    db_path = data_dir / "scaiflow.db"
    report = seed_database(db_path, tenant_id=LOCAL_TENANT, flows=flows,
                           versions_per_flow=versions_per_flow, owner_of=owner_of)
    ids_file = workdir / f"scale-{label}-ids.txt"
    ids_file.write_text("\n".join(report.flow_ids) + "\n")
    operator = mint_token(data_dir)
    member = mint_token(data_dir, MEMBER)
    heavy = mint_token(data_dir, HEAVY_MEMBER)
    get_args = [operator, str(ids_file), FLOWS_PATH + "/"]
    results: dict[str, Measurement] = {}
    try:
        pagecache.warm(db_path)
        with appliance(data_dir, cpu=settings.pins.server,
                       log_path=workdir / f"appliance-scale-{label}.log") as server:
            server.start("/healthz")
            base = server.base_url
            results["get"] = measure(server, base + "/", "get_random", get_args, settings)
            results["list"] = measure(server, base + FLOWS_PATH, "get", [operator], settings)
            results["list_member"] = measure(server, base + FLOWS_PATH, "get", [member],
                                              settings)
            results["list_heavy_member"] = measure(server, base + FLOWS_PATH, "get", [heavy],
                                                    settings)
        # A fresh process (empty content cache) on a DB file that is not in the page cache.
        pagecache.evict(db_path)
        cold = replace(settings, warmup_s=0, retries=0)
        with appliance(data_dir, cpu=settings.pins.server,
                       log_path=workdir / f"appliance-scale-{label}-cold.log") as server:
            server.start("/healthz")
            results["get_cold"] = measure(server, server.base_url + "/", "get_random",
                                           get_args, cold)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return report, results


def run_scale(workdir: Path, settings: LoadSettings, *, flows: int,
              versions_per_flow: int) -> ScaleRun:
    """A one-page DB (100 flows) against `flows` x `versions_per_flow`, same requests.

    The small DB holds exactly one full list page, all of it MEMBER's, so every list answers
    a full page in both DBs. In the large DB MEMBER still owns 100 flows (what differs is only
    the size of the tenant around them), HEAVY_MEMBER owns 1 % of the flows and the rest
    belong to 98 other users.
    """
    stride = max(2, flows // 100)

    def large_owner(index: int) -> str:
        if index % stride == 0:
            return MEMBER
        if index % 100 == 1:
            return HEAVY_MEMBER
        return f"usr_seed_{2 + index % 98:03d}"

    small_report, small = _measure_db(workdir, "small", flows=100,
                                      versions_per_flow=versions_per_flow,
                                      owner_of=lambda _: MEMBER, settings=settings)
    large_report, large = _measure_db(workdir, "large", flows=flows,
                                      versions_per_flow=versions_per_flow,
                                      owner_of=large_owner, settings=settings)
    return ScaleRun(small=small_report, large=large_report, connections=settings.connections,
                    results={"small": small, "large": large})
