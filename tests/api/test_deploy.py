"""Deploy (SPEC §7) against the ScaiGrid stand-in: every step, every error code, the record."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.conftest import AppFactory, Appliance, hello_content
from tests.fakes.scaigrid import FakeScaiGrid

FLOWS = "/api/v1/flows"


def queued_content() -> dict[str, Any]:
    content = hello_content()
    content["config"]["scaiqueue"] = {"scope": "support", "queues": [
        {"slug": "intake", "display_name": "Intake", "consumer_mode": "priority",
         "max_retries": 3},
        {"slug": "review"}]}
    return content


@pytest.fixture
async def grid_app(make_appliance: AppFactory, scaigrid_server: FakeScaiGrid) -> Appliance:
    return await make_appliance(**scaigrid_server.env(SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS="1"))


async def new_flow(app: Appliance, headers: dict[str, str],
                   content: dict[str, Any] | None = None) -> str:
    resp = await app.client.post(FLOWS, headers=headers, json={
        "name": "Support", "content": content or hello_content()})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


def deployments(app: Appliance, flow_id: str) -> list[Any]:
    return app.sql("SELECT * FROM deployments WHERE flow_id = ? ORDER BY created_at", flow_id)


async def test_deploy_creates_the_core_and_records_it(grid_app: Appliance,
                                                      scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers()
    flow_id = await new_flow(grid_app, headers)
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["id"].startswith("dep_") and body["status"] == "succeeded"
    assert (body["flow_id"], body["version"], body["error"]) == (flow_id, "1.0.0", None)
    assert body["core_id"] in scaigrid_server.cores and body["published_slug"] is None
    assert body["deployed_by"] == "usr_alice" and body["duration_ms"] >= 0
    created = scaigrid_server.last("create_core")
    assert created.bearer == scaigrid_server.api_key  # SCAIGRID_API_KEY (no tenant key set)
    assert created.content_type.startswith("application/yaml")
    manifest = yaml.safe_load(created.body.decode())
    assert manifest["core"]["scaiflow_meta"]["source_id"] == flow_id
    assert scaigrid_server.requests_to("publish_core") == []
    [row] = deployments(grid_app, flow_id)
    assert (row["status"], row["core_id"], row["tenant_id"]) == ("succeeded", body["core_id"],
                                                                 "tnt_a")
    [audit] = grid_app.sql("SELECT * FROM audit_log WHERE action = 'flow.deployed'")
    assert audit["target_id"] == flow_id and scaigrid_server.api_key not in audit["details"]
    resp = await grid_app.client.get(f"{FLOWS}/{flow_id}/deployments", headers=headers)
    assert (await resp.json())["items"] == [body]


async def test_deploy_a_chosen_version_and_publish(grid_app: Appliance,
                                                  scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers()
    content = hello_content()
    content["config"]["publish_as_model"] = True
    content["config"]["model_visibility_group_ids"] = ["grp_support"]
    flow_id = await new_flow(grid_app, headers, content)
    changed = copy.deepcopy(content)
    changed["nodes"][1]["config"]["template"] = "Bye {{name}}"
    resp = await grid_app.client.put(f"{FLOWS}/{flow_id}", headers=headers,
                                     json={"content": changed})
    assert (await resp.json())["version"] == "1.0.1"
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers,
                                      json={"version": "1.0.0"})
    body = await resp.json()
    assert resp.status == 201 and body["version"] == "1.0.0"
    assert body["published_slug"] == f"scaicore/acme/{scaigrid_server.cores[body['core_id']].slug}"
    assert scaigrid_server.last("publish_core").json() == {"group_ids": ["grp_support"]}
    manifest = yaml.safe_load(scaigrid_server.last("create_core").body.decode())
    assert manifest["core"]["scaiflow_meta"]["source_version"] == "1.0.0"
    assert b"Hello {{name}}" in scaigrid_server.last("create_core").body
    # The body overrides the flow's own setting.
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers,
                                      json={"publish_as_model": False})
    assert resp.status == 201 and (await resp.json())["published_slug"] is None
    assert len(scaigrid_server.requests_to("publish_core")) == 1
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers,
                                      json={"version": "9.9.9"})
    assert resp.status == 404


async def test_scaiqueue_is_provisioned_first_and_tolerates_races(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers()
    flow_id = await new_flow(grid_app, headers, queued_content())
    scaigrid_server.race("create_scope")
    scaigrid_server.race("create_queue")
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 201, await resp.text()
    assert sorted(q.slug for q in scaigrid_server.queues.values()) == ["intake", "review"]
    intake = next(q for q in scaigrid_server.queues.values() if q.slug == "intake")
    assert (intake.ordering, intake.max_retries) == ("priority", 3)
    # Again: everything exists now, nothing is created twice.
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 201
    assert len(scaigrid_server.scopes) == 1 and len(scaigrid_server.queues) == 2


@pytest.mark.parametrize(("route", "status", "code", "extra"), [
    ("create_scope", 403, "scaiqueue_auth", {"scope": "support", "queue": None}),
    ("create_scope", 500, "scaiqueue_provision_failed", {"scope": "support", "queue": None}),
    ("create_queue", 500, "scaiqueue_provision_failed", {"scope": "support",
                                                         "queue": "intake"}),
    ("create_core", 500, "scaicore_create_failed", {"status": 500}),
    ("create_core", 400, "scaicore_create_failed", {"status": 400}),
    ("publish_core", 500, "scaicore_publish_failed", {"status": 500}),
])
async def test_each_failing_step_is_a_502_and_a_failed_record(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid, route: str, status: int, code: str,
        extra: dict[str, Any]) -> None:
    headers = await grid_app.headers()
    content = queued_content()
    content["config"]["publish_as_model"] = True
    flow_id = await new_flow(grid_app, headers, content)
    scaigrid_server.fail(route, status)
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 502, await resp.text()
    detail = (await resp.json())["detail"]
    assert detail["error"] == code
    assert extra.items() <= detail.items()
    [row] = deployments(grid_app, flow_id)
    assert row["status"] == "failed" and row["error"].startswith(code)
    assert detail["deployment_id"] == row["id"]
    if route in ("create_scope", "create_queue"):
        assert scaigrid_server.cores == {}  # aborted before any core was created
    if route == "publish_core":
        assert row["core_id"] in scaigrid_server.cores
    assert scaigrid_server.api_key not in await resp.text()


async def test_an_unreachable_scaigrid_is_a_recorded_failure(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers()
    flow_id = await new_flow(grid_app, headers)
    scaigrid_server.stall(3, "create_core")
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 502
    assert (await resp.json())["detail"]["error"] == "scaicore_create_failed"
    assert deployments(grid_app, flow_id)[0]["status"] == "failed"


async def test_a_flow_that_does_not_compile_is_400_and_nothing_is_sent(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers()
    content = hello_content()
    content["nodes"] = content["nodes"][1:]  # no entry node
    content["edges"] = []
    flow_id = await new_flow(grid_app, headers, content)
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert detail["error"] == "compile_error"
    assert "flow has no entry-point node" in [e["message"] for e in detail["errors"]]
    assert scaigrid_server.requests == [] and deployments(grid_app, flow_id) == []


async def test_missing_credentials_and_missing_scaigrid(make_appliance: AppFactory,
                                                       scaigrid_server: FakeScaiGrid) -> None:
    app = await make_appliance(SCAIGRID_BASE_URL=scaigrid_server.base_url)
    headers = await app.headers()
    flow_id = await new_flow(app, headers)
    resp = await app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 412
    detail = (await resp.json())["detail"]
    assert detail["error"] == "missing_scaigrid_credentials"
    assert detail["fix"] == ("Sign in with ScaiKey, or set this tenant's API key via "
                             "POST /v1/tenants/me/scaigrid_credentials.")
    bare = await make_appliance(SCAIGRID_API_KEY="k")
    headers = await bare.headers()
    flow_id = await new_flow(bare, headers)
    resp = await bare.client.post(f"{FLOWS}/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 503
    assert scaigrid_server.requests == []


async def test_the_tenant_key_wins_over_the_environment_key(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    scaigrid_server.add_api_key("sgk_tenant_key_1234", "acme")
    admin = await grid_app.headers("usr_admin", "tnt_a", role="tenant_admin")
    resp = await grid_app.client.post("/api/v1/tenants/me/scaigrid_credentials", headers=admin,
                                      json={"api_key": "sgk_tenant_key_1234"})
    assert resp.status == 204
    flow_id = await new_flow(grid_app, admin)
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=admin, json={})
    assert resp.status == 201
    assert scaigrid_server.last("create_core").bearer == "sgk_tenant_key_1234"


async def test_deploy_permissions(grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    owner = await grid_app.headers("usr_alice", "tnt_a")
    flow_id = await new_flow(grid_app, owner)
    await grid_app.user("usr_bob", "tnt_a")
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/acls", headers=owner, json={
        "principal_type": "user", "principal_id": "usr_bob", "level": "edit"})
    assert resp.status == 201
    bob = await grid_app.headers("usr_bob", "tnt_a")
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=bob, json={})
    assert resp.status == 403
    eve = await grid_app.headers("usr_eve", "tnt_b")
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=eve, json={})
    assert resp.status == 404
    viewer = await grid_app.headers("usr_carol", "tnt_a", scope="scaicore:view")
    resp = await grid_app.client.post(f"{FLOWS}/{flow_id}/deploy", headers=viewer, json={})
    assert resp.status == 403
    assert (await resp.json())["detail"]["error"] == "missing_permission"
    assert scaigrid_server.requests == [] and deployments(grid_app, flow_id) == []


async def test_dev_deploy_takes_only_the_dev_token(make_appliance: AppFactory,
                                                   scaigrid_server: FakeScaiGrid) -> None:
    url = "/api/v1/dev/deploy"
    body = {"content": hello_content()}
    unset = await make_appliance(**scaigrid_server.env())
    resp = await unset.client.post(url, json=body, headers={"Authorization": "Bearer x"})
    assert resp.status == 503
    app = await make_appliance(**scaigrid_server.env(SCAIFLOW_API_TOKEN="dev-secret-1"))
    for headers in ({}, {"Authorization": "Bearer wrong"}, await app.headers()):
        resp = await app.client.post(url, json=body, headers=headers)
        assert resp.status == 401, headers
    resp = await app.client.post(url, json=body,
                                 headers={"Authorization": "Bearer dev-secret-1"})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Deprecation"] == "true"
    answer = await resp.json()
    assert answer["core_id"] in scaigrid_server.cores and answer["published_slug"] is None
    assert scaigrid_server.last("create_core").bearer == scaigrid_server.api_key
    # The dev token is nothing anywhere else.
    resp = await app.client.get(FLOWS, headers={"Authorization": "Bearer dev-secret-1"})
    assert resp.status == 401
    assert app.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0
    [audit] = app.sql("SELECT * FROM audit_log WHERE action = 'dev.deployed'")
    assert "dev-secret-1" not in str(dict(audit))
