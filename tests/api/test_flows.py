"""Flows API (SPEC §3): status, body and stored state for every call."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

from tests.conftest import Appliance, hello_content

FLOWS = "/api/v1/flows"


async def create(app: Appliance, headers: dict[str, str], name: str = "Support",
                 content: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    resp = await app.client.post(FLOWS, json={"name": name, "content": content or
                                              hello_content(name), **extra}, headers=headers)
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_create_stores_version_one_and_owns_ids(appliance: Appliance) -> None:
    headers = await appliance.headers("usr_alice", "tnt_a")
    resp = await appliance.client.post(FLOWS, headers=headers, json={
        "name": "Support", "description": "triage", "content": hello_content()})
    assert resp.status == 201
    body = await resp.json()
    assert resp.headers["ETag"] == '"1.0.0"'
    assert body["id"].startswith("flow_") and len(body["id"]) == 21
    assert body["version"] == "1.0.0"
    assert body["owner_id"] == "usr_alice" and body["tenant_id"] == "tnt_a"
    assert body["description"] == "triage"
    assert body["created_at"].endswith("Z")
    # The server owns content.id and content.version; unknown canvas keys round-trip.
    assert body["content"]["id"] == body["id"]
    assert body["content"]["version"] == "1.0.0"
    assert body["content"]["canvas_extra"] == {"zoom": 1.5}

    [flow] = appliance.sql("SELECT * FROM flows WHERE id = ?", body["id"])
    assert (flow["tenant_id"], flow["owner_id"], flow["version"]) == ("tnt_a", "usr_alice",
                                                                     "1.0.0")
    [version] = appliance.sql("SELECT * FROM flow_versions WHERE flow_id = ?", body["id"])
    assert version["storage_key"] == f"flows/tnt_a/{body['id']}/v1.0.0.flow.json"
    assert version["sha256"] == hashlib.sha256(version["content"]).hexdigest()
    assert json.loads(version["content"]) == body["content"]
    [audit] = appliance.sql("SELECT * FROM audit_log WHERE action = 'flow.created'")
    assert (audit["actor"], audit["tenant_id"], audit["target_id"]) == ("usr_alice", "tnt_a",
                                                                        body["id"])


async def test_content_may_omit_the_server_owned_id_and_version(appliance: Appliance) -> None:
    content = hello_content()
    del content["id"], content["version"]
    body = await create(appliance, await appliance.headers(), content=content)
    assert body["content"]["id"] == body["id"] and body["content"]["version"] == "1.0.0"
    resp = await appliance.client.put(f"{FLOWS}/{body['id']}", headers=await appliance.headers(),
                                      json={"content": content})
    assert resp.status == 200 and (await resp.json())["content"]["version"] == "1.0.1"


async def test_create_rejects_server_owned_fields(appliance: Appliance) -> None:
    headers = await appliance.headers()
    for field, value in (("tenant_id", "tnt_b"), ("owner_id", "usr_x"), ("version", "2.0.0")):
        resp = await appliance.client.post(FLOWS, headers=headers, json={
            "name": "x", "content": hello_content(), field: value})
        assert resp.status == 422
        body = await resp.json()
        assert body["detail"][0]["loc"] == ["body", field]
        assert body["detail"][0]["type"] == "extra_forbidden"
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0


async def test_create_rejects_structurally_invalid_content(appliance: Appliance) -> None:
    headers = await appliance.headers()
    content = hello_content()
    del content["nodes"][0]["position"]
    content["edges"][0]["type"] = "teleport"
    resp = await appliance.client.post(FLOWS, headers=headers,
                                       json={"name": "x", "content": content})
    assert resp.status == 422
    locs = [item["loc"] for item in (await resp.json())["detail"]]
    assert ["body", "content", "nodes", 0, "position"] in locs
    assert ["body", "content", "edges", 0, "type"] in locs
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0


async def test_saving_content_that_does_not_compile_is_allowed(appliance: Appliance) -> None:
    content = hello_content()
    content["nodes"] = [content["nodes"][1]]  # no entry node: a compile error, not a 422
    content["edges"] = []
    body = await create(appliance, await appliance.headers(), content=content)
    assert body["version"] == "1.0.0"


async def test_body_hygiene(appliance: Appliance) -> None:
    headers = await appliance.headers()
    resp = await appliance.client.post(FLOWS, headers=headers, data=b"name=x")
    assert resp.status == 415
    assert (await resp.json())["detail"]["error"] == "unsupported_media_type"
    resp = await appliance.client.post(FLOWS, headers={**headers,
                                       "Content-Type": "application/json"}, data=b"{nope")
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["type"] == "json_invalid"
    deep: Any = {}
    for _ in range(80):
        deep = {"a": deep}
    content = hello_content()
    content["metadata"] = deep
    resp = await appliance.client.post(FLOWS, headers=headers, json={"name": "x",
                                                                     "content": content})
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["type"] == "json_too_deep"
    huge = hello_content()
    huge["metadata"] = {"blob": "x" * (9 * 1024 * 1024)}
    resp = await appliance.client.post(FLOWS, headers=headers, json={"name": "x",
                                                                     "content": huge})
    assert resp.status == 413
    assert "limit" in (await resp.json())["detail"]["message"]
    resp = await appliance.client.post(FLOWS, headers=headers, json={"name": "",
                                                                     "content": hello_content()})
    assert resp.status == 422
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0


async def test_get_returns_detail_and_etag(appliance: Appliance) -> None:
    headers = await appliance.headers()
    created = await create(appliance, headers)
    resp = await appliance.client.get(f"{FLOWS}/{created['id']}", headers=headers)
    assert resp.status == 200
    assert resp.headers["ETag"] == '"1.0.0"'
    assert await resp.json() == created


async def test_other_tenant_and_unknown_flows_are_404(appliance: Appliance) -> None:
    created = await create(appliance, await appliance.headers("usr_alice", "tnt_a"))
    other = await appliance.headers("usr_eve", "tnt_b", role="super_admin")
    for method in ("GET", "PUT", "DELETE"):
        resp = await appliance.client.request(method, f"{FLOWS}/{created['id']}",
                                              headers=other, json={"name": "stolen"})
        assert resp.status == 404, method
        assert await resp.json() == {"detail": "Flow not found"}
    resp = await appliance.client.get(f"{FLOWS}/flow_doesnotexist0000",
                                      headers=await appliance.headers())
    assert resp.status == 404
    assert appliance.sql("SELECT name FROM flows")[0]["name"] == "Support"


async def test_put_content_bumps_patch_and_metadata_does_not(appliance: Appliance) -> None:
    headers = await appliance.headers()
    flow = await create(appliance, headers)
    url = f"{FLOWS}/{flow['id']}"
    content = hello_content()
    content["nodes"][1]["label"] = "Reply v2"
    resp = await appliance.client.put(url, headers=headers, json={"content": content})
    assert resp.status == 200
    body = await resp.json()
    assert body["version"] == "1.0.1" and resp.headers["ETag"] == '"1.0.1"'
    assert body["content"]["version"] == "1.0.1"
    assert body["content"]["nodes"][1]["label"] == "Reply v2"

    resp = await appliance.client.put(url, headers=headers, json={"name": "Renamed",
                                                                 "description": "d"})
    body = await resp.json()
    assert resp.status == 200
    assert (body["name"], body["description"], body["version"]) == ("Renamed", "d", "1.0.1")
    assert body["content"]["nodes"][1]["label"] == "Reply v2"
    versions = appliance.sql("SELECT version FROM flow_versions WHERE flow_id = ? ORDER BY seq",
                             flow["id"])
    assert [v["version"] for v in versions] == ["1.0.0", "1.0.1"]
    [row] = appliance.sql("SELECT name, version FROM flows WHERE id = ?", flow["id"])
    assert (row["name"], row["version"]) == ("Renamed", "1.0.1")


async def test_stale_if_match_is_412_and_changes_nothing(appliance: Appliance) -> None:
    headers = await appliance.headers()
    flow = await create(appliance, headers)
    url = f"{FLOWS}/{flow['id']}"
    resp = await appliance.client.put(url, headers={**headers, "If-Match": '"1.0.0"'},
                                      json={"content": hello_content()})
    assert resp.status == 200
    resp = await appliance.client.put(url, headers={**headers, "If-Match": '"1.0.0"'},
                                      json={"content": hello_content(), "name": "lost"})
    assert resp.status == 412
    detail = (await resp.json())["detail"]
    assert detail["error"] == "version_conflict" and detail["current_version"] == "1.0.1"
    resp = await appliance.client.delete(url, headers={**headers, "If-Match": '"1.0.0"'})
    assert resp.status == 412
    [row] = appliance.sql("SELECT name, version, deleted_at FROM flows WHERE id = ?", flow["id"])
    assert (row["name"], row["version"], row["deleted_at"]) == ("Support", "1.0.1", None)
    assert len(appliance.sql("SELECT 1 FROM flow_versions WHERE flow_id = ?", flow["id"])) == 2


async def test_fifty_concurrent_puts_make_fifty_versions(appliance: Appliance) -> None:
    headers = await appliance.headers()
    flow = await create(appliance, headers)
    url = f"{FLOWS}/{flow['id']}"

    async def put(i: int) -> str:
        content = hello_content()
        content["nodes"][1]["label"] = f"edit {i}"
        resp = await appliance.client.put(url, headers=headers, json={"content": content})
        assert resp.status == 200
        return str((await resp.json())["version"])

    versions = await asyncio.gather(*(put(i) for i in range(50)))
    assert len(set(versions)) == 50
    assert sorted(versions, key=lambda v: int(v.split(".")[2])) == [
        f"1.0.{i}" for i in range(1, 51)]
    rows = appliance.sql("SELECT version, content FROM flow_versions WHERE flow_id = ?"
                         " ORDER BY seq", flow["id"])
    assert len(rows) == 51
    labels = {json.loads(r["content"])["nodes"][1]["label"] for r in rows[1:]}
    assert labels == {f"edit {i}" for i in range(50)}  # no lost update
    [row] = appliance.sql("SELECT version FROM flows WHERE id = ?", flow["id"])
    assert row["version"] == "1.0.50"


async def test_list_search_visibility_and_cursor(appliance: Appliance) -> None:
    alice = await appliance.headers("usr_alice", "tnt_a")
    bob = await appliance.headers("usr_bob", "tnt_a")
    for i in range(5):
        await create(appliance, alice, name=f"Alpha {i}")
    await create(appliance, bob, name="Bob's private")
    await create(appliance, await appliance.headers("usr_x", "tnt_b"), name="Alpha other")

    resp = await appliance.client.get(FLOWS, headers=alice, params={"limit": "2"})
    page = await resp.json()
    assert resp.status == 200
    assert page["total"] == 5 and len(page["items"]) == 2 and page["next_cursor"]
    seen = [i["name"] for i in page["items"]]
    while page["next_cursor"]:
        resp = await appliance.client.get(FLOWS, headers=alice, params={
            "limit": "2", "cursor": page["next_cursor"]})
        page = await resp.json()
        seen += [i["name"] for i in page["items"]]
    assert sorted(seen) == [f"Alpha {i}" for i in range(5)]
    assert set(page["items"][0]) == {"id", "name", "description", "owner_id", "tenant_id",
                                     "version", "created_at", "updated_at"}

    resp = await appliance.client.get(FLOWS, headers=alice, params={"search": "ALPHA 3"})
    assert [i["name"] for i in (await resp.json())["items"]] == ["Alpha 3"]
    resp = await appliance.client.get(FLOWS, headers=bob)
    assert [i["name"] for i in (await resp.json())["items"]] == ["Bob's private"]
    admin = await appliance.headers("usr_admin", "tnt_a", role="tenant_admin")
    resp = await appliance.client.get(FLOWS, headers=admin)
    assert (await resp.json())["total"] == 6

    for bad in ({"limit": "0"}, {"limit": "501"}, {"limit": "x"}):
        resp = await appliance.client.get(FLOWS, headers=alice, params=bad)
        assert resp.status == 422
        assert (await resp.json())["detail"][0]["loc"] == ["query", "limit"]
    resp = await appliance.client.get(FLOWS, headers=alice, params={"cursor": "garbage!"})
    assert resp.status == 400
    assert (await resp.json())["detail"]["error"] == "invalid_cursor"


async def test_delete_is_soft_and_restore_needs_admin(appliance: Appliance) -> None:
    alice = await appliance.headers("usr_alice", "tnt_a")
    flow = await create(appliance, alice)
    url = f"{FLOWS}/{flow['id']}"
    resp = await appliance.client.delete(url, headers=alice)
    assert resp.status == 204
    assert (await appliance.client.get(url, headers=alice)).status == 404
    [row] = appliance.sql("SELECT deleted_at FROM flows WHERE id = ?", flow["id"])
    assert row["deleted_at"] is not None
    assert len(appliance.sql("SELECT 1 FROM flow_versions WHERE flow_id = ?", flow["id"])) == 1
    resp = await appliance.client.get(FLOWS, headers=alice)
    assert (await resp.json())["total"] == 0

    resp = await appliance.client.post(url + "/restore", headers=alice)
    assert resp.status == 404  # the owner is not an admin: no oracle for deleted flows
    admin = await appliance.headers("usr_admin", "tnt_a", role="tenant_admin")
    resp = await appliance.client.post(url + "/restore", headers=admin)
    assert resp.status == 200
    assert (await resp.json())["content"]["id"] == flow["id"]
    assert (await appliance.client.get(url, headers=alice)).status == 200
    actions = [r["action"] for r in appliance.sql("SELECT action FROM audit_log ORDER BY id")]
    assert "flow.deleted" in actions and "flow.restored" in actions


async def test_versions_get_diff_and_restore(appliance: Appliance) -> None:
    headers = await appliance.headers()
    flow = await create(appliance, headers)
    url = f"{FLOWS}/{flow['id']}"
    content = hello_content()
    content["nodes"][1]["label"] = "Changed"
    content["nodes"].append({"id": "node_new", "type": "llm_rigid", "label": "New",
                             "position": {"x": 1, "y": 2}, "config": {"template": "x"}})
    content["config"]["core_identity"]["name"] = "Other"
    await appliance.client.put(url, headers=headers, json={"content": content})

    resp = await appliance.client.get(url + "/versions", headers=headers)
    body = await resp.json()
    assert resp.status == 200
    assert [v["version"] for v in body["items"]] == ["1.0.1", "1.0.0"]
    assert body["next_cursor"] is None
    assert set(body["items"][0]) == {"version", "created_at", "created_by", "sha256",
                                     "size_bytes"}
    resp = await appliance.client.get(url + "/versions", headers=headers, params={"limit": "1"})
    page = await resp.json()
    resp = await appliance.client.get(url + "/versions", headers=headers,
                                      params={"limit": "1", "cursor": page["next_cursor"]})
    assert [v["version"] for v in (await resp.json())["items"]] == ["1.0.0"]

    resp = await appliance.client.get(url + "/versions/1.0.0", headers=headers)
    old = await resp.json()
    assert old["version"] == "1.0.0" and old["created_by"] == "usr_alice"
    assert old["content"]["nodes"][1]["label"] == "Reply"
    assert (await appliance.client.get(url + "/versions/9.9.9", headers=headers)).status == 404

    resp = await appliance.client.get(url + "/versions/1.0.1/diff", headers=headers)
    diff = await resp.json()
    assert diff["from"] == "1.0.0" and diff["to"] == "1.0.1"
    assert diff["nodes"]["added"] == ["node_new"] and diff["nodes"]["removed"] == []
    assert diff["nodes"]["changed"] == [{"id": "node_reply", "fields": ["label"]}]
    assert diff["config_changed"] is True and diff["metadata_changed"] is False
    resp = await appliance.client.get(url + "/versions/1.0.1/diff", headers=headers,
                                      params={"against": "1.0.1"})
    same = await resp.json()
    assert same["nodes"] == {"added": [], "removed": [], "changed": []}
    assert same["config_changed"] is False

    resp = await appliance.client.post(url + "/versions/1.0.0/restore", headers=headers)
    restored = await resp.json()
    assert resp.status == 200 and restored["version"] == "1.0.2"
    assert restored["content"]["nodes"][1]["label"] == "Reply"
    assert restored["content"]["version"] == "1.0.2"
    rows = appliance.sql("SELECT version FROM flow_versions WHERE flow_id = ? ORDER BY seq",
                         flow["id"])
    assert [r["version"] for r in rows] == ["1.0.0", "1.0.1", "1.0.2"]


async def test_deployments_list_is_empty_until_deploy_exists(appliance: Appliance) -> None:
    headers = await appliance.headers()
    flow = await create(appliance, headers)
    resp = await appliance.client.get(f"{FLOWS}/{flow['id']}/deployments", headers=headers)
    assert resp.status == 200
    assert await resp.json() == {"items": [], "next_cursor": None}


async def test_the_etag_moves_with_every_change(appliance: Appliance) -> None:
    headers = await appliance.headers()
    flow = await create(appliance, headers)
    url = f"{FLOWS}/{flow['id']}"
    resp = await appliance.client.put(url, headers={**headers, "If-Match": '"1.0.0"'},
                                      json={"name": "Renamed"})
    assert resp.status == 200 and resp.headers["ETag"] == '"1.0.0-1"'
    assert (await resp.json())["version"] == "1.0.0"  # metadata only: same version
    # The other editor still holds "1.0.0": their rename must not silently win.
    resp = await appliance.client.put(url, headers={**headers, "If-Match": '"1.0.0"'},
                                      json={"name": "Mine"})
    assert resp.status == 412
    detail = (await resp.json())["detail"]
    assert detail["error"] == "version_conflict"
    assert (detail["current_version"], detail["current_etag"]) == ("1.0.0", '"1.0.0-1"')
    # A weak tag never matches; a list matches any of its strong tags; * matches anything.
    resp = await appliance.client.put(url, headers={**headers, "If-Match": 'W/"1.0.0-1"'},
                                      json={"name": "Weak"})
    assert resp.status == 412
    resp = await appliance.client.put(url, headers={**headers,
                                                    "If-Match": '"0.9.9", "1.0.0-1"'},
                                      json={"description": "second"})
    assert resp.status == 200 and resp.headers["ETag"] == '"1.0.0-2"'
    resp = await appliance.client.get(url, headers=headers)
    assert resp.headers["ETag"] == '"1.0.0-2"'
    resp = await appliance.client.put(url, headers={**headers, "If-Match": "*"},
                                      json={"content": hello_content()})
    assert resp.status == 200 and resp.headers["ETag"] == '"1.0.1"'  # new version resets n
    # An unchanged name is no change: no new tag, no audit row.
    audits = len(appliance.sql("SELECT 1 FROM audit_log WHERE action = 'flow.updated'"))
    resp = await appliance.client.put(url, headers=headers, json={"name": "Renamed"})
    assert resp.headers["ETag"] == '"1.0.1"'
    assert len(appliance.sql("SELECT 1 FROM audit_log WHERE action = 'flow.updated'")) == audits
    [row] = appliance.sql("SELECT name, description, version, meta_rev FROM flows WHERE id = ?",
                          flow["id"])
    assert tuple(row) == ("Renamed", "second", "1.0.1", 0)
    # An ownership transfer changes the representation too.
    await appliance.user("usr_bob", "tnt_a")
    operator = await appliance.headers("usr_root", "tnt_a", role="super_admin")
    resp = await appliance.client.post(f"/api/v1/admin/flows/{flow['id']}/owner",
                                       headers=operator, json={"owner_id": "usr_bob"})
    assert resp.status == 200
    resp = await appliance.client.get(url, headers=operator)
    assert resp.headers["ETag"] == '"1.0.1-1"' and (await resp.json())["owner_id"] == "usr_bob"


async def test_an_if_match_without_a_strong_tag_says_so(appliance: Appliance) -> None:
    headers = await appliance.headers()
    flow = await create(appliance, headers)
    resp = await appliance.client.put(f"{FLOWS}/{flow['id']}", json={"name": "x"},
                                      headers={**headers, "If-Match": 'W/"1.0.0"'})
    assert resp.status == 412
    assert (await resp.json())["detail"]["message"] == \
        'If-Match names no strong entity-tag; the flow is at "1.0.0"'
    [row] = appliance.sql("SELECT name FROM flows WHERE id = ?", flow["id"])
    assert row["name"] == "Support"
