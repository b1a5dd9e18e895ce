"""Two appliances on one MariaDB database (two processes of a site, docs/scale-out.md §3): what
one changes through its API is what the other answers within the change sequence's bound, even
though each keeps its own read cache, and neither rotates the master key while the other
runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest

from scaiflow_box.crypto.envelope import MasterKey
from scaiflow_box.store import changes
from scaiflow_box.store.mariadb_database import MariaDatabase
from tests.cli_process import run
from tests.conftest import AppFactory, Appliance, hello_content
from tests.mariadb_server import MariaDbDatabase

pytestmark = pytest.mark.mariadb

FLOWS = "/api/v1/flows"
# One poll interval plus its round trips, with room for a loaded test machine.
BOUND = changes.POLL_INTERVAL * 6


async def pair(make_appliance: AppFactory, database: MariaDbDatabase
               ) -> tuple[Appliance, Appliance]:
    """Two appliances with data directories of their own on one database and one master key."""
    env = {"SCAIFLOW_DATABASE_URL": f"mariadb://root@/{database.database}"
                                    f"?unix_socket={quote(database.unix_socket or '')}",
           "SCAIFLOW_MASTER_KEY": MasterKey.generate().to_base64()}
    return await make_appliance(**env), await make_appliance(**env)


async def within(bound: float, check: Callable[[], Awaitable[bool]]) -> float:
    """Seconds until `check()` holds; fails when that takes longer than `bound`."""
    started = time.monotonic()
    while True:
        if await check():
            elapsed = time.monotonic() - started
            assert elapsed <= bound, f"took {elapsed * 1000:.0f} ms"
            return elapsed
        assert time.monotonic() - started < bound * 4, "never happened"
        await asyncio.sleep(0.005)


async def test_a_flow_saved_on_one_is_read_on_the_other(
        make_appliance: AppFactory, mariadb_database: MariaDbDatabase) -> None:
    one, two = await pair(make_appliance, mariadb_database)
    headers = await one.headers("usr_alice", "tnt_a")
    resp = await one.client.post(FLOWS, headers=headers,
                                 json={"name": "Support", "content": hello_content("Support")})
    assert resp.status == 201
    flow = await resp.json()
    url = f"{FLOWS}/{flow['id']}"
    for _ in range(3):  # cached on the second process
        resp = await two.client.get(url, headers=headers)
        assert (resp.status, (await resp.json())["name"]) == (200, "Support")
    resp = await one.client.put(url, headers=headers, json={"name": "Renamed"})
    assert resp.status == 200

    async def renamed() -> bool:
        resp = await two.client.get(url, headers=headers)
        return bool(resp.status == 200 and (await resp.json())["name"] == "Renamed")

    await within(BOUND, renamed)
    assert one.sql("SELECT name FROM flows WHERE id = ?", flow["id"])[0]["name"] == "Renamed"


async def test_a_role_removed_or_a_token_revoked_on_one_is_enforced_on_the_other(
        make_appliance: AppFactory, mariadb_database: MariaDbDatabase) -> None:
    one, two = await pair(make_appliance, mariadb_database)
    root = await one.headers("usr_root", "tnt_a", role="super_admin")
    boss = await one.headers("usr_boss", "tnt_a", role="tenant_admin")
    users = "/api/v1/admin/tenant/users"
    for _ in range(3):
        assert (await two.client.get(users, headers=boss)).status == 200
    resp = await one.client.delete("/api/v1/admin/users/usr_boss/role", headers=root)
    assert resp.status == 204

    async def forbidden() -> bool:
        resp = await two.client.get(users, headers=boss)
        return bool(resp.status == 403 and (await resp.json())["detail"]["error"] == "forbidden")

    await within(BOUND, forbidden)
    assert one.sql("SELECT admin_role FROM users WHERE id = 'usr_boss'")[0][0] is None
    # A service token revoked through the first process is refused by the second.
    for _ in range(3):
        assert (await two.client.get("/api/v1/me", headers=boss)).status == 200
    token_id = one.sql("SELECT id FROM service_tokens WHERE sub = 'usr_boss'")[0][0]
    resp = await one.client.delete(f"/api/v1/admin/service-tokens/{token_id}", headers=root)
    assert resp.status == 204

    async def revoked() -> bool:
        resp = await two.client.get("/api/v1/me", headers=boss)
        return bool(resp.status == 401
                    and await resp.json() == {"detail": "invalid token: revoked"})

    await within(BOUND, revoked)


async def test_the_master_key_is_not_rotated_while_another_process_runs(
        make_appliance: AppFactory, mariadb_database: MariaDbDatabase) -> None:
    one = await make_appliance(
        SCAIFLOW_DATABASE_URL=f"mariadb://root@/{mariadb_database.database}"
                              f"?unix_socket={quote(mariadb_database.unix_socket or '')}")
    root = await one.headers("usr_root", "tnt_a", role="super_admin")
    before = one.settings.master_key_path.read_bytes()
    other: Any = MariaDatabase(one.settings.database_url)  # type: ignore[arg-type]
    try:
        resp = await one.client.post("/api/v1/admin/keys/rotate", headers=root, json={})
        assert resp.status == 409
        detail = (await resp.json())["detail"]
        assert detail["error"] == "rotation_not_possible"
        assert detail["message"].startswith("1 other scaiflow-box process(es) sharing this "
                                            "database are running")
        assert "Stop the other processes" in detail["fix"]
        assert one.settings.master_key_path.read_bytes() == before
        assert not one.settings.master_key_path.with_name("master.key.new").exists()
        assert one.sql("SELECT * FROM audit_log WHERE action = 'keys.rotated'") == []
    finally:
        other.close()
    # Once the other process stopped, the rotation goes ahead.
    resp = await one.client.post("/api/v1/admin/keys/rotate", headers=root, json={})
    assert resp.status == 200, await resp.text()
    assert one.settings.master_key_path.read_bytes() != before


async def test_the_cli_does_not_rotate_the_master_key_while_a_server_runs(
        make_appliance: AppFactory, mariadb_database: MariaDbDatabase) -> None:
    url = (f"mariadb://root@/{mariadb_database.database}"
           f"?unix_socket={quote(mariadb_database.unix_socket or '')}")
    one = await make_appliance(SCAIFLOW_DATABASE_URL=url)
    await one.headers("usr_root", "tnt_a", role="super_admin")
    before = one.settings.master_key_path.read_bytes()
    kek = one.sql("SELECT kek_id FROM data_keys")
    done = await asyncio.get_running_loop().run_in_executor(None, lambda: run(
        "keys", "rotate", data_dir=one.settings.data_dir, env={"SCAIFLOW_DATABASE_URL": url}))
    assert done.returncode == 1
    assert done.stdout == ""
    assert "error: 1 other scaiflow-box process(es) sharing this database are running" \
        in done.stderr
    assert "Stop the other processes" in done.stderr
    assert "Traceback" not in done.stderr
    assert one.settings.master_key_path.read_bytes() == before
    assert not one.settings.master_key_path.with_name("master.key.new").exists()
    assert one.sql("SELECT kek_id FROM data_keys") == kek
