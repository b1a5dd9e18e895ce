"""What the package catalog costs the appliance, measured at the service level.

    .venv/bin/python -m bench.catalog_bench [--runs 30] [--packages 1000] [--dir DIR]

A real database in a fresh data directory (on disk under DIR, default the system temp
directory: every write is an fsync'd commit of the writer thread), the catalog and flow
services built as `app.py` builds them, principals as the identity service resolves them.
Reported, as medians and 90th percentiles of `--runs` calls after three warm-up calls, with
the median CPU time the process spent per call (all threads: the loop, the executor, the
writer; what other work on a shared machine does not inflate as much as wall time):

- publish (inline content, and from a stored flow) and install (content only, and saved as a
  new flow) of each example flow — the budget is 100 ms of the appliance's own time each;
- import of packages at the size limits, accepted (the largest package the box stores) and
  refused (a member at 8 MiB + 1, a zip bomb, 16+1 members);
- the list with `--packages` packages (a quarter of them visible to groups only), as a
  member (the visibility rule), a tenant admin and a super admin, with and without search;
- the event loop's longest stall while all of it ran (compiling, zipping and reading archives
  run in an executor; nothing of it should block the loop).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaiflow_box.auth.principal import MANAGE, VIEW, Principal
from scaiflow_box.errors import DomainError
from scaiflow_box.services.catalog import CatalogService
from scaiflow_box.services.flows import FlowService
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.content_cache import VersionContentCache
from scaiflow_box.store.db import Database

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("hello-world", "customer-support", "compute")
MiB = 1024 * 1024


def principal(sub: str, tenant: str = "tnt_bench", role: str | None = None) -> Principal:
    return Principal(sub=sub, tenant_id=tenant, email=None, display_name=None,
                     permissions=frozenset({VIEW, MANAGE}), admin_role=role,
                     admin_role_source="manual" if role else None, token_source="service")


AUTHOR = principal("usr_author")
MEMBER = principal("usr_member")
TENANT_ADMIN = principal("usr_tadmin", role="tenant_admin")
SUPER_ADMIN = principal("usr_root", "tnt_ops", role="super_admin")


def example(name: str) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(
        (ROOT / "scaiflow_box" / "examples" / f"{name}.flow.json").read_text("utf-8"))
    return content


class LoopWatch:
    """The event loop's longest delay in answering a 1 ms timer while service calls run (the
    bench's own set-up, which builds big test data on the loop, is not counted)."""

    def __init__(self) -> None:
        self.worst_ms = 0.0
        self.counting = False
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            start = time.perf_counter()
            counting = self.counting
            await asyncio.sleep(0.001)
            late = (time.perf_counter() - start) * 1000 - 1
            if counting and self.counting:
                self.worst_ms = max(self.worst_ms, late)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


WATCH = LoopWatch()


@dataclass(frozen=True)
class Timing:
    times: list[float]  # wall ms per call
    cpu: list[float]  # the process's CPU ms per call, every thread (loop, executor, writer)
    stall_ms: float  # the loop's longest stall while these calls ran


