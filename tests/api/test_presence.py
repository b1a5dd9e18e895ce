"""`/api/v1/flows/{flow_id}/presence` (SPEC §15): heartbeat, list and leave, with the view
ACL, `can_edit` from the ACL and the token's permissions, per-viewer state, other tenants 404,
expiry; and the operator's `GET /api/v1/admin/live-editing`."""

from __future__ import annotations

import asyncio
from typing import Any

from scaiflow_box.keys import PRESENCE
from tests.conftest import AppFactory, Appliance, hello_content

FLOWS = "/api/v1/flows"


async def _flow(app: Appliance, owner: dict[str, str]) -> str:
    resp = await app.client.post(FLOWS, json={"name": "Shared", "content": hello_content()},
                                 headers=owner)
    assert resp.status == 201
    flow_id: str = (await resp.json())["id"]
    return flow_id


async def _grant(app: Appliance, owner: dict[str, str], flow_id: str, user: str,
                 level: str) -> str:
    resp = await app.client.post(f"{FLOWS}/{flow_id}/acls", headers=owner, json={
        "principal_type": "user", "principal_id": user, "level": level})
    assert resp.status == 201, await resp.text()
    acl_id: str = (await resp.json())["id"]
    return acl_id


async def _beat(app: Appliance, headers: dict[str, str], flow_id: str, client_id: str,
                state: Any = None) -> tuple[int, Any]:
    body: dict[str, Any] = {"client_id": client_id}
    if state is not None:
        body["state"] = state
    resp = await app.client.post(f"{FLOWS}/{flow_id}/presence", headers=headers, json=body)
    return resp.status, await resp.json()


def _summary(viewers: list[dict[str, Any]]) -> list[tuple[str, str, bool, Any]]:
    return [(v["user_id"], v["client_id"], v["can_edit"], v["state"]) for v in viewers]


async def test_heartbeat_list_and_leave(appliance: Appliance) -> None:
    app = appliance
    owner = await app.headers("usr_owner")
    flow_id = await _flow(app, owner)
    viewer = await app.headers("usr_viewer")
    editor = await app.headers("usr_editor")
    await _grant(app, owner, flow_id, "usr_viewer", "view")
    await _grant(app, owner, flow_id, "usr_editor", "edit")

    status, body = await _beat(app, owner, flow_id, "tab-o", {"selection": ["node_entry"]})
    assert status == 200
    [me] = body["viewers"]
    assert set(me) == {"user_id", "display_name", "client_id", "can_edit", "state",
                       "last_seen"}
    assert me["last_seen"].endswith("Z")
    await _beat(app, viewer, flow_id, "tab-v")
    status, body = await _beat(app, editor, flow_id, "tab-e", {"cursor": {"x": 1}})
    assert _summary(body["viewers"]) == [
        ("usr_owner", "tab-o", True, {"selection": ["node_entry"]}),
        ("usr_viewer", "tab-v", False, {}),
        ("usr_editor", "tab-e", True, {"cursor": {"x": 1}})]
    # A token without scaicore:manage cannot edit, whatever the ACL says.
    reader = await app.headers("usr_owner", scope="scaicore:view")
    status, body = await _beat(app, reader, flow_id, "tab-o2")
    assert body["viewers"][-1]["can_edit"] is False

    resp = await app.client.get(f"{FLOWS}/{flow_id}/presence", headers=viewer)
    assert resp.status == 200
    assert len((await resp.json())["viewers"]) == 4
    resp = await app.client.delete(f"{FLOWS}/{flow_id}/presence?client_id=tab-v",
                                   headers=viewer)
    assert resp.status == 204
    # Someone else's client id is left alone.
    resp = await app.client.delete(f"{FLOWS}/{flow_id}/presence?client_id=tab-e",
                                   headers=viewer)
    assert resp.status == 204
    resp = await app.client.get(f"{FLOWS}/{flow_id}/presence", headers=owner)
    assert [v["client_id"] for v in (await resp.json())["viewers"]] == [
        "tab-o", "tab-e", "tab-o2"]
    assert [v.client_id for v in app.client.app[PRESENCE].board.viewers(flow_id)] == [
        "tab-o", "tab-e", "tab-o2"]


