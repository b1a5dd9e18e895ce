"""Directory sync (SPEC §12) end to end: a real appliance, the fake ScaiKey's admin API, the
exact `POST /api/v1/admin/sync` answer and the mirror as stored in the SQLite file."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from typing import Any

import pytest

from scaiflow_box.keys import DB, DIRECTORY_SYNC, LEASES
from scaiflow_box.services import directory_sync
from scaiflow_box.store import leases
from scaiflow_box.store import users as user_rows
from tests.conftest import AppFactory, Appliance
from tests.fakes.scaikey import FakeScaiKey

SYNC = "/api/v1/admin/sync"
STATUS = "/api/v1/admin/sync/status"
ME = "/api/v1/me"
COUNTERS = ("users_seen", "users_added", "users_undeleted", "users_soft_deleted",
            "groups_seen", "groups_added", "groups_undeleted", "groups_soft_deleted",
            "memberships_seen", "memberships_added", "memberships_soft_deleted",
            "super_admin_count", "super_admins_group_promoted", "super_admins_group_demoted")


async def root_headers(app: Appliance) -> dict[str, str]:
    """A super admin whose row a token created (source `token`, tenant tnt_ops): sync never
    soft-deletes such rows, so the caller survives every sync of these tests."""
    token = await app.token("usr_root", "tnt_ops")
    await app.db.write(lambda conn: user_rows.set_admin_role(conn, "tnt_ops", "usr_root",
                                                             "super_admin", "manual"))
    return {"Authorization": f"Bearer {token}"}


async def sync(app: Appliance, headers: dict[str, str], status: int = 200) -> dict[str, Any]:
    resp = await app.client.post(SYNC, headers=headers)
    body: dict[str, Any] = await resp.json()
    assert resp.status == status, body
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def counters(result: dict[str, Any]) -> dict[str, int]:
    return {name: result[name] for name in COUNTERS}


def expect(**values: int) -> dict[str, int]:
    return {name: values.get(name, 0) for name in COUNTERS}


def directory(fake: FakeScaiKey) -> None:
    fake.add_user("usr_alice", email="alice@acme.test", display_name="Alice")
    fake.add_user("usr_bob", status="SUSPENDED")
    fake.add_user("usr_carol")
    fake.add_group("grp_editors", name="Editors", members=["usr_alice", "usr_bob"])
    fake.add_group("grp_admins", name="Platform Admins", members=["usr_carol"])
    fake.add_user("usr_dan", "tnt_beta")
    fake.add_group("grp_beta", "tnt_beta", name="Beta", members=["usr_dan"])


@pytest.fixture
async def app(make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> Appliance:
    directory(scaikey_server)
    return await make_appliance(**scaikey_server.env(
        SCAIFLOW_SUPER_ADMIN_GROUPS="Platform Admins"))


def users(app: Appliance) -> dict[str, tuple[Any, ...]]:
    return {row["id"]: tuple(row)[1:] for row in app.sql(
        "SELECT id, tenant_id, email, status, source, admin_role, admin_role_source,"
        " deleted_at IS NOT NULL FROM users WHERE id != 'usr_root'")}


def live_memberships(app: Appliance) -> set[tuple[str, str]]:
    return {(r[0], r[1]) for r in app.sql(
        "SELECT group_id, user_id FROM memberships WHERE deleted_at IS NULL")}


async def test_sync_from_empty(app: Appliance, scaikey_server: FakeScaiKey) -> None:
    root = await root_headers(app)
    result = await sync(app, root)
    assert result["skipped_reason"] is None and result["users_method"] == "effective_users"
    assert counters(result) == expect(
        users_seen=4, users_added=4, groups_seen=3, groups_added=3, memberships_seen=4,
        memberships_added=4, super_admin_count=2, super_admins_group_promoted=1)
    assert 0 <= result["duration_seconds"] < 30
    assert users(app) == {
        "usr_alice": ("tnt_acme", "alice@acme.test", "ACTIVE", "scaikey", None, None, 0),
        "usr_bob": ("tnt_acme", "usr_bob@example.test", "SUSPENDED", "scaikey", None, None, 0),
        "usr_carol": ("tnt_acme", "usr_carol@example.test", "ACTIVE", "scaikey",
                      "super_admin", "group", 0),
        "usr_dan": ("tnt_beta", "usr_dan@example.test", "ACTIVE", "scaikey", None, None, 0),
    }
    assert {tuple(r) for r in app.sql("SELECT id, tenant_id, name FROM groups")} == {
        ("grp_editors", "tnt_acme", "Editors"), ("grp_admins", "tnt_acme", "Platform Admins"),
        ("grp_beta", "tnt_beta", "Beta")}
    assert live_memberships(app) == {("grp_editors", "usr_alice"), ("grp_editors", "usr_bob"),
                                     ("grp_admins", "usr_carol"), ("grp_beta", "usr_dan")}
    # tnt_beta was learnt from ScaiKey's group list: nobody of it had signed in.
    assert {tuple(r) for r in app.sql("SELECT id, source FROM tenants")} == {
        ("tnt_ops", "token"), ("tnt_acme", "scaikey"), ("tnt_beta", "scaikey")}
    assert [r["last_synced_at"] is not None for r in app.sql(
        "SELECT last_synced_at FROM users WHERE source = 'scaikey'")] == [True] * 4
    synced = app.sql("SELECT tenant_id, actor FROM audit_log WHERE action = 'directory.synced'")
    assert {r["tenant_id"] for r in synced} == {"tnt_acme", "tnt_beta", "tnt_ops"}
    [granted] = app.sql("SELECT target_id, details FROM audit_log WHERE action = 'role.granted'"
                        " AND actor = 'directory-sync'")
    assert granted["target_id"] == "usr_carol" and '"source":"group"' in granted["details"]
    # A suspended user is refused even with a valid token; the change applies at once.
    bob = bearer(scaikey_server.mint(sub="usr_bob", tenant_id="tnt_acme"))
    resp = await app.client.get(ME, headers=bob)
    assert (resp.status, await resp.json()) == (401, {"detail": "invalid token: user disabled"})
    scaikey_server.set_status("usr_bob", "ACTIVE")
    await sync(app, root)
    resp = await app.client.get(ME, headers=bob)
    assert resp.status == 200
    assert [g["id"] for g in (await resp.json())["groups"]] == ["grp_editors"]


async def test_incremental_changes_soft_delete_and_undelete(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    root = await root_headers(app)
    await sync(app, root)
    fake = scaikey_server
    fake.users["usr_alice"].email = "alice@new.test"
    fake.add_user("usr_erin")
    fake.remove_user("usr_carol")  # and so leaves Platform Admins
    fake.remove_group("grp_beta")
    second = await sync(app, root)
    assert counters(second) == expect(
        users_seen=4, users_added=1, users_soft_deleted=1, groups_seen=2,
        groups_soft_deleted=1, memberships_seen=2, memberships_soft_deleted=2,
        super_admin_count=1, super_admins_group_demoted=1)
    stored = users(app)
    assert stored["usr_alice"][1] == "alice@new.test"
    assert stored["usr_erin"] == ("tnt_acme", "usr_erin@example.test", "ACTIVE", "scaikey",
                                  None, None, 0)
    assert stored["usr_carol"] == ("tnt_acme", "usr_carol@example.test", "ACTIVE", "scaikey",
                                   None, None, 1)
    [beta] = app.sql("SELECT deleted_at FROM groups WHERE id = 'grp_beta'")
    assert beta["deleted_at"] is not None
    assert live_memberships(app) == {("grp_editors", "usr_alice"), ("grp_editors", "usr_bob")}
    assert {r["target_id"] for r in app.sql(
        "SELECT target_id FROM audit_log WHERE action IN ('user.soft_deleted',"
        " 'group.soft_deleted', 'role.revoked')")} == {"usr_carol", "grp_beta"}
    # A soft-deleted user is refused; nothing else about them is lost.
    carol = bearer(scaikey_server.mint(sub="usr_carol", tenant_id="tnt_acme"))
    assert (await app.client.get(ME, headers=carol)).status == 401
    # Unchanged ScaiKey: an idempotent sync.
    assert counters(await sync(app, root)) == expect(
        users_seen=4, groups_seen=2, memberships_seen=2, super_admin_count=1)
    # Back in ScaiKey: undeleted, with the same row and group-derived role again.
    fake.add_user("usr_carol")
    fake.add_member("grp_admins", "usr_carol")
    fake.add_group("grp_beta", "tnt_beta", name="Beta", members=["usr_dan"])
    third = await sync(app, root)
    assert counters(third) == expect(
        users_seen=5, users_undeleted=1, groups_seen=3, groups_undeleted=1,
        memberships_seen=4, memberships_added=2, super_admin_count=2,
        super_admins_group_promoted=1)
    assert users(app)["usr_carol"][-3:] == ("super_admin", "group", 0)
    assert (await app.client.get(ME, headers=carol)).status == 200


async def test_effective_users_403_falls_back_to_the_member_walk(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    scaikey_server.effective_users_forbidden = True
    scaikey_server.add_user("usr_loner")  # in no group: the member walk cannot see them
    root = await root_headers(app)
    result = await sync(app, root)
    assert result["users_method"] == "member_walk"
    assert counters(result) == expect(
        users_seen=4, users_added=4, groups_seen=3, groups_added=3, memberships_seen=4,
        memberships_added=4, super_admin_count=2, super_admins_group_promoted=1)
    assert set(users(app)) == {"usr_alice", "usr_bob", "usr_carol", "usr_dan"}
    assert users(app)["usr_bob"][2] == "SUSPENDED"  # the member record carries the status
    # effective-users was asked once, then no more this run
    assert scaikey_server.hits["effective_users"] == 1


async def test_super_admin_election_never_touches_manual_grants(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    fake = scaikey_server
    for user in ("usr_carol", "usr_alice", "usr_frank"):
        fake.add_user(user)
    fake.add_group("grp_admins", name="Admins", members=["usr_carol", "usr_alice", "usr_frank"])
    app = await make_appliance(**fake.env(SCAIFLOW_SUPER_ADMIN_GROUPS="grp_admins, other"))
    root = await root_headers(app)
    await sync(app, root)

    def grant(conn: sqlite3.Connection) -> None:
        user_rows.set_admin_role(conn, "tnt_acme", "usr_alice", "tenant_admin", "manual")
        user_rows.set_admin_role(conn, "tnt_acme", "usr_frank", "super_admin", "manual")
        user_rows.set_admin_role(conn, "tnt_acme", "usr_carol", None, None)

    await app.db.write(grant)
    result = await sync(app, root)
    assert (result["super_admins_group_promoted"], result["super_admins_group_demoted"],
            result["super_admin_count"]) == (1, 0, 3)  # carol; root and frank are manual

    def roles() -> dict[str, tuple[str | None, str | None]]:
        return {r[0]: (r[1], r[2]) for r in app.sql(
            "SELECT id, admin_role, admin_role_source FROM users")}

    assert roles() == {"usr_root": ("super_admin", "manual"),
                       "usr_carol": ("super_admin", "group"),
                       "usr_alice": ("tenant_admin", "manual"),
                       "usr_frank": ("super_admin", "manual")}
    for user in ("usr_carol", "usr_alice", "usr_frank"):
        fake.remove_member("grp_admins", user)
    result = await sync(app, root)
    assert (result["super_admins_group_promoted"], result["super_admins_group_demoted"],
            result["super_admin_count"]) == (0, 1, 2)
    assert roles() == {"usr_root": ("super_admin", "manual"), "usr_carol": (None, None),
                       "usr_alice": ("tenant_admin", "manual"),
                       "usr_frank": ("super_admin", "manual")}
    # A group-derived grant an operator re-grants by hand becomes manual, and stays.
    fake.add_member("grp_admins", "usr_carol")
    await sync(app, root)
    resp = await app.client.post("/api/v1/admin/users/usr_carol/role", headers=root,
                                 json={"role": "super_admin"})
    assert resp.status == 204
    fake.remove_member("grp_admins", "usr_carol")
    assert (await sync(app, root))["super_admins_group_demoted"] == 0
    assert roles()["usr_carol"] == ("super_admin", "manual")


async def test_not_configured_is_skipped_and_only_super_admins_sync(
        appliance: Appliance) -> None:
    root = await root_headers(appliance)
    result = await sync(appliance, root)
    # usr_operator (`init` bootstraps it on a box without ScaiKey) and usr_root
    assert result == {"skipped_reason": "credentials_missing", "users_method": None,
                      **expect(super_admin_count=2), "duration_seconds": 0.0}
    resp = await appliance.client.get(STATUS, headers=root)
    status = await resp.json()
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert status["configured"] is False and status["running"] is False
    assert status["last"]["ok"] is True and status["last"]["trigger"] == "manual"
    assert status["last"]["result"] == result
    assert status["webhooks"] == {"configured": False, "received_24h": 0, "handled_24h": 0,
                                  "last_received_at": None, "last_event_type": None}
    ta = await appliance.headers("usr_ta", "tnt_a", role="tenant_admin")
    for method, path in (("POST", SYNC), ("GET", STATUS), ("GET", "/api/v1/admin/groups")):
        resp = await appliance.client.request(method, path, headers=ta)
        assert resp.status == 403, path
        assert (await resp.json())["detail"]["error"] == "forbidden"
        assert (await appliance.client.request(method, path)).status == 401


async def test_a_sync_without_a_super_admin_says_how_to_make_one(
        app: Appliance, scaikey_server: FakeScaiKey, caplog: pytest.LogCaptureFixture) -> None:
    scaikey_server.remove_group("grp_admins")
    caplog.set_level(logging.WARNING, logger="scaiflow_box.services.directory_sync")
    result = await app.client.app[DIRECTORY_SYNC].sync(None, trigger="background")
    assert result["super_admin_count"] == 0
    [line] = [r.getMessage() for r in caplog.records if "no super admin" in r.getMessage()]
    assert "scaiflow-box admin grant <email> --role super_admin" in line
    assert "SCAIFLOW_SUPER_ADMIN_GROUPS" in line


async def test_scaikey_down_keeps_the_mirror_and_identity_works(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    root = await root_headers(app)
    await sync(app, root)
    alice = bearer(scaikey_server.mint(sub="usr_alice", tenant_id="tnt_acme"))
    before = users(app), live_memberships(app)
    scaikey_server.remove_user("usr_alice")
    scaikey_server.fail("groups", 503)  # half way: effective-users answers, groups do not
    body = await sync(app, root, status=502)
    assert body["detail"]["error"] == "scaikey_sync_failed"
    assert "groups answered HTTP 503" in body["detail"]["message"]
    assert (users(app), live_memberships(app)) == before  # nothing half-applied
    assert (await app.client.get(ME, headers=alice)).status == 200  # read-only identity
    await scaikey_server.stop()
    body = await sync(app, root, status=502)
    assert "connection failed" in body["detail"]["message"]
    status = await (await app.client.get(STATUS, headers=root)).json()
    assert status["last"]["ok"] is False and status["last"]["result"] is None
    assert status["last"]["error"] == "connection failed"
    assert (await app.client.get(ME, headers=alice)).status == 200


async def test_the_background_loop_survives_failures(
        app: Appliance, scaikey_server: FakeScaiKey, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="scaiflow_box.services.directory_sync")
    service = app.client.app[DIRECTORY_SYNC]
    await scaikey_server.stop()
    service.start(first_delay=0.0, interval=0.05)

    def failures() -> list[str]:
        return [r.getMessage() for r in caplog.records if "could not read ScaiKey" in
                r.getMessage()]

    deadline = time.monotonic() + 10
    while len(failures()) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert len(failures()) >= 2
    assert all("\n" not in line for line in failures())  # one line each, no traceback
    assert app.sql("SELECT count(*) FROM users WHERE source = 'scaikey'")[0][0] == 0
    await scaikey_server.start()
    while not app.sql("SELECT 1 FROM users WHERE id = 'usr_alice'") \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert app.sql("SELECT status FROM users WHERE id = 'usr_alice'")[0][0] == "ACTIVE"


async def test_the_background_sync_runs_shortly_after_start(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey,
        monkeypatch: pytest.MonkeyPatch) -> None:
    directory(scaikey_server)
    monkeypatch.setattr(directory_sync, "FIRST_RUN_DELAY_SECONDS", 0.05)
    app = await make_appliance(**scaikey_server.env(SCAIFLOW_SYNC_INTERVAL_MINUTES="60"))
    deadline = time.monotonic() + 10
    while not app.sql("SELECT 1 FROM users WHERE id = 'usr_dan'") \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    root = await root_headers(app)
    status = await (await app.client.get(STATUS, headers=root)).json()
    assert status["configured"] is True and status["interval_minutes"] == 60
    assert status["last"]["trigger"] == "background" and status["last"]["ok"] is True
    assert status["last"]["result"]["users_added"] == 4
    assert 3500 < status["next_run_in_seconds"] <= 3600


async def test_disabled_background_sync_never_runs(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(directory_sync, "FIRST_RUN_DELAY_SECONDS", 0.0)
    app = await make_appliance(**scaikey_server.env(SCAIFLOW_SYNC_INTERVAL_MINUTES="0"))
    await asyncio.sleep(0.2)
    assert scaikey_server.hits["effective_users"] == 0
    status = await (await app.client.get(STATUS, headers=await root_headers(app))).json()
    assert status["next_run_in_seconds"] is None and status["last"] is None


async def test_a_synced_user_beats_the_token_row_and_client_rows_stay(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    app = await make_appliance(**scaikey_server.env())
    token = scaikey_server.mint(sub="usr_alice", tenant_id="tnt_acme", email="old@acme.test",
                                name="Old Name")
    assert (await app.client.get(ME, headers={"Authorization": f"Bearer {token}"})).status == 200
    # A client-credentials token's subject is a client id, never in effective-users.
    ci = scaikey_server.mint(sub="ci-client", tenant_id="tnt_acme", email=None, name=None)
    assert (await app.client.get(ME, headers={"Authorization": f"Bearer {ci}"})).status == 200
    scaikey_server.add_user("usr_alice", email="alice@acme.test", display_name="Alice")
    result = await sync(app, await root_headers(app))
    assert (result["users_added"], result["users_soft_deleted"]) == (0, 0)
    rows = {r[0]: tuple(r)[1:] for r in app.sql(
        "SELECT id, email, display_name, source, deleted_at FROM users WHERE tenant_id ="
        " 'tnt_acme'")}
    assert rows == {"usr_alice": ("alice@acme.test", "Alice", "scaikey", None),
                    "ci-client": (None, None, "token", None)}
    resp = await app.client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert (await resp.json())["email"] == "alice@acme.test"


async def test_a_sync_of_thousands_of_users_does_not_block_the_event_loop(
        make_appliance: AppFactory, scaikey_server: FakeScaiKey) -> None:
    for n in range(3000):
        scaikey_server.add_user(f"usr_{n:05d}")
    scaikey_server.add_group("grp_all", members=[f"usr_{n:05d}" for n in range(0, 3000, 3)])
    app = await make_appliance(**scaikey_server.env())
    root = await root_headers(app)
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    task = asyncio.create_task(ticker())
    result = await sync(app, root)
    stop.set()
    await task
    assert (result["users_added"], result["memberships_added"]) == (3000, 1000)
    assert app.sql("SELECT count(*) FROM users WHERE source = 'scaikey'")[0][0] == 3000
    # The fake ScaiKey serves its pages on this same loop; the appliance's own work (the
    # diff, 4,000 inserts, the audit) runs in the writer thread. Measured: max ~5-13 ms.
    print(f"loop lag during the sync: max {max(lags) * 1000:.1f} ms over {len(lags)} ticks")
    # A sync that held the loop would show as one lag as long as the sync (seconds). One tick
    # of a loaded 2-core machine (the other xdist worker, two mariadbd) was once late by 244 ms
    # while every other stayed under 15 ms: one such hiccup is allowed, not two.
    worst = sorted(lags)[-5:]
    assert worst[-2] < 0.1 and worst[-1] < 0.5, worst


async def test_the_scheduled_sync_runs_only_where_its_lease_is_held(
        app: Appliance, scaikey_server: FakeScaiKey) -> None:
    """Another process holds the directory-sync lease: this one's scheduled runs leave ScaiKey
    alone; once the lease is given up, this process takes it and syncs."""
    keeper = app.client.app[LEASES]
    assert keeper.holds("directory_sync")  # the only process: taken at start
    await keeper.close()
    db = app.client.app[DB]
    await db.write(lambda conn: leases.take(conn, "directory_sync", "other-host:1:abc",
                                            time.time(), 3600))
    await keeper.renew()
    assert not keeper.holds("directory_sync")
    service = app.client.app[DIRECTORY_SYNC]
    service.start(first_delay=0.0, interval=0.02)
    await asyncio.sleep(0.3)  # fifteen turns of the loop, none of them this process's
    assert app.sql("SELECT count(*) FROM users WHERE source = 'scaikey'")[0][0] == 0

    await db.write(lambda conn: leases.release(conn, "directory_sync", "other-host:1:abc"))
    await keeper.renew()
    assert keeper.holds("directory_sync") and keeper.fences["directory_sync"] == 3
    deadline = time.monotonic() + 10
    while not app.sql("SELECT 1 FROM users WHERE id = 'usr_alice'") \
            and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert app.sql("SELECT 1 FROM users WHERE id = 'usr_alice'")
