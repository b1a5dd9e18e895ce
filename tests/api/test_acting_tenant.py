"""A super admin acting in another tenant with `?tenant_id=` on the flow routes (the TUI's
Flows screen switches tenants this way); anyone else naming another tenant is refused."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Appliance, hello_content

FLOWS = "/api/v1/flows"


async def _flow_of(app: Appliance, sub: str, tenant: str, name: str) -> dict[str, Any]:
    headers = await app.headers(sub, tenant)
    resp = await app.client.post(FLOWS, headers=headers,
                                 json={"name": name, "content": hello_content(name)})
    assert resp.status == 201, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_a_super_admin_works_on_another_tenants_flow(appliance: Appliance) -> None:
    app = appliance
    flow = await _flow_of(app, "usr_alice", "tnt_a", "Support")
    await app.user("usr_bob", "tnt_a")
    sa = await app.headers("usr_root", "tnt_ops", role="super_admin")
    there = {"tenant_id": "tnt_a"}

    # without tenant_id the flow is not the super admin's tenant's: 404, as before
    resp = await app.client.get(f"{FLOWS}/{flow['id']}", headers=sa)
    assert resp.status == 404
    resp = await app.client.get(f"{FLOWS}/{flow['id']}", headers=sa, params=there)
    assert resp.status == 200
    assert (await resp.json())["id"] == flow["id"]
    etag = resp.headers["ETag"]

    resp = await app.client.get("/api/v1/admin/tenant/flows", headers=sa, params=there)
    assert resp.status == 200
    listed = await resp.json()
    assert [(f["id"], f["owner_id"]) for f in listed["items"]] == [(flow["id"], "usr_alice")]
    resp = await app.client.get("/api/v1/admin/tenant/flows", headers=sa)
    assert (await resp.json())["items"] == []  # its own tenant has none

    resp = await app.client.post(f"{FLOWS}/{flow['id']}/acls", headers={**sa, "If-Match": etag},
                                 params=there, json={"principal_type": "user",
                                                     "principal_id": "usr_bob",
                                                     "level": "view"})
    assert resp.status == 201, await resp.text()
    resp = await app.client.delete(f"{FLOWS}/{flow['id']}", headers=sa, params=there)
    assert resp.status == 204
    resp = await app.client.post(f"{FLOWS}/{flow['id']}/restore", headers=sa, params=there)
    assert resp.status == 200
    resp = await app.client.get(f"{FLOWS}/{flow['id']}/versions", headers=sa, params=there)
    assert [v["version"] for v in (await resp.json())["items"]] == ["1.0.0"]

    [row] = app.sql("SELECT tenant_id, deleted_at FROM flows WHERE id = ?", flow["id"])
    assert (row["tenant_id"], row["deleted_at"]) == ("tnt_a", None)
    [acl] = app.sql("SELECT tenant_id, principal_id, level FROM flow_acls WHERE flow_id = ?",
                    flow["id"])
    assert tuple(acl) == ("tnt_a", "usr_bob", "view")
    audits = app.sql("SELECT tenant_id, action, details FROM audit_log WHERE actor = 'usr_root'"
                     " ORDER BY id")
    assert [(a["tenant_id"], a["action"]) for a in audits] == [
        ("tnt_a", "acl.granted"), ("tnt_a", "flow.deleted"), ("tnt_a", "flow.restored")]
    assert "usr_bob" in json.dumps(json.loads(audits[0]["details"]))


async def test_nobody_else_names_another_tenant(appliance: Appliance) -> None:
    app = appliance
    flow = await _flow_of(app, "usr_alice", "tnt_a", "Support")
    owner = await app.headers("usr_alice", "tnt_a")
    admin_b = await app.headers("usr_tb", "tnt_b", role="tenant_admin")
    member_b = await app.headers("usr_mb", "tnt_b")
    for headers in (admin_b, member_b):
        for tenant in ("tnt_a", "tnt_nowhere"):  # the same answer: nothing about tnt_a leaks
            resp = await app.client.get(f"{FLOWS}/{flow['id']}", headers=headers,
                                        params={"tenant_id": tenant})
            assert resp.status == 403
            detail = (await resp.json())["detail"]
            assert detail["error"] == "forbidden" and "tenant_id" in detail["message"]
        resp = await app.client.delete(f"{FLOWS}/{flow['id']}", headers=headers,
                                       params={"tenant_id": "tnt_a"})
        assert resp.status == 403
        resp = await app.client.get("/api/v1/admin/tenant/flows", headers=headers,
                                    params={"tenant_id": "tnt_a"})
        assert resp.status == 403
    [row] = app.sql("SELECT deleted_at FROM flows WHERE id = ?", flow["id"])
    assert row["deleted_at"] is None
    # naming one's own tenant is the same as leaving it out
    resp = await app.client.get(f"{FLOWS}/{flow['id']}", headers=owner,
                                params={"tenant_id": "tnt_a"})
    assert resp.status == 200


async def test_a_bad_or_repeated_tenant_id_is_a_422(appliance: Appliance) -> None:
    app = appliance
    flow = await _flow_of(app, "usr_alice", "tnt_a", "Support")
    sa = await app.headers("usr_root", "tnt_ops", role="super_admin")
    resp = await app.client.get(f"{FLOWS}/{flow['id']}?tenant_id=tnt_a&tenant_id=tnt_b",
                                headers=sa)
    assert resp.status == 422
    [item] = (await resp.json())["detail"]
    assert (item["loc"], item["type"]) == (["query", "tenant_id"], "repeated_parameter")
    resp = await app.client.get(f"{FLOWS}/{flow['id']}", headers=sa,
                                params={"tenant_id": "tnt a/../b"})
    assert resp.status == 422
    [item] = (await resp.json())["detail"]
    assert (item["loc"], item["type"]) == (["query", "tenant_id"], "string_pattern_mismatch")


async def test_the_document_declares_it(appliance: Appliance) -> None:
    resp = await appliance.client.get("/api/v1/openapi.json")
    document = await resp.json()
    paths = document["paths"]

    def takes(method: str, path: str) -> bool:
        parameters = paths[path][method].get("parameters", [])
        return any(p["name"] == "tenant_id" and p["in"] == "query" for p in parameters)

    assert takes("get", "/api/v1/admin/tenant/flows")
    assert takes("get", "/api/v1/flows/{flow_id}")
    assert takes("post", "/api/v1/flows/{flow_id}/deploy")
    assert takes("delete", "/api/v1/flows/{flow_id}/acls/{acl_id}")
    assert not takes("get", "/api/v1/flows")  # the caller's list stays the caller's
    assert "403" in paths["/api/v1/flows/{flow_id}"]["get"]["responses"]
