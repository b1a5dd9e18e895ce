"""What a save costs the SQLite writer thread, part by part: the statements of a save's write
job (`FlowService.update`) through the store's own functions, in batches like the writer's
group commit, each part timed with `time.thread_time()` (CPU of this thread, the kernel's
share of `COMMIT` included). The same statements, with the same text and values, through
`sqlite3` alone are timed beside them: the difference is what the store's Python adds.

    .venv/bin/python -m bench.writer_parts [--batches 40] [--batch 20]

Run it pinned to one core (`taskset -c 0`) on a quiet machine; it takes a few seconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from sqlite3 import Connection

from bench.content import bench_content
from bench.processes import init_data_dir
from scaiflow_box.services.flows import FlowService
from scaiflow_box.store import audit
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store.db import open_writer_connection
from scaiflow_box.timestamps import now_iso

TENANT = "tnt_local"
ACTOR = "usr_operator"
FLOW = "flow_benchwriterparts01"


class _Laps:
    """CPU of this thread between marks, by the name of the part that just ended."""

    def __init__(self) -> None:
        self.parts: dict[str, list[float]] = defaultdict(list)
        self.last = time.thread_time()

    def start(self) -> None:
        self.last = time.thread_time()

    def lap(self, name: str) -> None:
        now = time.thread_time()
        self.parts[name].append(now - self.last)
        self.last = now


def _job(conn: Connection, laps: _Laps, seq: int, *, savepoint: bool) -> None:
    """One save's write job, as `FlowService.update` runs it for new content."""
    version = f"1.0.{seq}"
    content = bench_content(f"v{seq}")
    laps.start()
    if savepoint:
        conn.execute("SAVEPOINT job")
        laps.lap("SAVEPOINT + RELEASE")
    flow = flow_rows.get_flow(conn, TENANT, FLOW, for_update=True)
    assert flow is not None
    laps.lap("SELECT the flow")
    data, digest = FlowService._serialize(content, FLOW, version)
    laps.lap("serialize and hash")
    stamp = now_iso()
    flow_rows.insert_version(conn, flow_id=FLOW, tenant_id=TENANT, seq=seq, version=version,
                             content=data, sha256=digest, created_by=ACTOR, now=stamp)
    laps.lap("insert_version")
    flow_rows.update_flow(conn, TENANT, FLOW, current=flow, version=version, version_seq=seq,
                          meta_rev=0, updated_at=stamp)
    laps.lap("update_flow")
    audit.record(conn, tenant_id=TENANT, actor=ACTOR, action="flow.updated",
                 target_type="flow", target_id=FLOW,
                 details={"fields": [], "version": version}, request_id="req_bench")
    laps.lap("audit.record")
    if savepoint:
        conn.execute("RELEASE job")
        laps.lap("SAVEPOINT + RELEASE")


def measure(db: Path, batches: int, batch: int) -> tuple[dict[str, float], float]:
    """(median CPU seconds a job of each part, COMMIT included as its share a job) and the
    median CPU a job of the same statements through `sqlite3` alone."""
    conn = open_writer_connection(db)
    now = now_iso()
    conn.execute("BEGIN IMMEDIATE")
    flow_rows.insert_flow(conn, flow_id=FLOW, tenant_id=TENANT, name="bench", description="",
                          owner_id=ACTOR, version="1.0.0", now=now)
    data, digest = FlowService._serialize(bench_content(), FLOW, "1.0.0")
    flow_rows.insert_version(conn, flow_id=FLOW, tenant_id=TENANT, seq=1, version="1.0.0",
                             content=data, sha256=digest, created_by=ACTOR, now=now)
    conn.execute("COMMIT")
    laps = _Laps()
    seq = 1
    for _ in range(batches):
        conn.execute("BEGIN IMMEDIATE")
        for n in range(batch):
            seq += 1
            _job(conn, laps, seq, savepoint=n > 0)
        laps.start()
        conn.execute("COMMIT")
        laps.lap("COMMIT")
    parts = laps.parts
    skip = batches // 4  # the first batches warm the caches
    medians = {name: statistics.median(values[skip * (1 if name == "COMMIT" else batch):])
               for name, values in parts.items()}
    if batch > 1:  # two statements a job, but none on a batch's first job
        medians["SAVEPOINT + RELEASE"] *= 2 * (batch - 1) / batch
    medians["COMMIT"] /= batch
    # The same statements with the same text and values, savepoints included, through
    # `sqlite3` alone: what the store's functions add is the difference.
    raw: list[float] = []
    summary = conn.execute("SELECT summary FROM flows WHERE id = ?", (FLOW,)).fetchone()[0]
    select = f"SELECT {flow_rows.SUMMARY_COLUMNS} FROM flows WHERE id = ? AND tenant_id = ?"
    for _ in range(batches):
        conn.execute("BEGIN IMMEDIATE")
        started = time.thread_time()
        for n in range(batch):
            seq += 1
            version = f"1.0.{seq}"
            if n:
                conn.execute("SAVEPOINT job")
            conn.execute(select, (FLOW, TENANT)).fetchone()
            conn.execute(
                "INSERT INTO flow_versions (flow_id, seq, tenant_id, version, storage_key,"
                " content, sha256, size_bytes, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (FLOW, seq, TENANT, version, flow_rows.storage_key(TENANT, FLOW, version),
                 data, digest, len(data), ACTOR, now))
            conn.execute("UPDATE flows SET version = ?, version_seq = ?, meta_rev = ?,"
                         " updated_at = ?, summary = ? WHERE id = ? AND tenant_id = ?",
                         (version, seq, 0, now, summary, FLOW, TENANT))
            conn.execute("INSERT INTO audit_log (at, tenant_id, actor, action, target_type,"
                         " target_id, details, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         (now, TENANT, ACTOR, "flow.updated", "flow", FLOW,
                          '{"fields":[],"version":"' + version + '"}', "req_bench"))
            if n:
                conn.execute("RELEASE job")
        raw.append((time.thread_time() - started) / batch)
        conn.execute("COMMIT")
    conn.close()
    return medians, statistics.median(raw[skip:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sfb-writer-parts-") as tmp:
        data_dir = Path(tmp) / "data"
        init_data_dir(data_dir)
        medians, raw = measure(data_dir / "scaiflow.db", args.batches, args.batch)
    print(f"A save's write job, batches of {args.batch} (median of {args.batches}), "
          "CPU of the writer's thread:")
    print("| part of a job | CPU |\n|---|---:|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds * 1e6:.1f} us |")
    total = sum(medians.values())
    print(f"| **a job** | **{total * 1e6:.1f} us** |")
    print(f"The same statements, text and values (savepoints included, COMMIT not), through "
          f"sqlite3 alone: {raw * 1e6:.1f} us a job.")


if __name__ == "__main__":
    main()