async def timed(call: Callable[[], Awaitable[Any]], runs: int, warmup: int = 3) -> Timing:
    for _ in range(warmup):
        await call()
    times, cpu = [], []
    overall = WATCH.worst_ms
    WATCH.worst_ms = 0.0
    WATCH.counting = True
    try:
        for _ in range(runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            await call()
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
    finally:
        WATCH.counting = False
    stall, WATCH.worst_ms = WATCH.worst_ms, max(overall, WATCH.worst_ms)
    return Timing(times, cpu, stall)


def summary(timing: Timing) -> str:
    ordered = sorted(timing.times)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (f"{statistics.median(ordered):.1f} ms (p90 {p90:.1f}; CPU "
            f"{statistics.median(timing.cpu):.1f}; loop stall {timing.stall_ms:.1f})")


def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


async def refused_ms(service: CatalogService, data: bytes, runs: int) -> str:
    async def call() -> None:
        try:
            await service.import_package(AUTHOR, data)
        except DomainError:
            return
        raise RuntimeError("expected a refusal")

    return summary(await timed(call, runs))


async def bench(args: argparse.Namespace) -> list[tuple[str, str]]:
    workdir = Path(tempfile.mkdtemp(prefix="catalog-bench-", dir=args.dir))
    db = Database(workdir / "scaiflow.db")
    flows = FlowService(db, VersionContentCache())
    service = CatalogService(db, flows)
    rows: list[tuple[str, str]] = [("data directory", str(workdir))]
    watch = WATCH
    watch.start()
    idle = await timed(lambda: asyncio.sleep(0.05), 20, warmup=0)
    rows.append(("loop stall with nothing running (1 s of idle timers: the machine's floor)",
                 f"{idle.stall_ms:.1f} ms"))
    try:
        rows += await bench_examples(service, flows, args.runs)
        rows += await bench_limits(service, args.runs)
        rows += await bench_list(service, db, args.packages, args.runs)
    finally:
        await watch.stop()
        db.close()
    rows.append(("event loop: longest stall while the calls above ran",
                 f"{watch.worst_ms:.1f} ms"))
    return rows


async def bench_examples(service: CatalogService, flows: FlowService, runs: int
                         ) -> list[tuple[str, str]]:
    rows = []
    for name in EXAMPLES:
        rows += await bench_example(service, flows, name, runs)
    return rows


async def bench_example(service: CatalogService, flows: FlowService, name: str, runs: int
                        ) -> list[tuple[str, str]]:
    content = example(name)
    nodes = len(content["nodes"])
    publish = await timed(lambda: service.publish(AUTHOR, package_id=name, name=name,
                                                  content=content), runs)
    size = len((await service.download(AUTHOR, name, None)).data)
    flow = await flows.create(AUTHOR, name=name, description="", content=content,
                              request_id=None)
    flow_id = flow.row["id"]
    from_flow = await timed(lambda: service.publish(AUTHOR, package_id=f"{name}-flow",
                                                    name=name, flow_id=flow_id), runs)
    install = await timed(lambda: service.install(MEMBER, name), runs)
    saved = await timed(lambda: service.install(MEMBER, name, save=True), runs)
    return [(f"publish {name} ({nodes} nodes, {size:,}-byte package), inline content",
             summary(publish)),
            (f"publish {name} from its stored flow", summary(from_flow)),
            (f"install {name} (content only)", summary(install)),
            (f"install {name} with save (a new flow)", summary(saved))]


async def bench_limits(service: CatalogService, runs: int) -> list[tuple[str, str]]:
    rows = []
    rng = random.Random(1)
    # The largest flow whose package the box stores: its notes fill flow.json and (carried by
    # the manifest's scaiflow_meta) manifest.yaml up to just under the 8 MiB package limit.
    content = example("hello-world")
    content["metadata"] = {"notes": "".join(rng.choices("acgt", k=int(3.9 * MiB)))}
    await service.publish(AUTHOR, package_id="biggest", name="biggest", content=content)
    biggest = (await service.download(AUTHOR, "biggest", None)).data
    tenants = iter(range(10_000))

    async def import_elsewhere() -> None:
        who = principal("usr_importer", f"tnt_import_{next(tenants)}")
        await service.import_package(who, biggest)

    rows.append((f"import of the largest storable package ({len(biggest):,} bytes, accepted)",
                 summary(await timed(import_elsewhere, max(5, runs // 3), warmup=1))))
    publish_big = await timed(lambda: service.publish(AUTHOR, package_id="biggest",
                                                      name="biggest", content=content),
                              max(5, runs // 3), warmup=1)
    rows.append(("publish of that flow (3.9 MiB of notes)", summary(publish_big)))
    member = zip_of([("README.md", bytes(8 * MiB + 1))])
    rows.append((f"refusal: a member of 8 MiB + 1 ({len(member):,}-byte archive)",
                 await refused_ms(service, member, runs)))
    bomb = zip_of([("README.md", bytes(2 * MiB))])
    rows.append(("refusal: a 2 MiB member compressed 1000:1 (zip bomb)",
                 await refused_ms(service, bomb, runs)))
    many = zip_of([(f"m{i}", b"x") for i in range(17)])
    rows.append(("refusal: 17 members", await refused_ms(service, many, runs)))
    noise = rng.randbytes(8 * MiB - 4096)
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w") as archive:
        archive.writestr("README.md", noise)
        archive.writestr("flow.json", b"[]")
    rows.append((f"refusal after reading: an 8 MiB archive whose flow.json is no object "
                 f"({len(stored.getvalue()):,} bytes)",
                 await refused_ms(service, stored.getvalue(), max(5, runs // 3))))
    return rows


async def bench_list(service: CatalogService, db: Database, count: int, runs: int
                     ) -> list[tuple[str, str]]:
    def members(conn: Any) -> None:
        user_rows.upsert_user(conn, tenant_id="tnt_bench", user_id="usr_member", email=None,
                              display_name=None)
        for group in ("grp_in", "grp_out"):
            user_rows.upsert_group(conn, "tnt_bench", group, group)
        user_rows.add_membership(conn, "tnt_bench", "grp_in", "usr_member")

    await db.write(members)
    content = example("hello-world")
    start = time.perf_counter()
    for i in range(count):
        package_id = f"pkg-{i:04d}"
        await service.publish(AUTHOR, package_id=package_id, name=f"Package {i}",
                              content=content)
        if i % 4 == 0:
            group = "grp_in" if i % 8 == 0 else "grp_out"
            await service.set_visibility(AUTHOR, package_id, visibility="groups",
                                         group_ids=[group])
    seeded_s = time.perf_counter() - start
    rows = [(f"seeding {count:,} packages through publish (a quarter then set to groups)",
             f"{seeded_s:.1f} s ({seeded_s * 1000 / count:.1f} ms each)")]
    visible, after = 0, None
    while True:
        listed = await service.list_packages(MEMBER, limit=500, after=after)
        visible += len(listed.items)
        if listed.next_key is None:
            break
        after = listed.next_key
    for label, who, kwargs in (
            ("member (visibility rule), limit 100", MEMBER, {"limit": 100}),
            ("member, limit 500", MEMBER, {"limit": 500}),
            ("member, search 'package 99' (11 matches)", MEMBER, {"search": "package 99"}),
            ("tenant admin, limit 100", TENANT_ADMIN, {"limit": 100}),
            ("super admin (every tenant), limit 500", SUPER_ADMIN, {"limit": 500})):
        times = await timed(lambda who=who, kwargs=kwargs: service.list_packages(who, **kwargs),
                            runs)
        rows.append((f"list of {count:,}: {label}", summary(times)))
    page = await service.list_packages(MEMBER, limit=100)
    last_page_after = page.next_key
    for _ in range(3):
        if last_page_after is None:
            break
        page = await service.list_packages(MEMBER, limit=100, after=last_page_after)
        last_page_after = page.next_key
    if last_page_after is not None:
        times = await timed(lambda: service.list_packages(MEMBER, limit=100,
                                                          after=last_page_after), runs)
        rows.append((f"list of {count:,}: member, the 5th page of 100 (keyset)",
                     summary(times)))
    rows.append((f"packages the member sees, all pages (3/4 of {count:,} are `tenant`, 1/8 in "
                 "their group; plus the 7 published above)", f"{visible:,}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--packages", type=int, default=1000)
    parser.add_argument("--dir", default=None, help="where the data directory is made")
    args = parser.parse_args()
    rows = asyncio.run(bench(args))
    width = max(len(label) for label, _ in rows)
    print(f"{'measure':<{width}}  value")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print()
    print("| measure | value |\n|---|---:|")
    for label, value in rows[1:]:
        print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
