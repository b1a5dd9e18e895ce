"""`GET /api/v1/admin/tenants` and a super admin's management of any tenant's ScaiGrid
credentials (the operator's view of SPEC §8 across tenants)."""

from __future__ import annotations

import pytest

from tests.conftest import AppFactory, Appliance

KEY = "sgk_other_tenant_key_5678"


@pytest.fixture
async def appliance(make_appliance: AppFactory) -> Appliance:
    return await make_appliance(SCAIFLOW_UPSTREAM_ALLOW="grid.example")  # the tenants' ScaiGrid


async def test_super_admin_sees_every_tenant_and_sets_their_credentials(
        appliance: Appliance) -> None:
    root = await appliance.headers("usr_root", "tnt_a", role="super_admin")
    await appliance.headers("usr_bob", "tnt_b")  # provisions tenant tnt_b
    resp = await appliance.client.post("/api/v1/flows", headers=root, json={
        "name": "x", "content": {"name": "x", "nodes": [], "edges": []}})
    assert resp.status == 201
    url = "/api/v1/admin/tenants/tnt_b/scaigrid_credentials"
    resp = await appliance.client.post(url, headers=root, json={
        "api_key": KEY, "base_url": "https://grid.example"})
    assert resp.status == 204
    resp = await appliance.client.get("/api/v1/admin/tenants", headers=root)
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    tenants = {t["id"]: t for t in (await resp.json())["tenants"]}
    assert set(tenants) == {"tnt_a", "tnt_b", "tnt_local"}  # tnt_local: the bootstrap
    assert (tenants["tnt_a"]["users"], tenants["tnt_a"]["flows"]) == (1, 1)
    assert tenants["tnt_a"]["scaigrid_credentials"]["configured"] is False
    assert tenants["tnt_b"]["scaigrid_credentials"] == {
        "configured": True, "base_url": "https://grid.example", "masked_key": "sgk_…5678",
        "base_url_stored": True, "readable": True}
    assert KEY not in await resp.text()
    # Stored for tnt_b, encrypted with tnt_b's data key, audited without the key.
    [audit] = appliance.sql("SELECT * FROM audit_log WHERE action = 'tenant.credentials_set'")
    assert (audit["tenant_id"], audit["actor"]) == ("tnt_b", "usr_root")
    assert KEY not in audit["details"]
    if appliance.settings.database_url is None:  # the SQLite file holds it only encrypted
        assert KEY.encode() not in appliance.settings.db_path.read_bytes()
    else:  # MariaDB's files are the server's: no stored value holds it in the clear
        assert appliance.sql("SELECT count(*) FROM tenant_secrets WHERE instr(value, ?) > 0",
                             KEY)[0][0] == 0
    bob = await appliance.headers("usr_bob", "tnt_b")
    resp = await appliance.client.get("/api/v1/tenants/me/scaigrid_credentials", headers=bob)
    assert (await resp.json())["masked_key"] == "sgk_…5678"
    resp = await appliance.client.delete(url, headers=root)
    assert resp.status == 204
    resp = await appliance.client.get("/api/v1/tenants/me/scaigrid_credentials", headers=bob)
    assert (await resp.json())["configured"] is False


async def test_only_super_admins_and_known_tenants(appliance: Appliance) -> None:
    admin = await appliance.headers("usr_admin", "tnt_a", role="tenant_admin")
    await appliance.headers("usr_bob", "tnt_b")
    for method, path, body in (
        ("GET", "/api/v1/admin/tenants", None),
        ("POST", "/api/v1/admin/tenants/tnt_b/scaigrid_credentials", {"api_key": KEY}),
        ("DELETE", "/api/v1/admin/tenants/tnt_b/scaigrid_credentials", None),
    ):
        resp = await appliance.client.request(method, path, headers=admin, json=body)
        assert resp.status == 403, (method, path)
    # Their own tenant through the admin path is the same as /tenants/me.
    resp = await appliance.client.post("/api/v1/admin/tenants/tnt_a/scaigrid_credentials",
                                       headers=admin, json={"api_key": KEY})
    assert resp.status == 204
    root = await appliance.headers("usr_root", "tnt_a", role="super_admin")
    resp = await appliance.client.post("/api/v1/admin/tenants/tnt_nope/scaigrid_credentials",
                                       headers=root, json={"api_key": KEY})
    assert resp.status == 404 and await resp.json() == {"detail": "Tenant not found"}
    assert appliance.sql("SELECT tenant_id FROM tenant_secrets WHERE tenant_id != 'tnt_a'") == []
