"""The read cache: never older than a write that changed what it was read from."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from scaiflow_box.store.db import EXTERNAL_CHECK_INTERVAL
from tests.conftest import Appliance, hello_content
from tests.db_backend import Backend, stored_write


def _counting_loader(value: str) -> tuple[list[int], Callable[[], str]]:
    loads: list[int] = []

    def load() -> str:
        loads.append(1)
        return value

    return loads, load


async def _wait_for_external_check() -> None:
    await asyncio.sleep(EXTERNAL_CHECK_INTERVAL * 3)  # the writer polls every interval


async def test_global_entries_survive_until_a_write_that_may_change_them(
        tmp_path: Path, backend: Backend) -> None:
    db = backend.open(tmp_path / "c.db")
    try:
        cache = db.read_cache
        cache.check()
        loads, load = _counting_loader("value")
        assert cache.get_or_load("k", load) == "value"
        cache.check()
        assert cache.get_or_load("k", load) == "value"
        assert len(loads) == 1
        # A write that names the flows it changes leaves global entries alone ...
        await db.write(lambda c: c.execute("INSERT INTO meta (`key`, value) VALUES ('a', 'b')"),
                       flows_changed=(("tnt_a", "flow_x"),))
        cache.check()
        assert cache.get_or_load("k", load) == "value" and len(loads) == 1
        # ... one that does not drops them before it is acknowledged.
        await db.write(lambda c: c.execute("INSERT INTO meta (`key`, value) VALUES ('c', 'd')"))
        cache.check()
        assert len(cache) == 0
        cache.get_or_load("k", load)
        assert len(loads) == 2
        # A commit by another process (here: a separate connection) empties it within the
        # external check interval.
        stored_write(db.url if backend.mariadb else tmp_path / "c.db",  # type: ignore[attr-defined]
                     "INSERT INTO meta (`key`, value) VALUES ('x', 'y')")
        await _wait_for_external_check()
        cache.check()
        assert len(cache) == 0
        # ... and so does a blocking write of this process (the CLI's path).
        cache.get_or_load("k", load)
        db.write_sync(lambda c: c.execute("INSERT INTO meta (`key`, value) VALUES ('z', 'y')"))
        cache.check()
        assert len(cache) == 0
    finally:
        db.close()


async def test_a_flow_write_drops_only_that_flows_reads(tmp_path: Path, backend: Backend) -> None:
    db = backend.open(tmp_path / "f.db")
    try:
        cache = db.read_cache
        loads_a, load_a = _counting_loader("a")
        loads_b, load_b = _counting_loader("b")
        assert cache.flow_value("flow_a", "detail", load_a, weigh=len) == "a"
        assert cache.flow_value("flow_b", "detail", load_b, weigh=len) == "b"
        cache.get_or_load("principal", lambda: "p")
        await db.write(lambda c: c.execute("INSERT INTO meta (`key`, value) VALUES ('a', 'b')"),
                       flows_changed=(("tnt_a", "flow_a"),))
        cache.check()
        assert cache.flow_value("flow_a", "detail", load_a, weigh=len) == "a"
        assert cache.flow_value("flow_b", "detail", load_b, weigh=len) == "b"
        assert (len(loads_a), len(loads_b)) == (2, 1)
        assert cache.get_or_load("principal", lambda: "reloaded") == "p"
        # Writes that change nothing cached (a deployment row, say) drop nothing.
        await db.write(lambda c: None, flows_changed=())
        cache.check()
        assert cache.flow_value("flow_a", "detail", load_a) == "a" and len(loads_a) == 2
        # A job that failed and one that named no flows share a batch: everything goes.
        await db.write(lambda c: None)
        cache.check()
        assert len(cache) == 0
    finally:
        db.close()


async def test_revocation_from_another_process_applies_at_once(appliance: Appliance) -> None:
    headers = await appliance.headers("usr_ci", "tnt_a")
    for _ in range(3):  # warm every cache
        assert (await appliance.client.get("/api/v1/me", headers=headers)).status == 200
    # as `scaiflow-box token revoke` would: another connection
    appliance.execute("UPDATE service_tokens SET revoked_at = 'now'")
    await asyncio.sleep(EXTERNAL_CHECK_INTERVAL * 3)  # the documented bound, and slack
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


def test_the_cache_is_bounded_by_bytes_and_entries() -> None:
    from scaiflow_box.store.read_cache import ENTRY_OVERHEAD_BYTES, ReadCache

    cache = ReadCache(max_entries=3, max_bytes=8 * (ENTRY_OVERHEAD_BYTES + 1000))
    big = "x" * 20_000
    assert cache.flow_value("flow_big", "detail", lambda: big, weigh=len) == big
    assert len(cache) == 0  # over an eighth of the budget: served, not kept
    for i in range(10):
        cache.flow_value(f"flow_{i}", "detail", lambda: "v" * 1000, weigh=len)
    assert len(cache) == 8  # least recently used flows went first
    assert cache.flow_bytes <= 8 * (ENTRY_OVERHEAD_BYTES + 1000)
    loads, load = _counting_loader("v" * 1000)
    cache.flow_value("flow_2", "detail", load, weigh=len)  # still there
    cache.flow_value("flow_0", "detail", load, weigh=len)  # evicted: loaded again
    assert len(loads) == 1
    for i in range(4):
        cache.get_or_load(i, lambda: "v")
    assert cache.get_or_load(3, lambda: "other") == "v"
    assert cache.get_or_load(0, lambda: "reloaded") == "reloaded"  # the fourth started over


def test_version_content_cache_counts_overhead_and_evicts_lru() -> None:
    from scaiflow_box.store.content_cache import ENTRY_OVERHEAD_BYTES, VersionContentCache

    cache = VersionContentCache(max_bytes=8 * (100 + ENTRY_OVERHEAD_BYTES))
    for i in range(10):
        cache.put("flow", f"1.0.{i}", b"x" * 100)
    assert len(cache) == 8
    assert cache.get("flow", "1.0.0") is None and cache.get("flow", "1.0.9") == b"x" * 100


async def test_a_flow_write_drops_its_tenants_lists_and_late_loads_are_not_kept(
        tmp_path: Path, backend: Backend) -> None:
    from scaiflow_box.store.read_cache import MISSING, tenant_bucket

    db = backend.open(tmp_path / "t.db")
    try:
        cache = db.read_cache
        cache.keep(tenant_bucket("tnt_a"), "page", "a-page", 10)
        cache.keep(tenant_bucket("tnt_b"), "page", "b-page", 10)
        await db.write(lambda c: None, flows_changed=(("tnt_a", "flow_1"),))
        cache.check()
        assert cache.peek(tenant_bucket("tnt_a"), "page") is MISSING
        assert cache.peek(tenant_bucket("tnt_b"), "page") == "b-page"
        # A page loaded while a change was applied (an await in between) is not kept.
        loaded_at = cache.drops
        await db.write(lambda c: None, flows_changed=(("tnt_b", "flow_2"),))
        cache.check()
        cache.keep(tenant_bucket("tnt_b"), "page", "stale", 10, loaded_at)
        assert cache.peek(tenant_bucket("tnt_b"), "page") is MISSING
        cache.keep(tenant_bucket("tnt_b"), "page", "fresh", 10, cache.drops)
        assert cache.peek(tenant_bucket("tnt_b"), "page") == "fresh"
    finally:
        db.close()


async def test_a_cached_list_follows_a_rename(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    resp = await appliance.client.post("/api/v1/flows", headers=owner, json={
        "name": "Before", "content": hello_content("Before")})
    flow_id = (await resp.json())["id"]
    for _ in range(2):  # the second answer comes from the cache
        body = await (await appliance.client.get("/api/v1/flows", headers=owner)).json()
        assert [i["name"] for i in body["items"]] == ["Before"]
    resp = await appliance.client.put(f"/api/v1/flows/{flow_id}", headers=owner,
                                      json={"name": "After"})
    assert resp.status == 200
    body = await (await appliance.client.get("/api/v1/flows", headers=owner)).json()
    assert [i["name"] for i in body["items"]] == ["After"]
    [row] = appliance.sql("SELECT name FROM flows WHERE id = ?", flow_id)
    assert row["name"] == "After"


async def test_health_checks_keep_the_cached_reads(appliance: Appliance) -> None:
    """A load balancer asks `/readyz` every half second: its write-through check and the
    storage probe change nothing a cached read was made from, so they must not empty the read
    cache (they did: every HAProxy check dropped every cached flow of the process)."""
    from scaiflow_box.store.read_cache import MISSING
    from tests.api.test_flows import FLOWS, create

    owner = await appliance.headers("usr_owner", "tnt_a")
    flow = await create(appliance, owner)
    assert (await appliance.client.get(f"{FLOWS}/{flow['id']}", headers=owner)).status == 200
    db = appliance.db
    cached = db.read_cache.peek(flow["id"], ("detail", "tnt_a"))
    assert cached is not MISSING
    for _ in range(3):
        resp = await appliance.client.get("/readyz")
        assert (resp.status, (await resp.json())["status"]) == (200, "ready")
    await db.probe_storage()
    db.read_cache.check()
    assert db.read_cache.peek(flow["id"], ("detail", "tnt_a")) is cached


def test_a_global_value_loaded_across_a_change_is_returned_but_not_kept() -> None:
    """An awaited load (`read_small` on MariaDB) may predate a change applied meanwhile: the
    caller gets it, the cache does not keep it; a load with no change between is kept."""
    from scaiflow_box.store.read_cache import MISSING, ReadCache

    cache = ReadCache()
    loaded_at = cache.drops
    cache.changed(None)
    cache.check()  # a change applied while the load was awaited
    cache.keep_global(("principal", "t"), "stale", loaded_at)
    assert cache.peek_global(("principal", "t")) is MISSING
    cache.keep_global(("principal", "t"), "fresh", cache.drops)
    assert cache.peek_global(("principal", "t")) == "fresh"
    assert cache.get_or_load(("principal", "t"), lambda: "reloaded") == "fresh"


async def test_cached_answers_cost_the_garbage_collector_nothing(appliance: Appliance) -> None:
    """A full collection walks every object the collector tracks, and with 20,000 cached
    flows that was 40,000 objects each time: a NamedTuple answer is never untracked, and it
    kept its bucket dict tracked. The cache keeps exact tuples, strings and bytes: after a
    collection, no bucket of a hundred cached flows (answers, a member's level, list pages)
    is left for the collector to walk."""
    import gc

    from scaiflow_box.services.flows import FlowDetail
    from scaiflow_box.store.flows import SummaryPage
    from tests.api.test_flows import FLOWS, create

    owner = await appliance.headers("usr_owner", "tnt_a")
    member = await appliance.headers("usr_member", "tnt_a")
    ids = [(await create(appliance, owner, name=f"f{n}"))["id"] for n in range(100)]
    for flow_id in ids:
        resp = await appliance.client.get(f"{FLOWS}/{flow_id}", headers=owner)
        assert resp.status == 200, await resp.text()
        assert (await appliance.client.get(f"{FLOWS}/{flow_id}", headers=member)
                ).status == 404  # a cached "level" too
    for limit in (5, 10):
        resp = await appliance.client.get(f"{FLOWS}?limit={limit}", headers=owner)
        assert resp.status == 200 and len((await resp.json())["items"]) == limit
    for _ in range(3):  # each pass untracks one level: inner tuples, outer tuples, dicts
        gc.collect()
    buckets = appliance.db.read_cache._flows  # what the collector would walk, bucket by bucket
    assert len(buckets) == 101  # the hundred flows and the tenant's list pages
    assert [b for b in buckets.values() if gc.is_tracked(b)] == []
    # The last answer may still be held by the request it went out with; the cached are not.
    assert len([o for o in gc.get_objects() if isinstance(o, (FlowDetail, SummaryPage))]) <= 2
