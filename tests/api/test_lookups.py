"""Lookups (SPEC §9) and the ScaiCore proxy (SPEC §10) against the ScaiGrid stand-in."""

from __future__ import annotations

import pytest

from tests.conftest import AppFactory, Appliance, hello_content
from tests.fakes.scaigrid import FakeScaiGrid


@pytest.fixture
async def grid_app(make_appliance: AppFactory, scaigrid_server: FakeScaiGrid) -> Appliance:
    return await make_appliance(**scaigrid_server.env(SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS="1"))


async def deployed_core(app: Appliance, headers: dict[str, str], *,
                        checkpoint: bool = False) -> str:
    content = hello_content()
    if checkpoint:
        content["nodes"].append({
            "id": "node_gate", "type": "checkpoint", "label": "Gate",
            "position": {"x": 240, "y": 0}, "config": {"prompt": "ok?"},
            "inputs": [{"id": "in", "label": "in", "type": "object"}], "outputs": []})
        content["nodes"][1]["outputs"] = [{"id": "out", "label": "out", "type": "object"}]
        content["edges"].append({"id": "edge_2", "type": "sequential",
                                 "source": {"node": "node_reply", "port": "out"},
                                 "target": {"node": "node_gate", "port": "in"}})
    resp = await app.client.post("/api/v1/flows", headers=headers,
                                 json={"name": "Core", "content": content})
    flow_id = (await resp.json())["id"]
    resp = await app.client.post(f"/api/v1/flows/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["core_id"])


async def test_scopes_queues_bunkers(grid_app: Appliance,
                                     scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers(scope="scaicore:view")
    scope = scaigrid_server._add_scope("acme", "support", "Support")
    scaigrid_server._add_queue(scope, "intake", "Intake", "fifo", 5)
    resp = await grid_app.client.get("/api/v1/scaiqueue/scopes", headers=headers)
    assert resp.status == 200
    [item] = (await resp.json())["data"]
    assert (item["id"], item["slug"], item["display_name"]) == (scope.id, "support", "Support")
    resp = await grid_app.client.get(f"/api/v1/scaiqueue/scopes/{scope.id}/queues",
                                     headers=headers)
    [queue] = (await resp.json())["data"]
    assert (queue["slug"], queue["consumer_mode"], queue["max_retries"]) == ("intake", "fifo", 5)
    resp = await grid_app.client.get("/api/v1/scaibunker/bunkers", headers=headers)
    assert resp.status == 200
    assert all(b["status"] == "active" for b in (await resp.json())["data"])
    assert scaigrid_server.last("list_bunkers").query.get("status") == "active"


@pytest.mark.parametrize("envelope", ["native", "data", "openai"])
async def test_models_normalize_every_envelope(grid_app: Appliance,
                                               scaigrid_server: FakeScaiGrid,
                                               envelope: str) -> None:
    scaigrid_server.models_envelope = envelope
    resp = await grid_app.client.get("/api/v1/scaigrid/models",
                                     headers=await grid_app.headers())
    assert resp.status == 200, await resp.text()
    models = (await resp.json())["data"]
    assert models and all(isinstance(m["slug"], str) and m["slug"] for m in models)
    if envelope != "openai":
        assert any(m["context_window"] for m in models)


async def test_upstream_failures_map_to_the_documented_errors(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers()
    url = "/api/v1/scaiqueue/scopes"
    scaigrid_server.fail("list_scopes", 429, retry_after="7", times=1)
    resp = await grid_app.client.get(url, headers=headers)
    assert resp.status == 429 and resp.headers["Retry-After"] == "7"
    assert (await resp.json())["detail"]["error"] == "scaigrid_rate_limited"
    scaigrid_server.fail("list_scopes", 401, times=1)
    resp = await grid_app.client.get(url, headers=headers)
    detail = (await resp.json())["detail"]
    assert resp.status == 502 and detail["error"] == "scaigrid_auth"
    assert detail["fix"] == "Caller needs `scaicore:view` on this tenant."
    scaigrid_server.fail("list_scopes", 503, code="MAINTENANCE", times=1)
    resp = await grid_app.client.get(url, headers=headers)
    detail = (await resp.json())["detail"]
    assert resp.status == 502 and detail["error"] == "scaigrid_error"
    assert (detail["status"], detail["code"]) == (503, "MAINTENANCE")
    scaigrid_server.stall(3, "list_scopes", times=1)
    resp = await grid_app.client.get(url, headers=headers)
    assert resp.status == 502
    assert (await resp.json())["detail"]["error"] == "scaigrid_unreachable"
    scaigrid_server.malformed("list_scopes", times=1)
    resp = await grid_app.client.get(url, headers=headers)
    assert resp.status == 502
    assert scaigrid_server.api_key not in await resp.text()


async def test_lookups_need_credentials(make_appliance: AppFactory,
                                        scaigrid_server: FakeScaiGrid) -> None:
    app = await make_appliance(SCAIGRID_BASE_URL=scaigrid_server.base_url)
    resp = await app.client.get("/api/v1/scaigrid/models", headers=await app.headers())
    assert resp.status == 412
    assert (await resp.json())["detail"]["error"] == "missing_credentials"
    assert scaigrid_server.requests == []


async def test_invoke_events_checkpoints_and_resolve(grid_app: Appliance,
                                                     scaigrid_server: FakeScaiGrid) -> None:
    manager = await grid_app.headers()
    core_id = await deployed_core(grid_app, manager, checkpoint=True)
    viewer = await grid_app.headers("usr_viewer", "tnt_a", scope="scaicore:view")
    resp = await grid_app.client.post(f"/api/v1/scaicore/cores/{core_id}/invoke",
                                      headers=viewer, json={"input": {"name": "Ada"}})
    assert resp.status == 403
    resp = await grid_app.client.post(f"/api/v1/scaicore/cores/{core_id}/invoke",
                                      headers=manager, json={"input": {"name": "Ada"}})
    assert resp.status == 200, await resp.text()
    resp = await grid_app.client.get("/api/v1/scaicore/events", headers=viewer,
                                     params={"core_id": core_id, "limit": "2"})
    page = (await resp.json())["data"]
    assert page["events"][0]["type"] == "scaicore.runtime.invocation.started"
    assert len(page["events"]) == 2 and page["next_cursor"]
    resp = await grid_app.client.get("/api/v1/scaicore/events", headers=viewer, params={
        "core_id": core_id, "cursor": page["next_cursor"]})
    assert (await resp.json())["data"]["events"]
    resp = await grid_app.client.get("/api/v1/scaicore/checkpoints", headers=viewer,
                                     params={"core_id": core_id})
    [checkpoint] = (await resp.json())["data"]["checkpoints"]
    resp = await grid_app.client.post(
        f"/api/v1/scaicore/checkpoints/{checkpoint['id']}/resolve", headers=manager,
        json={"resolution": "approve", "comment": "fine"})
    assert resp.status == 200, await resp.text()
    assert scaigrid_server.pending_checkpoints() == []
    assert scaigrid_server.last("resolve_checkpoint").json() == {
        "resolution": "approve", "comment": "fine"}
    actions = [r["action"] for r in grid_app.sql("SELECT action FROM audit_log ORDER BY id")]
    assert "core.invoked" in actions and "checkpoint.resolved" in actions
