"""Which hosts ScaiGrid calls may reach (SPEC §17 `SCAIFLOW_UPSTREAM_ALLOW`, issue 12): a
tenant admin cannot aim the appliance at a service on its loopback or LAN, and a base URL the
operator stops allowing is refused at the next call, not silently replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import AppFactory, Appliance
from tests.fakes.scaigrid import FakeScaiGrid

PATH = "/api/v1/tenants/me/scaigrid_credentials"
TENANT_KEY = "sgk_tenant_key_0123456789"


@pytest.fixture
async def internal_service() -> AsyncIterator[FakeScaiGrid]:
    """Another service on the appliance's loopback that answers like ScaiGrid (the worst case:
    invoke and resolve hand its whole answer back to the caller)."""
    fake = await FakeScaiGrid().start()
    fake.add_api_key(TENANT_KEY)
    try:
        yield fake
    finally:
        await fake.stop()


async def set_base_url(app: Appliance, admin: dict[str, str], base_url: str) -> tuple[int, dict]:
    resp = await app.client.post(PATH, headers=admin,
                                 json={"api_key": TENANT_KEY, "base_url": base_url})
    return resp.status, (await resp.json() if resp.status != 204 else {})


async def test_a_tenant_admin_cannot_aim_the_box_at_another_loopback_service(
        make_appliance: AppFactory, scaigrid_server: FakeScaiGrid,
        internal_service: FakeScaiGrid) -> None:
    app = await make_appliance(SCAIGRID_BASE_URL=scaigrid_server.base_url)
    admin = await app.headers("usr_admin", role="tenant_admin")
    status, body = await set_base_url(app, admin, internal_service.base_url)
    assert status == 400 and body["detail"]["error"] == "invalid_base_url", body
    assert body["detail"]["message"] == "base_url is refused: this appliance does not call " \
                                        "that host"
    assert app.sql("SELECT * FROM tenant_secrets") == []
    assert app.sql("SELECT * FROM audit_log WHERE action = 'tenant.credentials_set'") == []
    resp = await app.client.get("/api/v1/scaigrid/models", headers=admin)
    assert resp.status == 412  # no credentials were stored
    assert internal_service.requests == []
    # The operator's own ScaiGrid is allowed (the default allow-list is its host and port).
    scaigrid_server.add_api_key(TENANT_KEY)
    assert (await set_base_url(app, admin, scaigrid_server.base_url + "/"))[0] == 204
    resp = await app.client.get("/api/v1/scaigrid/models", headers=admin)
    assert resp.status == 200, await resp.text()
    assert scaigrid_server.bearers_used("list_models") == [TENANT_KEY]


async def test_a_stored_base_url_the_operator_no_longer_allows_is_503_at_the_call(
        make_appliance: AppFactory, scaigrid_server: FakeScaiGrid,
        internal_service: FakeScaiGrid, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "shared")
    host_port = internal_service.base_url.removeprefix("http://")
    before = await make_appliance(SCAIFLOW_DATA_DIR=data_dir,
                                  SCAIGRID_BASE_URL=scaigrid_server.base_url,
                                  SCAIFLOW_UPSTREAM_ALLOW=host_port)
    admin = await before.headers("usr_admin", role="tenant_admin")
    assert (await set_base_url(before, admin, internal_service.base_url))[0] == 204
    resp = await before.client.get("/api/v1/scaigrid/models", headers=admin)
    assert resp.status == 200 and len(internal_service.requests_to("list_models")) == 1
    await before.client.close()

    after = await make_appliance(SCAIFLOW_DATA_DIR=data_dir,
                                 SCAIGRID_BASE_URL=scaigrid_server.base_url)
    resp = await after.client.get("/api/v1/scaigrid/models", headers=admin)
    assert resp.status == 503
    detail = (await resp.json())["detail"]
    assert detail["error"] == "base_url_not_allowed"
    assert "SCAIFLOW_UPSTREAM_ALLOW" in detail["fix"]
    assert len(internal_service.requests_to("list_models")) == 1  # nothing more was sent
    assert scaigrid_server.requests == []  # and no silent fallback to SCAIGRID_BASE_URL
    resp = await after.client.get(PATH, headers=admin)
    assert (await resp.json())["base_url"] == internal_service.base_url  # still stored
