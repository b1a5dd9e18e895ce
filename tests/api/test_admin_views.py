"""The admin router's directory views (SPEC §12): groups, users by group, and the tenant
admin's view of every flow of their tenant."""

from __future__ import annotations

from typing import Any

from tests.api.test_flows import FLOWS, create
from tests.conftest import AppFactory, Appliance

ADMIN = "/api/v1/admin"


async def test_groups_with_filters(make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_SUPER_ADMIN_GROUPS="Operators")
    for user in ("usr_1", "usr_2", "usr_3"):
        await app.user(user, "tnt_a")
    await app.user("usr_b", "tnt_b")
    await app.group("grp_ops", "tnt_a", ["usr_1", "usr_2", "usr_3"])
    await app.group("grp_dev", "tnt_a", ["usr_1"])
    await app.group("grp_b", "tnt_b", ["usr_b"])

    def setup(conn: Any) -> None:
        conn.execute("UPDATE groups SET name = 'Operators' WHERE id = 'grp_ops'")
        conn.execute("UPDATE groups SET deleted_at = '2026-01-01T00:00:00.000Z'"
                     " WHERE id = 'grp_dev'")
        conn.execute("UPDATE memberships SET deleted_at = '2026-01-01T00:00:00.000Z'"
                     " WHERE user_id = 'usr_3'")
        conn.execute("UPDATE users SET deleted_at = '2026-01-01T00:00:00.000Z'"
                     " WHERE id = 'usr_2'")

    await app.db.write(setup)
    sa = await app.headers("usr_root", "tnt_z", role="super_admin")

    async def groups(**params: str) -> list[dict[str, Any]]:
        resp = await app.client.get(ADMIN + "/groups", headers=sa, params=params)
        assert resp.status == 200
        body: list[dict[str, Any]] = (await resp.json())["groups"]
        return body

    listed = await groups()
    assert [(g["id"], g["tenant_id"], g["member_count"], g["super_admin_group"])
            for g in listed] == [("grp_ops", "tnt_a", 1, True), ("grp_b", "tnt_b", 1, False)]
    assert set(listed[0]) == {"id", "tenant_id", "name", "member_count", "super_admin_group",
                              "created_at", "last_synced_at", "deleted_at"}
    assert [g["id"] for g in await groups(tenant_id="tnt_a", include_deleted="true")] == [
        "grp_dev", "grp_ops"]
    assert [g["id"] for g in await groups(search="OPER")] == ["grp_ops"]
    assert await groups(tenant_id="tnt_nowhere") == []
    # users by group: live members only (usr_3 left; usr_2 is deleted unless asked for)
    resp = await app.client.get(ADMIN + "/users", headers=sa, params={"group_id": "grp_ops"})
    assert [u["id"] for u in (await resp.json())["users"]] == ["usr_1"]
    resp = await app.client.get(ADMIN + "/users", headers=sa,
                                params={"group_id": "grp_ops", "include_deleted": "true"})
    assert [u["id"] for u in (await resp.json())["users"]] == ["usr_1", "usr_2"]
    ta = await app.headers("usr_ta", "tnt_a", role="tenant_admin")
    resp = await app.client.get(ADMIN + "/tenant/users", headers=ta,
                                params={"group_id": "grp_b"})
    assert (await resp.json())["users"] == []  # another tenant's group: nobody of theirs


async def test_tenant_flows_shows_every_flow_of_the_callers_tenant(
        appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner", "tnt_a")
    await appliance.db.write(lambda conn: conn.execute(
        "UPDATE users SET email = 'owner@a.test', display_name = 'Owner' WHERE id ="
        " 'usr_owner'"))
    first = await create(appliance, owner, "First")
    second = await create(appliance, owner, "Second")
    await create(appliance, await appliance.headers("usr_other", "tnt_b"), "Other tenant")
    assert (await appliance.client.delete(f"{FLOWS}/{first['id']}", headers=owner)).status == 204
    ta = await appliance.headers("usr_ta", "tnt_a", role="tenant_admin")
    resp = await appliance.client.get(ADMIN + "/tenant/flows", headers=ta)
    body = await resp.json()
    assert resp.status == 200
    assert body["total"] == 2 and body["next_cursor"] is None
    newest, oldest = body["items"]
    assert (newest["id"], oldest["id"]) == (second["id"], first["id"])
    assert newest == {"id": second["id"], "name": "Second", "description": "",
                      "owner_id": "usr_owner", "owner_email": "owner@a.test",
                      "owner_display_name": "Owner", "version": "1.0.0",
                      "created_at": second["created_at"], "updated_at": second["updated_at"],
                      "deleted_at": None}
    assert oldest["deleted_at"] is not None
    resp = await appliance.client.get(ADMIN + "/tenant/flows", headers=ta,
                                      params={"include_deleted": "false"})
    assert [f["id"] for f in (await resp.json())["items"]] == [second["id"]]
    resp = await appliance.client.get(ADMIN + "/tenant/flows", headers=ta,
                                      params={"search": "fir"})
    assert [f["id"] for f in (await resp.json())["items"]] == [first["id"]]
    # pages
    resp = await appliance.client.get(ADMIN + "/tenant/flows", headers=ta, params={"limit": 1})
    page = await resp.json()
    assert [f["id"] for f in page["items"]] == [second["id"]] and page["total"] == 2
    resp = await appliance.client.get(ADMIN + "/tenant/flows", headers=ta,
                                      params={"limit": 1, "cursor": page["next_cursor"]})
    assert [f["id"] for f in (await resp.json())["items"]] == [first["id"]]
    # a super admin sees their own tenant here; a plain member is refused
    sa = await appliance.headers("usr_root", "tnt_b", role="super_admin")
    resp = await appliance.client.get(ADMIN + "/tenant/flows", headers=sa)
    assert [f["name"] for f in (await resp.json())["items"]] == ["Other tenant"]
    resp = await appliance.client.get(ADMIN + "/tenant/flows", headers=owner)
    assert resp.status == 403
    # a cursor of another tenant's list is refused
    resp = await appliance.client.get(ADMIN + "/tenant/flows", headers=sa,
                                      params={"cursor": page["next_cursor"]})
    assert resp.status == 400 and (await resp.json())["detail"]["error"] == "invalid_cursor"


async def test_a_tenant_admin_never_grants_super_admin_nor_acts_on_another_tenant(
        appliance: Appliance) -> None:
    await appliance.user("usr_x", "tnt_a")
    await appliance.user("usr_y", "tnt_b")
    await appliance.user("usr_root_b", "tnt_b", role="super_admin")
    ta = await appliance.headers("usr_ta", "tnt_a", role="tenant_admin")
    cases = [("POST", "usr_x", {"role": "super_admin"}), ("POST", "usr_y", {"role":
                                                                          "tenant_admin"}),
             ("DELETE", "usr_y", None), ("DELETE", "usr_root_b", None)]
    for method, target, body in cases:
        resp = await appliance.client.request(method, f"{ADMIN}/users/{target}/role",
                                              headers=ta, json=body)
        assert resp.status == 403, (method, target)
        assert (await resp.json())["detail"]["error"] == "forbidden"
    roles = {r[0]: r[1] for r in appliance.sql("SELECT id, admin_role FROM users")}
    assert (roles["usr_x"], roles["usr_y"], roles["usr_root_b"]) == (None, None, "super_admin")
    assert not appliance.sql("SELECT 1 FROM audit_log WHERE action LIKE 'role.%'"
                             " AND actor = 'usr_ta'")
