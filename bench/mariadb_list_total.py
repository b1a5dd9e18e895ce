"""What a flow list's `total` costs on MariaDB: the sum of the tenant's (or owner's) counter
shards (store/flow_counts.py, its migration 013), against counting the live flows over the
index, in tenants of 1,000, 20,000 and 100,000 live flows (docs/scale-out.md, "Migrations
after the baseline"). One run, for the record; not part of `make bench`.

    .venv/bin/python -m bench.mariadb_list_total [--sizes 1000,20000,100000] [--repeat 50]

A private mariadbd (tests/mariadb_server.py) with its data in /var/tmp; one tenant, two owners
(a holds 90 %, b 10 %), a tenth of the flows soft-deleted on top. For each size: the
median wall time of `list_summaries` (one page of 100 and its total, as the API asks) for
the super admin's view and each owner's, read on one connection, the pages in the server's
buffer pool (warm: the first read is left out); of the total alone (the shards' sum); and of
the count over the index it replaces.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scaiflow_box.store import flow_counts
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store.engine import DatabaseUrl
from scaiflow_box.store.mariadb import MariaDbConnection, connect
from scaiflow_box.store.mariadb_schema.upgrade import prepare_schema
from tests.mariadb_server import start_server

TENANT = "tnt_bench"
INSERT = ("INSERT INTO flows (id, tenant_id, name, owner_id, version, version_seq, created_at,"
          " updated_at, deleted_at, summary) VALUES (?, ?, 'n', ?, '1.0.0', 1, ?, ?, ?, ?)")


def seed(conn: MariaDbConnection, have: int, want: int) -> None:
    rows = []
    for n in range(have, want):
        flow_id = f"flow_{n:07d}"
        owner = "usr_b" if n % 10 == 0 else "usr_a"
        at = f"2026-01-01T00:00:00.{n:07d}Z"
        summary = (f'{{"id":"{flow_id}","name":"n","description":"","owner_id":"{owner}",'
                   f'"tenant_id":"{TENANT}","version":"1.0.0","created_at":"{at}",'
                   f'"updated_at":"{at}"}}')
        rows.append((flow_id, TENANT, owner, at, at, None, summary))
        conn.execute("INSERT INTO flow_live_counts (tenant_id, owner_id, shard, live)"
                     " VALUES (?, ?, 'bench', 1) ON DUPLICATE KEY UPDATE live = live + 1",
                     (TENANT, owner))
        if n % 9 == 0:  # deleted ones on top: 1 in 9 of the rows, not counted
            rows.append((f"gone_{n:07d}", TENANT, owner, at, at, at, summary))
        if len(rows) >= 2000:
            conn.executemany(INSERT, rows)
            conn.commit()
            rows = []
    if rows:
        conn.executemany(INSERT, rows)
        conn.commit()


def median_us(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,20000,100000")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sf-list-total-", dir="/var/tmp"))
    server = start_server(workdir / "mariadb")
    try:
        name = server.create_database()
        url = DatabaseUrl(host="localhost", port=server.port, user="root", database=name,
                          unix_socket=str(server.socket_path))
        conn = connect(url)
        prepare_schema(conn, url.where, "bench")
        print("| live flows | view | page + total, µs | total (shards), µs |"
              " count over the index, µs | total |")
        print("|---:|---|---:|---:|---:|---:|")
        have = 0
        for size in (int(s) for s in args.sizes.split(",")):
            seed(conn, have, size)
            have = size
            conn.execute("ANALYZE TABLE flows").fetchall()
            conn.rollback()
            for view, user, everyone in (("super admin", "usr_x", True),
                                         ("owner of 90 %", "usr_a", False),
                                         ("owner of 10 %", "usr_b", False)):
                def page(user: str = user, everyone: bool = everyone) -> int:
                    got = flow_rows.list_summaries(conn, tenant_id=TENANT, user_id=user,
                                                   can_see_all=everyone, search=None,
                                                   after=None, limit=100)
                    return got.total

                own = "" if everyone else " AND owner_id = ?"
                params = (TENANT,) if everyone else (TENANT, user)

                def count(own: str = own, params: tuple[str, ...] = params) -> int:
                    value = int(conn.execute(
                        "SELECT count(*) FROM flows WHERE tenant_id = ? AND deleted_at IS NULL"
                        + own, params).fetchone()[0])
                    conn.rollback()
                    return value

                def shards(user: str = user, everyone: bool = everyone) -> int:
                    value = (flow_counts.tenant_total(conn, TENANT) if everyone else
                             flow_counts.owner_total(conn, TENANT, user))
                    conn.rollback()
                    return value

                total = page()
                assert total == count() == shards()
                print(f"| {size:,} | {view} | {median_us(page, args.repeat):,.0f} | "
                      f"{median_us(shards, args.repeat):,.0f} | "
                      f"{median_us(count, args.repeat):,.0f} | {total:,} |")
        conn.close()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
