"""Admin router (SPEC §12): roles, ownership transfer, service tokens, audit."""

from __future__ import annotations

from tests.api.test_flows import FLOWS, create
from tests.conftest import Appliance

ADMIN = "/api/v1/admin"


async def test_only_super_admins_list_all_users(appliance: Appliance) -> None:
    await appliance.user("usr_b1", "tnt_b", email="b1@example.com")
    sa = await appliance.headers("usr_root", "tnt_a", role="super_admin")
    resp = await appliance.client.get(ADMIN + "/users", headers=sa,
                                      params={"tenant_id": "tnt_b"})
    body = await resp.json()
    assert resp.status == 200
    assert [u["id"] for u in body["users"]] == ["usr_b1"]
    assert set(body["users"][0]) == {"id", "tenant_id", "email", "display_name", "status",
                                     "issuer", "admin_role", "admin_role_source",
                                     "deleted_at", "last_synced_at"}
    assert body["users"][0]["issuer"] == "local"
    ta = await appliance.headers("usr_ta", "tnt_a", role="tenant_admin")
    resp = await appliance.client.get(ADMIN + "/users", headers=ta)
    assert resp.status == 403
    resp = await appliance.client.get(ADMIN + "/tenant/users", headers=ta)
    ids = {u["id"] for u in (await resp.json())["users"]}
    assert "usr_ta" in ids and "usr_b1" not in ids
    plain = await appliance.headers("usr_plain", "tnt_a")
    assert (await appliance.client.get(ADMIN + "/tenant/users", headers=plain)).status == 403


async def test_role_rules(appliance: Appliance) -> None:
    await appliance.user("usr_x", "tnt_a")
    await appliance.user("usr_other", "tnt_b")
    ta = await appliance.headers("usr_ta", "tnt_a", role="tenant_admin")
    resp = await appliance.client.post(ADMIN + "/users/usr_x/role", headers=ta,
                                       json={"role": "tenant_admin"})
    assert resp.status == 204
    [row] = appliance.sql("SELECT admin_role, admin_role_source FROM users WHERE id = 'usr_x'")
    assert tuple(row) == ("tenant_admin", "manual")
    resp = await appliance.client.post(ADMIN + "/users/usr_x/role", headers=ta,
                                       json={"role": "super_admin"})
    assert resp.status == 403
    # SPEC §12: a tenant admin acts only within their tenant (else 403); an id that exists
    # nowhere gets the same answer, so the 403 says nothing about other tenants.
    for target in ("usr_other", "usr_nowhere"):
        resp = await appliance.client.post(ADMIN + f"/users/{target}/role", headers=ta,
                                           json={"role": "tenant_admin"})
        body = await resp.json()
        assert resp.status == 403, target
        assert body["detail"]["error"] == "forbidden"
        assert f"no user '{target}' in your tenant" in body["detail"]["message"]
        resp = await appliance.client.delete(ADMIN + f"/users/{target}/role", headers=ta)
        assert resp.status == 403, target
    sa = await appliance.headers("usr_root", "tnt_z", role="super_admin")
    resp = await appliance.client.post(ADMIN + "/users/usr_nowhere/role", headers=sa,
                                       json={"role": "tenant_admin"})
    assert resp.status == 404  # a super admin sees every tenant: unknown is unknown
    resp = await appliance.client.post(ADMIN + "/users/usr_x/role", headers=ta,
                                       json={"role": "owner"})
    assert resp.status == 422
    resp = await appliance.client.delete(ADMIN + "/users/usr_x/role", headers=ta)
    assert resp.status == 204
    [row] = appliance.sql("SELECT admin_role FROM users WHERE id = 'usr_x'")
    assert row["admin_role"] is None
    [other] = appliance.sql("SELECT admin_role FROM users WHERE id = 'usr_other'")
    assert other["admin_role"] is None


