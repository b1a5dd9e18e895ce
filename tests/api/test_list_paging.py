"""Keyset paging of the lists (issue 16): flows as owner, member and admin; admin users and
groups. Every page is checked against the stored rows; cursors are signed and bound to their
list."""

from __future__ import annotations

from typing import Any

import orjson

from tests.conftest import Appliance, hello_content

FLOWS = "/api/v1/flows"
ADMIN = "/api/v1/admin"


async def _create(app: Appliance, headers: dict[str, str], name: str) -> str:
    resp = await app.client.post(FLOWS, headers=headers,
                                 json={"name": name, "content": hello_content(name)})
    assert resp.status == 201, await resp.text()
    flow_id: str = (await resp.json())["id"]
    return flow_id


async def _grant(app: Appliance, headers: dict[str, str], flow_id: str, principal_type: str,
                 principal_id: str) -> None:
    resp = await app.client.post(f"{FLOWS}/{flow_id}/acls", headers=headers, json={
        "principal_type": principal_type, "principal_id": principal_id, "level": "view"})
    assert resp.status == 201, await resp.text()


async def _pages(app: Appliance, path: str, headers: dict[str, str], key: str,
                 **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every item, following next_cursor; and every page's body."""
    items: list[dict[str, Any]] = []
    bodies: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        resp = await app.client.get(path, headers=headers, params=query)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        bodies.append(body)
        items += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return items, bodies


def _expected_order(app: Appliance, ids: set[str]) -> list[str]:
    rows = app.sql("SELECT id FROM flows ORDER BY created_at DESC, id DESC")
    return [row["id"] for row in rows if row["id"] in ids]


async def test_member_pages_own_and_granted_flows_newest_first(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    member = await appliance.headers("usr_member", "tnt_a")
    await appliance.group("grp_readers", "tnt_a", ["usr_member"])
    mine = [await _create(appliance, member, f"Mine {i}") for i in range(3)]
    theirs = [await _create(appliance, owner, f"Theirs {i}") for i in range(6)]
    await _grant(appliance, owner, theirs[0], "user", "usr_member")
    await _grant(appliance, owner, theirs[1], "group", "grp_readers")
    await _grant(appliance, owner, theirs[2], "user", "usr_member")  # and through the group:
    await _grant(appliance, owner, theirs[2], "group", "grp_readers")  # listed once
    # A granted flow that is deleted, and one of the member's own, are not listed.
    assert (await appliance.client.delete(f"{FLOWS}/{theirs[1]}", headers=owner)).status == 204
    assert (await appliance.client.delete(f"{FLOWS}/{mine[0]}", headers=member)).status == 204
    visible = {mine[1], mine[2], theirs[0], theirs[2]}

    items, bodies = await _pages(appliance, FLOWS, member, "items", limit="1")
    assert [i["id"] for i in items] == _expected_order(appliance, visible)
    assert [b["total"] for b in bodies] == [4] * 4
    assert len(bodies) == 4 and all(len(b["items"]) == 1 for b in bodies)
    # Each item is the FlowSummary, the same bytes GET /flows/{id} starts with.
    detail = await (await appliance.client.get(f"{FLOWS}/{theirs[0]}", headers=member)).json()
    [listed] = [i for i in items if i["id"] == theirs[0]]
    assert listed == {k: v for k, v in detail.items() if k != "content"}

    # Leaving the group takes its grants away from the list and from the total.
    await appliance.db.write(lambda conn: conn.execute(
        "UPDATE memberships SET deleted_at = 'x' WHERE user_id = 'usr_member'"))
    items, bodies = await _pages(appliance, FLOWS, member, "items", limit="3")
    assert [i["id"] for i in items] == _expected_order(appliance, visible)
    assert bodies[0]["total"] == 4  # theirs[2] is still granted to the user directly
    await appliance.db.write(lambda conn: conn.execute(
        "DELETE FROM flow_acls WHERE principal_type = 'user'"))
    items, bodies = await _pages(appliance, FLOWS, member, "items")
    assert [i["id"] for i in items] == _expected_order(appliance, {mine[1], mine[2]})
    assert bodies[0]["total"] == 2

    # An admin sees every live flow of the tenant; search narrows items and total alike.
    admin = await appliance.headers("usr_ta", "tnt_a", role="tenant_admin")
    items, bodies = await _pages(appliance, FLOWS, admin, "items", limit="4")
    live = {r["id"] for r in appliance.sql("SELECT id FROM flows WHERE deleted_at IS NULL")}
    assert [i["id"] for i in items] == _expected_order(appliance, live)
    assert bodies[0]["total"] == len(live) == 7
    items, bodies = await _pages(appliance, FLOWS, admin, "items", search="THEIRS", limit="2")
    assert [i["id"] for i in items] == _expected_order(appliance, set(theirs) - {theirs[1]})
    assert bodies[0]["total"] == 5


async def test_stored_summaries_follow_every_change(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    await appliance.user("usr_next", "tnt_a")
    flow_id = await _create(appliance, owner, "First")
    url = f"{FLOWS}/{flow_id}"
    resp = await appliance.client.put(url, headers=owner, json={
        "name": 'Renamed "quoted" \u00e9\u2028', "description": "two\nlines",
        "content": hello_content("v2")})
    assert resp.status == 200
    root = await appliance.headers("usr_root", "tnt_a", role="super_admin")
    resp = await appliance.client.post(f"{ADMIN}/flows/{flow_id}/owner", headers=root,
                                       json={"owner_id": "usr_next"})
    assert resp.status == 200
    [row] = appliance.sql("SELECT * FROM flows WHERE id = ?", flow_id)
    expected = {k: row[k] for k in ("id", "name", "description", "owner_id", "tenant_id",
                                    "version", "created_at", "updated_at")}
    assert orjson.loads(row["summary"]) == expected
    assert expected["version"] == "1.0.1" and expected["owner_id"] == "usr_next"
    body = await (await appliance.client.get(FLOWS, headers=root)).json()
    assert body["items"] == [expected]
    # The per-owner count moved with the flow: each owner's `total` (SQLite's counter row;
    # MariaDB's shards, store/flow_counts.py).
    for user, total in (("usr_owner", 0), ("usr_next", 1)):
        headers = await appliance.headers(user, "tnt_a")
        body = await (await appliance.client.get(FLOWS, headers=headers)).json()
        assert (body["total"], len(body["items"])) == (total, total), user
    if appliance.settings.database_url is None:
        counts = {(r["owner_id"], r["live"]) for r in appliance.sql(
            "SELECT owner_id, live FROM flow_owner_counts")}
        assert counts == {("usr_owner", 0), ("usr_next", 1)}


async def test_admin_users_and_groups_page_with_bound_cursors(appliance: Appliance) -> None:
    for i in range(5):
        await appliance.user(f"usr_a{i}", "tnt_a", email=f"a{i}@example.com")
        await appliance.user(f"usr_b{i}", "tnt_b")
    for name in ("grp_beta", "grp_Alpha", "grp_gamma"):  # the name is the id here
        await appliance.group(name, "tnt_a", ["usr_a0"])
    await appliance.group("grp_other", "tnt_b", [])
    root = await appliance.headers("usr_root", "tnt_a", role="super_admin")

    users, bodies = await _pages(appliance, ADMIN + "/users", root, "users", limit="3")
    stored = [(r["tenant_id"], r["id"]) for r in appliance.sql(
        "SELECT tenant_id, id FROM users WHERE deleted_at IS NULL ORDER BY tenant_id, id")]
    assert [(u["tenant_id"], u["id"]) for u in users] == stored
    assert len(stored) >= 12  # ours, the caller and the bootstrap operator
    assert [len(b["users"]) for b in bodies] == [3] * (len(stored) // 3) + (
        [len(stored) % 3] if len(stored) % 3 else [])

    # A cursor is bound to the list that issued it and cannot be edited.
    cursor = bodies[0]["next_cursor"]
    ta = await appliance.headers("usr_ta", "tnt_a", role="tenant_admin")
    resp = await appliance.client.get(ADMIN + "/tenant/users", headers=ta,
                                      params={"cursor": cursor})
    assert resp.status == 400
    assert (await resp.json())["detail"]["error"] == "invalid_cursor"
    resp = await appliance.client.get(ADMIN + "/users", headers=root,
                                      params={"cursor": "x" + cursor})
    assert resp.status == 400

    mine, _ = await _pages(appliance, ADMIN + "/tenant/users", ta, "users", limit="2")
    assert [u["id"] for u in mine] == [r["id"] for r in appliance.sql(
        "SELECT id FROM users WHERE tenant_id = 'tnt_a' AND deleted_at IS NULL ORDER BY id")]
    assert "usr_ta" in {u["id"] for u in mine} and "usr_b0" not in {u["id"] for u in mine}
    members, _ = await _pages(appliance, ADMIN + "/users", root, "users", limit="1",
                              group_id="grp_beta")
    assert [u["id"] for u in members] == ["usr_a0"]

    groups, bodies = await _pages(appliance, ADMIN + "/groups", root, "groups", limit="2")
    assert [(g["tenant_id"], g["name"]) for g in groups] == [
        ("tnt_a", "grp_Alpha"), ("tnt_a", "grp_beta"), ("tnt_a", "grp_gamma"),
        ("tnt_b", "grp_other")]  # names compared without case
    assert [len(b["groups"]) for b in bodies] == [2, 2]
    assert groups[0]["member_count"] == 1
