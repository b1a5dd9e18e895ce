"""Per-flow ACLs (SPEC §2.3, §4) and the permission matrix over the flow endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_flows import FLOWS, create
from tests.conftest import Appliance, hello_content


async def grant(app: Appliance, headers: dict[str, str], flow_id: str, principal_id: str,
                level: str, principal_type: str = "user") -> dict[str, Any]:
    resp = await app.client.post(f"{FLOWS}/{flow_id}/acls", headers=headers, json={
        "principal_type": principal_type, "principal_id": principal_id, "level": level})
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_acl_lifecycle(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    await appliance.user("usr_bob", "tnt_a")
    flow = await create(appliance, owner)
    acl = await grant(appliance, owner, flow["id"], "usr_bob", "view")
    assert acl["id"].startswith("acl_")
    assert {k: acl[k] for k in ("flow_id", "principal_type", "principal_id", "level",
                                "granted_by")} == {
        "flow_id": flow["id"], "principal_type": "user", "principal_id": "usr_bob",
        "level": "view", "granted_by": "usr_owner"}
    resp = await appliance.client.get(f"{FLOWS}/{flow['id']}/acls", headers=owner)
    assert await resp.json() == [acl]  # a bare array, explicit grants only (no owner row)

    resp = await appliance.client.patch(f"{FLOWS}/{flow['id']}/acls/{acl['id']}",
                                        headers=owner, json={"level": "edit"})
    assert resp.status == 200 and (await resp.json())["level"] == "edit"
    [row] = appliance.sql("SELECT level FROM flow_acls WHERE id = ?", acl["id"])
    assert row["level"] == "edit"

    resp = await appliance.client.delete(f"{FLOWS}/{flow['id']}/acls/{acl['id']}",
                                         headers=owner)
    assert resp.status == 204
    assert appliance.sql("SELECT * FROM flow_acls") == []
    actions = [r["action"] for r in appliance.sql(
        "SELECT action FROM audit_log WHERE action LIKE 'acl.%' ORDER BY id")]
    assert actions == ["acl.granted", "acl.changed", "acl.revoked"]
    resp = await appliance.client.delete(f"{FLOWS}/{flow['id']}/acls/{acl['id']}",
                                         headers=owner)
    assert resp.status == 404


async def test_acl_errors(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    await appliance.user("usr_bob", "tnt_a")
    await appliance.user("usr_carol", "tnt_b")
    flow = await create(appliance, owner)
    url = f"{FLOWS}/{flow['id']}/acls"
    cases = [
        ({"principal_type": "user", "principal_id": "usr_bob", "level": "owner"}, 400,
         "invalid_level"),
        ({"principal_type": "robot", "principal_id": "usr_bob", "level": "view"}, 400,
         "invalid_principal_type"),
        ({"principal_type": "user", "principal_id": "usr_nobody", "level": "view"}, 404,
         "principal_not_found"),
        ({"principal_type": "user", "principal_id": "usr_carol", "level": "view"}, 404,
         "principal_not_found"),  # another tenant's user is unknown here
        ({"principal_type": "group", "principal_id": "grp_none", "level": "view"}, 404,
         "principal_not_found"),
        ({"principal_type": "user", "principal_id": "usr_owner", "level": "view"}, 400,
         "owner_is_implicit_admin"),
    ]
    for body, status, error in cases:
        resp = await appliance.client.post(url, headers=owner, json=body)
        assert resp.status == status, body
        detail = (await resp.json())["detail"]
        assert detail["error"] == error
    await grant(appliance, owner, flow["id"], "usr_bob", "view")
    resp = await appliance.client.post(url, headers=owner, json={
        "principal_type": "user", "principal_id": "usr_bob", "level": "edit"})
    assert resp.status == 409
    assert "PATCH" in (await resp.json())["detail"]["fix"]
    resp = await appliance.client.post(url, headers=owner, json={
        "principal_type": "user", "principal_id": "usr_bob", "level": "edit", "extra": 1})
    assert resp.status == 422
    assert [r["level"] for r in appliance.sql("SELECT level FROM flow_acls")] == ["view"]


async def test_acl_changes_honour_if_match(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    await appliance.user("usr_bob", "tnt_a")
    flow = await create(appliance, owner)
    resp = await appliance.client.post(
        f"{FLOWS}/{flow['id']}/acls", headers={**owner, "If-Match": '"0.9.0"'},
        json={"principal_type": "user", "principal_id": "usr_bob", "level": "view"})
    assert resp.status == 412
    assert (await resp.json())["detail"]["current_version"] == "1.0.0"
    assert appliance.sql("SELECT * FROM flow_acls") == []


LEVEL_CAN = {
    # action: the lowest level that may do it
    "get": "view", "versions": "view", "put": "edit", "acls": "admin", "delete": "admin",
}
RANK = ["none", "view", "edit", "deploy", "admin"]


async def _attempt(app: Appliance, headers: dict[str, str], flow_id: str, action: str) -> int:
    url = f"{FLOWS}/{flow_id}"
    if action == "get":
        resp = await app.client.get(url, headers=headers)
    elif action == "versions":
        resp = await app.client.get(url + "/versions", headers=headers)
    elif action == "put":
        resp = await app.client.put(url, headers=headers, json={"content": hello_content()})
    elif action == "acls":
        resp = await app.client.get(url + "/acls", headers=headers)
    else:
        resp = await app.client.delete(url, headers=headers)
    return resp.status


@pytest.mark.parametrize("level", RANK)
async def test_permission_matrix_per_acl_level(appliance: Appliance, level: str) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    member = await appliance.headers("usr_member", "tnt_a")
    flow = await create(appliance, owner)
    if level != "none":
        await grant(appliance, owner, flow["id"], "usr_member", level)
    for action in ("get", "versions", "put", "acls", "delete"):
        status = await _attempt(appliance, member, flow["id"], action)
        allowed = level != "none" and RANK.index(level) >= RANK.index(LEVEL_CAN[action])
        if allowed:
            assert status in (200, 204), (level, action, status)
        elif level == "none":
            assert status == 404, (level, action, status)  # no existence oracle
        else:
            assert status == 403, (level, action, status)


async def test_group_grants_resolve_through_memberships(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    member = await appliance.headers("usr_member", "tnt_a")
    await appliance.group("grp_team", "tnt_a", ["usr_member"])
    flow = await create(appliance, owner)
    await grant(appliance, owner, flow["id"], "grp_team", "edit", principal_type="group")
    assert await _attempt(appliance, member, flow["id"], "put") == 200
    assert await _attempt(appliance, member, flow["id"], "delete") == 403
    resp = await appliance.client.get(FLOWS, headers=member)
    assert [i["id"] for i in (await resp.json())["items"]] == [flow["id"]]
    # Leaving the group takes the access away.
    await appliance.db.write(lambda c: c.execute(
        "UPDATE memberships SET deleted_at = 'x' WHERE user_id = 'usr_member'"))
    assert await _attempt(appliance, member, flow["id"], "get") == 404


@pytest.mark.parametrize("who", ["owner", "tenant_admin", "super_admin"])
async def test_implicit_admins_can_do_everything(appliance: Appliance, who: str) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    flow = await create(appliance, owner)
    headers = owner if who == "owner" else await appliance.headers(f"usr_{who}", "tnt_a",
                                                                   role=who)
    for action in ("get", "versions", "put", "acls", "delete"):
        assert await _attempt(appliance, headers, flow["id"], action) in (200, 204), action


async def test_missing_permission_is_403_with_fix(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    flow = await create(appliance, owner)
    viewer = await appliance.headers("usr_owner", "tnt_a", scope="scaicore:view")
    resp = await appliance.client.put(f"{FLOWS}/{flow['id']}", headers=viewer,
                                      json={"name": "nope"})
    assert resp.status == 403
    detail = (await resp.json())["detail"]
    assert detail["error"] == "missing_permission"
    assert detail["fix"] == "Caller needs `scaicore:manage` on this tenant."
    resp = await appliance.client.post(FLOWS, headers=viewer,
                                       json={"name": "x", "content": hello_content()})
    assert resp.status == 403
    assert (await appliance.client.get(f"{FLOWS}/{flow['id']}", headers=viewer)).status == 200
    other_scope = await appliance.headers("usr_owner", "tnt_a", scope="openid profile")
    # No scaicore:* scope: the configured default (view + manage) applies.
    assert (await appliance.client.put(f"{FLOWS}/{flow['id']}", headers=other_scope,
                                       json={"name": "ok"})).status == 200
    [row] = appliance.sql("SELECT name FROM flows")
    assert row["name"] == "ok"
