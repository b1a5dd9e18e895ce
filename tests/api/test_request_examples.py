"""The API reference's request examples (issue 12): every operation with a body documents
one, and each, sent as it is to a served appliance, does what its operation is for (a 2xx and
the stored effect), as "Try it out" in /api/v1/docs would. Also the reference's address with
a trailing slash."""

from __future__ import annotations

import json
from typing import Any

import orjson
from yarl import URL

from tests.conftest import AppFactory, Appliance, hello_content
from tests.fakes.scaigrid import FakeScaiGrid
from tests.fakes.scaikey import FakeScaiKey, webhook_headers

DEV_TOKEN = "dev-1"
WEBHOOK_SECRET = "whsec-1"


def checkpoint_content() -> dict[str, Any]:
    """hello_content with a checkpoint after the reply: invoking it leaves one pending."""
    content = hello_content()
    content["nodes"].append({
        "id": "node_gate", "type": "checkpoint", "label": "Gate",
        "position": {"x": 240, "y": 0}, "config": {"prompt": "ok?"},
        "inputs": [{"id": "in", "label": "in", "type": "object"}], "outputs": []})
    content["nodes"][1]["outputs"] = [{"id": "out", "label": "out", "type": "object"}]
    content["edges"].append({"id": "edge_2", "type": "sequential",
                             "source": {"node": "node_reply", "port": "out"},
                             "target": {"node": "node_gate", "port": "in"}})
    return content


async def call(app: Appliance, method: str, path: str, headers: dict[str, str],
               body: Any, status: int) -> Any:
    resp = await app.client.request(method, path, headers=headers, json=body)
    assert resp.status == status, (method, path, await resp.text())
    return await resp.json() if resp.content_type == "application/json" else None