async def test_no_view_acl_and_other_tenants_are_404(appliance: Appliance) -> None:
    app = appliance
    owner = await app.headers("usr_owner")
    flow_id = await _flow(app, owner)
    await _beat(app, owner, flow_id, "tab-o")
    outsider = await app.headers("usr_outsider")
    foreign_admin = await app.headers("usr_eve", "tnt_b", role="super_admin")
    for headers in (outsider, foreign_admin):
        status, body = await _beat(app, headers, flow_id, "tab-x")
        assert (status, body) == (404, {"detail": "Flow not found"})
        resp = await app.client.get(f"{FLOWS}/{flow_id}/presence", headers=headers)
        assert (resp.status, await resp.json()) == (404, {"detail": "Flow not found"})
        resp = await app.client.delete(f"{FLOWS}/{flow_id}/presence?client_id=tab-o",
                                       headers=headers)
        assert resp.status == 404
    status, body = await _beat(app, owner, "flow_nonexistent000000", "tab-o")
    assert status == 404
    # Nothing changed: the owner is still the only viewer.
    assert _summary([v.as_dict() for v in app.client.app[PRESENCE].board.viewers(flow_id)]
                    ) == [("usr_owner", "tab-o", True, {})]
    resp = await app.client.get(f"{FLOWS}/{flow_id}/presence")
    assert (resp.status, await resp.json()) == (401, {"detail": "Not authenticated"})


async def test_bad_heartbeats_are_422_and_change_nothing(appliance: Appliance) -> None:
    app = appliance
    owner = await app.headers("usr_owner")
    flow_id = await _flow(app, owner)
    cases: list[tuple[Any, list[Any]]] = [
        ({}, ["body", "client_id"]),
        ({"client_id": ""}, ["body", "client_id"]),
        ({"client_id": "a b"}, ["body", "client_id"]),
        ({"client_id": "x" * 101}, ["body", "client_id"]),
        ({"client_id": "tab", "state": "not an object"}, ["body", "state"]),
        ({"client_id": "tab", "state": {"blob": "x" * 5000}}, ["body", "state"]),
        ({"client_id": "tab", "tenant_id": "tnt_b"}, ["body", "tenant_id"]),
    ]
    for body, loc in cases:
        resp = await app.client.post(f"{FLOWS}/{flow_id}/presence", headers=owner, json=body)
        assert resp.status == 422, body
        assert (await resp.json())["detail"][0]["loc"] == loc
    resp = await app.client.delete(f"{FLOWS}/{flow_id}/presence", headers=owner)
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == ["query", "client_id"]
    assert app.client.app[PRESENCE].board.viewers(flow_id) == []


async def test_viewers_expire_after_their_last_heartbeat(make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_PRESENCE_EXPIRY_SECONDS="0.5")
    owner = await app.headers("usr_owner")
    flow_id = await _flow(app, owner)
    await _beat(app, owner, flow_id, "tab-1")
    await asyncio.sleep(0.6)
    status, body = await _beat(app, owner, flow_id, "tab-2")
    assert status == 200
    assert [v["client_id"] for v in body["viewers"]] == ["tab-2"]
    await asyncio.sleep(1.6)  # the once-a-second sweep removes it from the board too
    assert app.client.app[PRESENCE].board.flows() == []


async def test_the_operator_sees_who_edits_which_flow(appliance: Appliance) -> None:
    app = appliance
    alice = await app.headers("usr_alice", "tnt_a")
    bob = await app.headers("usr_bob", "tnt_b")
    flow_a = await _flow(app, alice)
    flow_b = await _flow(app, bob)
    await _beat(app, alice, flow_a, "tab-a", {"selection": []})
    await _beat(app, bob, flow_b, "tab-b")
    root = await app.headers("usr_root", "tnt_a", role="super_admin")
    resp = await app.client.get("/api/v1/admin/live-editing", headers=root)
    assert resp.status == 200
    flows = (await resp.json())["flows"]
    assert [(f["tenant_id"], f["flow_id"], f["name"], f["connections"], f["editors"],
             f["document_bytes"], [v["client_id"] for v in f["viewers"]]) for f in flows] == [
        ("tnt_a", flow_a, "Shared", 0, 0, None, ["tab-a"]),
        ("tnt_b", flow_b, "Shared", 0, 0, None, ["tab-b"])]
    tenant_admin = await app.headers("usr_ta", "tnt_b", role="tenant_admin")
    resp = await app.client.get("/api/v1/admin/live-editing", headers=tenant_admin)
    assert [f["flow_id"] for f in (await resp.json())["flows"]] == [flow_b]
    resp = await app.client.get("/api/v1/admin/live-editing", headers=alice)
    assert resp.status == 403
    assert (await resp.json())["detail"]["error"] == "forbidden"