async def test_ownership_moves_only_through_a_super_admin(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    await appliance.user("usr_new", "tnt_a")
    flow = await create(appliance, owner)
    ta = await appliance.headers("usr_ta", "tnt_a", role="tenant_admin")
    url = f"{ADMIN}/flows/{flow['id']}/owner"
    assert (await appliance.client.post(url, headers=ta,
                                        json={"owner_id": "usr_new"})).status == 403
    sa = await appliance.headers("usr_root", "tnt_z", role="super_admin")
    resp = await appliance.client.post(url, headers=sa, json={"owner_id": "usr_nobody"})
    assert resp.status == 404
    assert (await resp.json())["detail"]["error"] == "principal_not_found"
    resp = await appliance.client.post(url, headers=sa, json={"owner_id": "usr_new"})
    assert resp.status == 200 and (await resp.json())["owner_id"] == "usr_new"
    [row] = appliance.sql("SELECT owner_id FROM flows WHERE id = ?", flow["id"])
    assert row["owner_id"] == "usr_new"
    # The old owner has no implicit admin any more: the flow is invisible to them.
    resp = await appliance.client.get(f"{FLOWS}/{flow['id']}", headers=owner)
    assert resp.status == 404
    [audit] = appliance.sql("SELECT details FROM audit_log WHERE action = 'flow.owner_changed'")
    assert '"from":"usr_owner"' in audit["details"]


async def test_service_tokens_via_api(appliance: Appliance) -> None:
    sa = await appliance.headers("usr_root", "tnt_a", role="super_admin")
    resp = await appliance.client.post(ADMIN + "/service-tokens", headers=sa, json={
        "sub": "ci-pipeline", "tenant_id": "tnt_ci", "scope": "scaicore:view",
        "ttl_seconds": 600, "description": "nightly"})
    assert resp.status == 201
    created = await resp.json()
    assert created["id"].startswith("tok_") and created["expires_at"].endswith("Z")
    assert resp.headers["Cache-Control"] == "no-store"
    ci = {"Authorization": f"Bearer {created['token']}"}
    me = await (await appliance.client.get("/api/v1/me", headers=ci)).json()
    assert (me["sub"], me["tenant_id"], me["permissions"]) == ("ci-pipeline", "tnt_ci",
                                                               ["scaicore:view"])
    listed = await (await appliance.client.get(ADMIN + "/service-tokens", headers=sa)).json()
    mine = [t for t in listed["items"] if t["id"] == created["id"]]
    assert mine and "token" not in mine[0]
    assert created["token"] not in await (await appliance.client.get(
        ADMIN + "/audit", headers=sa, params={"limit": "500"})).text()
    resp = await appliance.client.delete(f"{ADMIN}/service-tokens/{created['id']}", headers=sa)
    assert resp.status == 204
    resp = await appliance.client.get("/api/v1/me", headers=ci)
    assert (resp.status, await resp.json()) == (401, {"detail": "invalid token: revoked"})
    bad = await appliance.client.post(ADMIN + "/service-tokens", headers=sa, json={
        "sub": "x", "ttl_seconds": 10**9})
    assert bad.status == 422
    plain = await appliance.headers("usr_plain", "tnt_a")
    assert (await appliance.client.post(ADMIN + "/service-tokens", headers=plain,
                                        json={"sub": "x"})).status == 403


async def test_audit_is_tenant_scoped_and_paginated(appliance: Appliance) -> None:
    alice = await appliance.headers("usr_alice", "tnt_a")
    for i in range(3):
        await create(appliance, alice, name=f"f{i}")
    await create(appliance, await appliance.headers("usr_b", "tnt_b"), name="other")
    ta = await appliance.headers("usr_ta", "tnt_a", role="tenant_admin")
    resp = await appliance.client.get(ADMIN + "/audit", headers=ta,
                                      params={"action": "flow.created", "limit": "2"})
    page = await resp.json()
    assert resp.status == 200 and len(page["items"]) == 2 and page["next_cursor"]
    resp = await appliance.client.get(ADMIN + "/audit", headers=ta, params={
        "action": "flow.created", "limit": "2", "cursor": page["next_cursor"]})
    rest = await resp.json()
    items = page["items"] + rest["items"]
    assert len(items) == 3 and all(i["tenant_id"] == "tnt_a" for i in items)
    assert items[0]["details"]["name"] == "f2"  # newest first, details decoded
    assert rest["next_cursor"] is None


async def test_the_last_super_admin_cannot_remove_or_demote_itself(
        appliance: Appliance) -> None:
    """The bootstrap operator is this box's only super admin."""
    root = await appliance.headers("usr_operator", "tnt_local")
    for method, json_body in (("DELETE", None), ("POST", {"role": "tenant_admin"})):
        resp = await appliance.client.request(method, ADMIN + "/users/usr_operator/role",
                                              headers=root, json=json_body)
        body = await resp.json()
        assert resp.status == 409, body
        assert body["detail"]["error"] == "last_super_admin"
        assert body["detail"]["message"] == (
            "usr_operator is the last super admin: without one nobody can administer this "
            "appliance")
        assert "scaiflow-box admin grant" in body["detail"]["fix"]
        [row] = appliance.sql("SELECT admin_role, admin_role_source FROM users"
                              " WHERE id = 'usr_operator'")
        assert tuple(row) == ("super_admin", "bootstrap")
    assert not appliance.sql("SELECT 1 FROM audit_log WHERE action = 'role.revoked'")
    # Super admins who cannot act (suspended, soft-deleted) do not count.
    await appliance.user("usr_away", "tnt_b", role="super_admin", status="SUSPENDED")
    await appliance.user("usr_gone", "tnt_b", role="super_admin")
    await appliance.db.write(lambda conn: conn.execute(
        "UPDATE users SET deleted_at = 'then' WHERE id = 'usr_gone'"))
    resp = await appliance.client.delete(ADMIN + "/users/usr_operator/role", headers=root)
    assert (resp.status, (await resp.json())["detail"]["error"]) == (409, "last_super_admin")
    # ...and their own roles may go: removing them locks nobody out.
    resp = await appliance.client.delete(ADMIN + "/users/usr_away/role", headers=root)
    assert resp.status == 204
    # With a second super admin able to act, either may step down.
    await appliance.user("usr_second", "tnt_b", role="super_admin")
    resp = await appliance.client.delete(ADMIN + "/users/usr_operator/role", headers=root)
    assert resp.status == 204
    assert appliance.sql("SELECT admin_role FROM users WHERE id = 'usr_operator'")[0][0] is None
    second = await appliance.headers("usr_second", "tnt_b")
    resp = await appliance.client.post(ADMIN + "/users/usr_second/role", headers=second,
                                       json={"role": "tenant_admin"})
    assert resp.status == 409
    assert appliance.sql("SELECT admin_role FROM users WHERE id = 'usr_second'")[0][0] == \
        "super_admin"