async def test_every_request_body_has_an_example_that_works(
        make_appliance: AppFactory, scaigrid_server: FakeScaiGrid,
        scaikey_server: FakeScaiKey) -> None:
    scaikey_server.accept_any_grant = True  # the example's code and refresh token
    app = await make_appliance(**scaigrid_server.env(**scaikey_server.env(
        SCAIFLOW_API_TOKEN=DEV_TOKEN, SCAIFLOW_SCAIKEY_WEBHOOK_SECRET=WEBHOOK_SECRET)))
    doc = await (await app.client.get("/api/v1/openapi.json")).json()
    examples: dict[str, tuple[str, str, Any]] = {}
    binary: list[tuple[str, list[str]]] = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                content = operation["requestBody"]["content"]
                if "application/json" not in content:  # bytes: a file, not an example
                    binary.append((operation["operationId"], list(content)))
                    continue
                media = content["application/json"]
                assert "example" in media, (method, path)
                examples[operation["operationId"]] = (method.upper(), path, media["example"])

    assert binary == [("import_package", ["application/zip"])]

    # The world the examples act on: a super admin (every operation is theirs), the users the
    # examples name, a flow, a grant to change, a core with a pending checkpoint.
    admin = await app.headers("usr_root", role="super_admin")
    await app.user("usr_bob")
    await app.user("usr_carol")
    await app.group("grp_support", "tnt_a", ["usr_bob"])
    flow = await call(app, "POST", "/api/v1/flows", admin, examples["create_flow"][2], 201)
    other = await call(app, "POST", "/api/v1/flows", admin,
                       {"name": "Other", "content": hello_content()}, 201)
    await app.user("usr_dave")
    grant = await call(app, "POST", f"/api/v1/flows/{flow['id']}/acls", admin,
                       {"principal_type": "user", "principal_id": "usr_dave", "level": "view"},
                       201)
    gated = await call(app, "POST", "/api/v1/flows", admin,
                       {"name": "Gated", "content": checkpoint_content()}, 201)
    core = await call(app, "POST", f"/api/v1/flows/{gated['id']}/deploy", admin, {}, 201)
    await call(app, "POST", f"/api/v1/scaicore/cores/{core['core_id']}/invoke", admin,
               {"input": {}}, 200)
    [checkpoint] = scaigrid_server.pending_checkpoints()
    # The tenant key the credentials example stores is one ScaiGrid knows, for the calls after.
    scaigrid_server.add_api_key(examples["set_scaigrid_credentials"][2]["api_key"])

    # operationId -> (path parameters, the expected status)
    plan: dict[str, tuple[dict[str, str], int]] = {
        "exchange_code": ({}, 200), "refresh_tokens": ({}, 200),
        "validate": ({}, 200), "compile_preview": ({}, 200), "import_yaml": ({}, 200),
        "create_flow": ({}, 201),
        "update_flow": ({"flow_id": flow["id"]}, 200),
        "run_flow_tests": ({"flow_id": flow["id"]}, 200),
        "deploy_flow": ({"flow_id": flow["id"]}, 201),
        "dev_deploy": ({}, 200),
        "create_acl": ({"flow_id": flow["id"]}, 201),
        "change_acl": ({"flow_id": flow["id"], "acl_id": grant["id"]}, 200),
        "set_tenant_scaigrid_credentials": ({"tenant_id": "tnt_a"}, 204),
        "set_scaigrid_credentials": ({}, 204),
        "grant_role": ({"user_id": "usr_carol"}, 204),
        "change_owner": ({"flow_id": other["id"]}, 200),
        "create_service_token": ({}, 201),
        "rotate_master_key": ({}, 200),
        "resolve_checkpoint": ({"checkpoint_id": checkpoint.id}, 200),
        "invoke_core": ({"core_id": core["core_id"]}, 200),
        "receive_scaikey_webhook": ({}, 200),
        "heartbeat": ({"flow_id": flow["id"]}, 200),
        "publish_package": ({}, 201),
        "install_package": ({"package_id": "hello-world"}, 201),
        "set_package_visibility": ({"package_id": "hello-world"}, 200),
    }
    assert set(plan) == set(examples)
    answers: dict[str, Any] = {}
    for operation_id, (params, status) in plan.items():
        method, path, example = examples[operation_id]
        body = orjson.dumps(example)
        headers = {"Content-Type": "application/json"}
        if operation_id == "dev_deploy":
            headers["Authorization"] = f"Bearer {DEV_TOKEN}"
        elif operation_id == "receive_scaikey_webhook":
            headers.update(webhook_headers(WEBHOOK_SECRET, body))
        elif not path.startswith("/api/v1/auth/"):
            headers.update(admin)
        resp = await app.client.request(method, path.format(**params), headers=headers,
                                        data=body)
        assert resp.status == status, (operation_id, await resp.text())
        answers[operation_id] = (json.loads(await resp.read() or b"null"), example)

    # What they did.
    renamed, example = answers["update_flow"]
    assert (renamed["name"], renamed["version"]) == (example["name"], "1.0.0")
    [row] = app.sql("SELECT name, description, version FROM flows WHERE id = ?", flow["id"])
    assert (row["name"], row["description"]) == (example["name"], example["description"])
    results = answers["run_flow_tests"][0]["results"]
    assert [(r["name"], r["status"]) for r in results] == [("greets Grace", "passed")], results
    deployed = answers["deploy_flow"][0]
    assert (deployed["version"], deployed["status"]) == ("1.0.0", "succeeded")
    assert [tuple(r) for r in app.sql("SELECT principal_id, level FROM flow_acls WHERE "
                                      "flow_id = ? ORDER BY principal_id", flow["id"])] == [
        ("usr_bob", "view"), ("usr_dave", "edit")]
    assert app.sql("SELECT owner_id FROM flows WHERE id = ?", other["id"])[0][0] == "usr_bob"
    assert app.sql("SELECT admin_role FROM users WHERE id = 'usr_carol'")[0][0] == "tenant_admin"
    minted = answers["create_service_token"][0]
    assert [tuple(r) for r in app.sql("SELECT sub, scope FROM service_tokens WHERE id = ?",
                                      minted["id"])] == [("usr_ci", "scaicore:view")]
    assert app.sql("SELECT count(*) FROM tenant_secrets WHERE tenant_id = 'tnt_a'")[0][0] >= 1
    resolved = scaigrid_server.checkpoints[checkpoint.id]
    assert (resolved.status, resolved.resolution) == ("resolved", "approve")
    assert scaigrid_server.last("invoke_core").json() == {"input": {"name": "Ada"}}
    assert app.sql("SELECT name FROM groups WHERE id = 'grp_example'")[0][0] == "Example group"
    assert answers["exchange_code"][0]["token_type"] == "Bearer"
    [viewer] = answers["heartbeat"][0]["viewers"]
    assert (viewer["user_id"], viewer["client_id"], viewer["state"]) == (
        "usr_root", "tab-7f3c2a", {"selected_node": "node_start"})
    published = answers["publish_package"][0]
    assert (published["package_id"], published["version"]) == ("hello-world", "0.1.0")
    installed, example = answers["install_package"]
    assert installed["name"] == example["name"] and installed["owner_id"] == "usr_root"
    [row] = app.sql("SELECT visibility FROM catalog_packages WHERE package_id = 'hello-world'")
    assert row[0] == "groups"
    assert [tuple(r) for r in app.sql("SELECT group_id FROM catalog_package_groups")] == [
        ("grp_support",)]


async def test_the_reference_with_a_trailing_slash_is_redirected(appliance: Appliance) -> None:
    resp = await appliance.client.get("/api/v1/docs/", allow_redirects=False)
    assert resp.status == 301
    assert resp.headers["Location"] == "../docs"
    assert resp.url.join(URL(resp.headers["Location"])).path == "/api/v1/docs"
    assert resp.content_type == "text/html"
    resp = await appliance.client.get("/api/v1/docs/")
    assert resp.status == 200 and str(resp.url).endswith("/api/v1/docs")
    assert b"swagger-ui" in await resp.read()
    resp = await appliance.client.get("/api/v1/docs/?x=1", allow_redirects=False)
    assert resp.status == 422
