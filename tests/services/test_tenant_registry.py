"""Deleting an empty tenant and noticing a new one (`services/tenant_registry.py`), on a real
appliance's database with content made through the API."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable

import pytest

from scaiflow_box.errors import Conflict, NotFound
from scaiflow_box.services.tenant_registry import delete_empty_tenant, new_tenant_notice
from scaiflow_box.store import flow_counts
from scaiflow_box.store import tenants as tenant_rows
from scaiflow_box.store import users as user_rows
from tests.conftest import AppFactory, Appliance, hello_content

FLOWS = "/api/v1/flows"


def tenant_state(app: Appliance, tenant: str) -> dict[str, int]:
    """Rows naming the tenant, per table that has a `tenant_id` column, and its own row."""
    tables = app.db.read_inline(tenant_rows.tenant_tables)
    state = {table: int(app.sql(f"SELECT count(*) FROM {table} WHERE tenant_id = ?",
                                tenant)[0][0])
             for table in sorted(tables)}
    state["tenants"] = int(app.sql("SELECT count(*) FROM tenants WHERE id = ?", tenant)[0][0])
    return state


async def delete(app: Appliance, tenant: str) -> dict[str, int]:
    return await app.db.write(lambda conn: delete_empty_tenant(conn, tenant, actor="tests"))


async def test_every_tenant_table_has_a_role(appliance: Appliance) -> None:
    """A new table with a `tenant_id` must say what deleting a tenant means for it."""
    roles = ({table for table, _condition, _what in tenant_rows.HOLDINGS}
             | {table for table, _condition in tenant_rows.REMOVED_WITH_TENANT}
             | tenant_rows.KEPT_AS_HISTORY | tenant_rows.FOLLOW_HOLDINGS
             | tenant_rows.PRUNED_ON_THEIR_OWN
             | set(appliance.db.read_inline(flow_counts.tables)))  # removed with the tenant
    assert appliance.db.read_inline(tenant_rows.tenant_tables) == roles


async def test_a_tenant_a_token_brought_in_is_deleted_with_its_rows(appliance: Appliance) -> None:
    token = await appliance.token("usr_ci", "tnt_typo")  # just-in-time user and tenant
    resp = await appliance.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    with pytest.raises(Conflict) as refused:  # its token still works: it would come back
        await delete(appliance, "tnt_typo")
    assert refused.value.code == "tenant_not_empty"
    assert "1 live service token(s)" in refused.value.message
    await appliance.db.write(lambda conn: conn.execute(
        "UPDATE service_tokens SET revoked_at = '2026-01-01T00:00:00.000Z'"
        " WHERE tenant_id = 'tnt_typo'"))
    before = tenant_state(appliance, "tnt_typo")
    assert (before["tenants"], before["users"], before["service_tokens"]) == (1, 1, 1)

    removed = await delete(appliance, "tnt_typo")
    assert removed == {"users": 1}
    after = tenant_state(appliance, "tnt_typo")
    assert (after["tenants"], after["users"]) == (0, 0)
    assert after["service_tokens"] == 1 and after["audit_log"] == before["audit_log"] + 1
    [row] = appliance.sql("SELECT actor, action, target_type, target_id, details FROM audit_log"
                          " WHERE action = 'tenant.deleted'")
    assert tuple(row)[:4] == ("tests", "tenant.deleted", "tenant", "tnt_typo")
    assert '"removed":{"users":1}' in row["details"]
    with pytest.raises(NotFound):
        await delete(appliance, "tnt_typo")


HolderSetup = Callable[[Appliance], Awaitable[None]]


async def only(app: Appliance) -> None:
    """Leave the holding a setup made as the tenant's only one: its tokens revoked, its users
    just-in-time ones without a role."""
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE service_tokens SET revoked_at = '2026-01-01T00:00:00.000Z'")
        conn.execute("UPDATE users SET source = 'token', admin_role = NULL,"
                     " admin_role_source = NULL WHERE tenant_id = 'tnt_full'")

    await app.db.write(run)


async def _flow(app: Appliance) -> None:
    headers = await app.headers("usr_owner", "tnt_full")
    resp = await app.client.post(FLOWS, headers=headers, json={
        "name": "kept", "content": hello_content()})
    assert resp.status == 201
    flow_id = (await resp.json())["id"]
    assert (await app.client.delete(f"{FLOWS}/{flow_id}", headers=headers)).status == 204
    await only(app)


async def _package(app: Appliance) -> None:
    """A catalog package, soft-deleted: its versions are immutable, so the tenant keeps it."""
    headers = await app.headers("usr_author", "tnt_full")
    resp = await app.client.post("/api/v1/catalog/publish", headers=headers, json={
        "package_id": "kept", "name": "Kept", "content": hello_content()})
    assert resp.status == 201, await resp.text()
    assert (await app.client.delete("/api/v1/catalog/kept", headers=headers)).status == 204
    await only(app)


async def _group(app: Appliance) -> None:
    await app.user("usr_member", "tnt_full")
    await app.group("grp_ops", "tnt_full", ["usr_member"])
    await only(app)


async def _role(app: Appliance) -> None:
    await app.user("usr_boss", "tnt_full")
    await only(app)
    await app.db.write(lambda conn: conn.execute(
        "UPDATE users SET admin_role = 'tenant_admin', admin_role_source = 'manual'"))


async def _synced_user(app: Appliance) -> None:
    await app.user("usr_synced", "tnt_full", issuer=user_rows.SCAIKEY)  # source scaikey


async def _live_token(app: Appliance) -> None:
    await only(app)
    await app.token("usr_ci", "tnt_full")


async def _credentials(app: Appliance) -> None:
    admin = await app.headers("usr_ta", "tnt_full", role="tenant_admin")
    resp = await app.client.post("/api/v1/tenants/me/scaigrid_credentials", headers=admin,
                                 json={"api_key": "sgk_live_0123456789abcdef",
                                       "base_url": "https://grid.example"})
    assert resp.status == 204
    await only(app)


@pytest.mark.parametrize(("setup", "named"), [
    (_flow, "1 flow(s), deleted ones included (their versions are kept forever)"),
    (_package, "1 catalog package(s), deleted ones included (their versions are kept "
               "forever)"),
    (_group, "1 group(s)"),
    (_role, "1 user(s) synced from ScaiKey, made by init, or holding an admin role"),
    (_synced_user, "1 user(s) synced from ScaiKey, made by init, or holding an admin role"),
    (_live_token, "1 live service token(s) (revoke them first: a token would bring the "
                  "tenant back)"),
    (_credentials, "2 stored credential value(s) (ScaiGrid key, base URL)"),
], ids=["flow", "package", "group", "role", "synced user", "live token", "credentials"])
async def test_a_tenant_that_holds_something_is_kept(make_appliance: AppFactory,
                                                     setup: HolderSetup, named: str) -> None:
    appliance = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW="grid.example")
    await setup(appliance)
    before = tenant_state(appliance, "tnt_full")
    assert before["tenants"] == 1
    with pytest.raises(Conflict) as refused:
        await delete(appliance, "tnt_full")
    assert refused.value.message == f"tenant tnt_full is not empty: it holds {named}"
    assert tenant_state(appliance, "tnt_full") == before  # nothing changed


async def test_a_new_tenant_is_noticed(appliance: Appliance) -> None:
    await appliance.user("usr_a", "tnt_acme")
    await appliance.user("usr_b", "tnt_globex")

    def notice(tenant: str) -> str | None:
        return appliance.db.read_inline(lambda conn: new_tenant_notice(conn, tenant))

    assert notice("tnt_acme") is None
    assert notice("tnt_acmee") == ("tenant tnt_acmee is new on this appliance "
                                   "(did you mean tnt_acme?)")
    assert notice("tnt_zzz_unrelated") == "tenant tnt_zzz_unrelated is new on this appliance"
    await appliance.token("usr_ci", "tnt_fresh")  # a token makes the id known before its use
    assert notice("tnt_fresh") is None
