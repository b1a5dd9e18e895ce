"""`AdminClient`: typed answers, and the line between ApiUnavailable and ApiError."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from scaiflow_box.store import users as user_rows
from tests.conftest import AppFactory, Appliance, hello_content
from tests.fakes.scaigrid import FakeScaiGrid
from tests.fakes.scaikey import FakeScaiKey
from tests.tui.helpers import base_url, closed_port_url
from tui.client import AdminClient, ApiError, ApiUnavailable, StaticToken
from tui.transport import AiohttpTransport


async def admin_client(appliance: Appliance) -> AdminClient:
    token = await appliance.token("usr_root", "tnt_local", role="super_admin")
    return AdminClient(base_url(appliance), StaticToken(token))


async def test_typed_answers_from_the_appliance(appliance: Appliance) -> None:
    client = await admin_client(appliance)
    try:
        assert await client.healthz() == "ok"
        readiness = await client.readyz()
        assert readiness.ready and readiness.reasons == ()
        me = await client.me()
        assert (me.sub, me.tenant_id, me.admin_role, me.token_source) == (
            "usr_root", "tnt_local", "super_admin", "service")
        users = {u.id: u for u in await client.list_users()}
        assert users["usr_operator"].admin_role_source == "bootstrap"
        minted = await client.mint_service_token(sub="ci", tenant_id=None, scope="scaicore:view",
                                                 ttl_seconds=600, description="d")
        assert minted.token not in repr(minted)
        tokens = {t.id: t for t in await client.list_service_tokens()}
        assert tokens[minted.id].tenant_id == "tnt_local"  # the caller's tenant by default
        assert tokens[minted.id].state() == "active"
        await client.revoke_service_token(minted.id)
        tokens = {t.id: t for t in await client.list_service_tokens()}
        assert tokens[minted.id].state() == "revoked"
        page = await client.list_audit(limit=1)
        assert len(page.items) == 1 and page.next_cursor
        assert page.items[0].action == "service_token.revoked"
        older = await client.list_audit(cursor=page.next_cursor, limit=500)
        assert older.next_cursor is None
        assert all(e.id < page.items[0].id for e in older.items)
    finally:
        await client.close()


async def test_users_and_groups_are_read_page_by_page_up_to_a_bound(
        appliance: Appliance) -> None:
    def many(conn: Any) -> None:
        for n in range(12):
            user_rows.upsert_user(conn, tenant_id="tnt_many", user_id=f"usr_{n:02d}",
                                  email=None, display_name=None)
            user_rows.upsert_group(conn, "tnt_many", f"grp_{n:02d}", f"Group {n:02d}")

    await appliance.db.write(many)
    client = await admin_client(appliance)
    try:
        users = await client.list_users(tenant_id="tnt_many")
        assert [u.id for u in users] == [f"usr_{n:02d}" for n in range(12)]
        assert [u.id for u in await client.list_users(tenant_id="tnt_many", most=5)] == [
            f"usr_{n:02d}" for n in range(5)]
        groups = await client.list_groups(tenant_id="tnt_many", most=7)
        assert [g.id for g in groups] == [f"grp_{n:02d}" for n in range(7)]
    finally:
        await client.close()


async def test_error_answers_carry_status_code_and_message(appliance: Appliance) -> None:
    client = await admin_client(appliance)
    try:
        with pytest.raises(ApiError) as not_found:
            await client.revoke_service_token("tok_doesnotexist")
        assert (not_found.value.status, not_found.value.code) == (404, "not_found")
        assert not_found.value.message == "Service token not found"
        with pytest.raises(ApiError) as invalid:
            await client.mint_service_token(sub="ci", tenant_id=None, scope="",
                                            ttl_seconds=5, description="")
        assert (invalid.value.status, invalid.value.code) == (422, "validation_failed")
        assert invalid.value.message.startswith("ttl_seconds: ")
        with pytest.raises(ApiError) as unknown_user:
            await client.grant_role("usr/../nobody", "tenant_admin")
        assert unknown_user.value.status == 404
    finally:
        await client.close()
    refused = AdminClient(base_url(appliance), StaticToken("not-a-jwt"))
    try:
        with pytest.raises(ApiError) as unauthenticated:
            await refused.me()
        assert unauthenticated.value.status == 401
        assert unauthenticated.value.message.startswith("invalid token")
        assert not isinstance(unauthenticated.value, ApiUnavailable)
    finally:
        await refused.close()


async def test_a_closed_port_is_unavailable_not_an_error() -> None:
    client = AdminClient(closed_port_url(), StaticToken("x"))
    try:
        with pytest.raises(ApiUnavailable) as info:
            await client.list_users()
        assert info.value.reason.startswith("connection refused")
        assert str(info.value).startswith(f"appliance unreachable at {client.base_url}")
    finally:
        await client.close()


async def test_something_else_answering_is_unavailable(aiohttp_server: Any) -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    async def stall(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/healthz", html)
    app.router.add_get("/api/v1/me", stall)
    server = await aiohttp_server(app)
    client = AdminClient(str(server.make_url("/")), StaticToken("x"),
                         transport=AiohttpTransport(timeout_seconds=0.2))
    try:
        with pytest.raises(ApiUnavailable, match="non-JSON body: is this a scaiflow-box"):
            await client.healthz()
        with pytest.raises(ApiUnavailable, match=r"no answer within 0\.2 s"):
            await client.me()
        # e.g. a reverse proxy's HTML 502 while the appliance is down
        with pytest.raises(ApiUnavailable, match="HTTP 404 with a non-JSON body"):
            await client.list_users()
    finally:
        await client.close()


async def test_tenants_credentials_and_key_rotation(make_appliance: AppFactory) -> None:
    appliance = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW="grid.example")
    client = await admin_client(appliance)
    key = "sgk_client_test_key_9876"
    try:
        tenants = {t.id: t for t in await client.list_tenants()}
        assert tenants["tnt_local"].credentials.state == "not set"
        await client.set_scaigrid_credentials("tnt_local", api_key=key,
                                              base_url="https://grid.example")
        [local] = [t for t in await client.list_tenants() if t.id == "tnt_local"]
        assert (local.credentials.state, local.credentials.masked_key,
                local.credentials.base_url) == ("set", "sgk_…9876", "https://grid.example")
        with pytest.raises(ApiError) as bad_url:
            await client.set_scaigrid_credentials("tnt_local", api_key=key,
                                                  base_url="http://169.254.169.254")
        assert (bad_url.value.status, bad_url.value.code) == (400, "invalid_base_url")
        assert bad_url.value.fix and key not in str(bad_url.value)
        with pytest.raises(ApiError) as unknown:
            await client.set_scaigrid_credentials("tnt_nope/..", api_key=key, base_url=None)
        assert unknown.value.status == 404
        rotated = await client.rotate_master_key(reencrypt=True)
        [kek] = appliance.sql("SELECT value FROM meta WHERE `key` = 'kek_id'")
        assert (rotated.kek_id, rotated.data_keys, rotated.secrets_reencrypted) == (
            kek[0], 1, 2)
        await client.delete_scaigrid_credentials("tnt_local")
        await client.delete_scaigrid_credentials("tnt_local")  # idempotent
        assert appliance.sql("SELECT * FROM tenant_secrets") == []
    finally:
        await client.close()


async def test_flows_deployments_and_a_failed_deploy(make_appliance: AppFactory,
                                                     scaigrid_server: FakeScaiGrid) -> None:
    appliance = await make_appliance(**scaigrid_server.env())
    client = await admin_client(appliance)
    headers = await appliance.headers("usr_root", "tnt_local")
    try:
        response = await appliance.client.post("/api/v1/flows", headers=headers, json={
            "name": "Support", "content": hello_content()})
        flow_id = (await response.json())["id"]
        page = await client.list_flows(limit=10)
        assert (page.total, page.next_cursor) == (1, None)
        assert (page.items[0].id, page.items[0].owner_id) == (flow_id, "usr_root")
        assert (await client.list_flows(search="nothing like it")).items == ()
        deployed = await client.deploy_flow(flow_id)
        assert deployed.succeeded and deployed.core_id in scaigrid_server.cores
        scaigrid_server.fail("create_core", 500)
        with pytest.raises(ApiError) as failed:
            await client.deploy_flow(flow_id, version="1.0.0")
        assert (failed.value.status, failed.value.code) == (502, "scaicore_create_failed")
        assert failed.value.extra["status"] == 500
        deployments = await client.list_deployments(flow_id)
        assert [d.id for d in deployments.items] == [failed.value.extra["deployment_id"],
                                                     deployed.id]
        assert deployments.items[0].error and not deployments.items[0].succeeded
        one = await client.list_deployments(flow_id, limit=1)
        assert one.next_cursor is not None
        older = await client.list_deployments(flow_id, cursor=one.next_cursor)
        assert [d.id for d in older.items] == [deployed.id]
        with pytest.raises(ApiError) as missing:
            await client.list_deployments("flow_doesnotexist")
        assert missing.value.status == 404
    finally:
        await client.close()


async def test_directory_groups_filters_sync_and_status(make_appliance: AppFactory,
                                                        scaikey_server: FakeScaiKey) -> None:
    scaikey_server.add_user("usr_alice")
    scaikey_server.add_user("usr_dan", "tnt_beta")
    scaikey_server.add_group("grp_admins", name="Admins", members=["usr_alice"])
    scaikey_server.add_group("grp_beta", "tnt_beta", members=["usr_dan"])
    appliance = await make_appliance(**scaikey_server.env(SCAIFLOW_SUPER_ADMIN_GROUPS="Admins"))
    # A caller whose row a token made (source `token`): a sync never soft-deletes it.
    token = await appliance.token("usr_root", "tnt_ops")
    await appliance.db.write(lambda conn: user_rows.set_admin_role(
        conn, "tnt_ops", "usr_root", "super_admin", "manual"))
    client = AdminClient(base_url(appliance), StaticToken(token))
    try:
        status = await client.sync_status()
        assert (status.configured, status.interval_minutes, status.super_admin_groups,
                status.running, status.next_run_in_seconds, status.last) == (
            True, 0, ("Admins",), False, None, None)
        assert (status.webhooks.configured, status.webhooks.received_24h,
                status.webhooks.last_event_type) == (False, 0, None)
        result = await client.sync_directory()
        assert (result.skipped_reason, result.users_method, result.users_added,
                result.groups_added, result.memberships_added,
                result.super_admins_group_promoted) == (None, "effective_users", 2, 2, 2, 1)
        assert not result.not_configured
        last = (await client.sync_status()).last
        assert last is not None and (last.trigger, last.ok, last.error) == ("manual", True, None)
        assert last.result == result
        groups = {g.id: g for g in await client.list_groups()}
        assert (groups["grp_admins"].member_count, groups["grp_admins"].super_admin_group,
                groups["grp_admins"].name) == (1, True, "Admins")
        assert [g.id for g in await client.list_groups(tenant_id="tnt_beta")] == ["grp_beta"]
        assert [g.id for g in await client.list_groups(search="admi")] == ["grp_admins"]
        assert [u.id for u in await client.list_users(group_id="grp_beta")] == ["usr_dan"]
        assert [u.id for u in await client.list_users(tenant_id="tnt_acme")] == ["usr_alice"]
        assert [u.id for u in await client.list_users(search="dan")] == ["usr_dan"]
        scaikey_server.remove_user("usr_dan")
        await client.sync_directory()
        assert "usr_dan" not in {u.id for u in await client.list_users()}
        [dan] = [u for u in await client.list_users(include_deleted=True) if u.id == "usr_dan"]
        assert dan.deleted_at is not None and dan.last_synced_at is not None
        await scaikey_server.stop()
        with pytest.raises(ApiError) as failed:
            await client.sync_directory()
        assert (failed.value.status, failed.value.code) == (502, "scaikey_sync_failed")
        assert failed.value.fix and "SCAIKEY_BASE_URL" in failed.value.fix
    finally:
        await client.close()


async def test_a_sync_without_scaikey_is_a_skipped_result(appliance: Appliance) -> None:
    client = await admin_client(appliance)
    try:
        result = await client.sync_directory()
        assert result.not_configured and result.users_method is None
        assert result.super_admin_count == 2  # usr_operator and usr_root
        status = await client.sync_status()
        assert status.configured is False and status.last is not None
        assert status.last.result == result
    finally:
        await client.close()
