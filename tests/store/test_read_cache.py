"""The commit-scoped read cache: never older than the last commit of any connection."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from scaiflow_box.store.db import Database
from scaiflow_box.store.read_cache import EXTERNAL_CHECK_INTERVAL
from tests.conftest import Appliance


def test_entries_survive_until_any_commit(tmp_path: Path) -> None:
    db = Database(tmp_path / "c.db")
    try:
        cache = db.inline_cache
        cache.check()
        loads: list[int] = []

        def load() -> str:
            loads.append(1)
            return "value"

        assert cache.get_or_load("k", load) == "value"
        cache.check()
        assert cache.get_or_load("k", load) == "value"
        assert len(loads) == 1
        # A commit by another process (here: a separate connection) empties it once the
        # external check interval has passed.
        other = sqlite3.connect(tmp_path / "c.db")
        other.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
        other.commit()
        other.close()
        cache.external_check_interval = 0.0
        cache.check()
        assert len(cache) == 0
        cache.get_or_load("k", load)
        assert len(loads) == 2
        # ... and so does the appliance's own writer, on the very next check.
        cache.external_check_interval = 3600.0
        cache.check()
        db.write_sync(lambda c: c.execute("INSERT INTO meta (key, value) VALUES ('z', 'y')"))
        cache.check()
        assert len(cache) == 0
    finally:
        db.close()


async def test_revocation_from_another_process_applies_at_once(appliance: Appliance) -> None:
    headers = await appliance.headers("usr_ci", "tnt_a")
    for _ in range(3):  # warm every cache
        assert (await appliance.client.get("/api/v1/me", headers=headers)).status == 200
    cli = sqlite3.connect(appliance.settings.db_path)  # as `scaiflow-box token revoke` would
    cli.execute("UPDATE service_tokens SET revoked_at = 'now'")
    cli.commit()
    cli.close()
    await asyncio.sleep(EXTERNAL_CHECK_INTERVAL + 0.01)  # the documented bound
    resp = await appliance.client.get("/api/v1/me", headers=headers)
    assert (resp.status, await resp.json()) == (401, {"detail": "invalid token: revoked"})


async def test_cached_flow_reads_see_acl_changes(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    member = await appliance.headers("usr_member", "tnt_a")
    from tests.api.test_acls import grant
    from tests.api.test_flows import FLOWS, create

    flow = await create(appliance, owner)
    acl = await grant(appliance, owner, flow["id"], "usr_member", "view")
    url = f"{FLOWS}/{flow['id']}"
    for _ in range(3):
        assert (await appliance.client.get(url, headers=member)).status == 200
    resp = await appliance.client.delete(f"{url}/acls/{acl['id']}", headers=owner)
    assert resp.status == 204
    assert (await appliance.client.get(url, headers=member)).status == 404


def test_the_cache_is_bounded_by_bytes_and_entries(tmp_path: Path) -> None:
    from scaiflow_box.store.read_cache import CommitScopedCache

    conn = sqlite3.connect(tmp_path / "b.db")
    cache = CommitScopedCache(conn, lambda: 0, max_entries=3, max_bytes=64 * 1024)
    big = "x" * 20_000
    assert cache.get_or_load("big", lambda: big, weigh=len) == big
    assert len(cache) == 0  # over an eighth of the budget: served, not kept
    for i in range(4):
        cache.get_or_load(i, lambda: "v", weigh=len)
    assert len(cache) == 1  # the fourth entry started the cache over
    conn.close()


def test_version_content_cache_counts_overhead_and_evicts_lru() -> None:
    from scaiflow_box.store.content_cache import ENTRY_OVERHEAD_BYTES, VersionContentCache

    cache = VersionContentCache(max_bytes=8 * (100 + ENTRY_OVERHEAD_BYTES))
    for i in range(10):
        cache.put("flow", f"1.0.{i}", b"x" * 100)
    assert len(cache) == 8
    assert cache.get("flow", "1.0.0") is None and cache.get("flow", "1.0.9") == b"x" * 100
