"""The OpenAPI document (SPEC §16) is generated from the route table, holds every route with
its real statuses and schemas, and is a valid OpenAPI 3.1 document; the API reference is
served from installed assets."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

from openapi_spec_validator import validate

import scaiflow_box.api as api_package
from scaiflow_box.api.examples import example_flow
from scaiflow_box.api.table import ROUTERS, all_routes
from scaiflow_box.http.route import Route
from scaiflow_box.keys import ROUTES
from tests.conftest import Appliance


async def document(appliance: Appliance) -> dict[str, Any]:
    resp = await appliance.client.get("/api/v1/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    doc: dict[str, Any] = await resp.json()
    return doc


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, ops in doc["paths"].items()
            for method, op in ops.items()}


async def test_the_table_the_routers_and_the_document_are_equal(appliance: Appliance) -> None:
    doc = await document(appliance)
    validate(doc)  # openapi-spec-validator: a valid OpenAPI 3.1 document
    assert doc["openapi"] == "3.1.0"
    # Every router module under scaiflow_box/api with ROUTES is in the table...
    modules = [importlib.import_module(f"scaiflow_box.api.{info.name}")
               for info in pkgutil.iter_modules(api_package.__path__)]
    declared = {(r.method, r.path) for m in modules for r in getattr(m, "ROUTES", [])}
    assert {m.__name__ for m in modules if hasattr(m, "ROUTES")} == {
        r.__name__ for r in ROUTERS}
    table = {(r.method, r.path) for r in all_routes()}
    served = {(r.method, r.path) for r in appliance.client.app[ROUTES].routes}
    assert declared == table == served
    # ...and the document holds exactly the table, with the table's operationIds.
    ops = operations(doc)
    assert set(ops) == {(r.method, r.path) for r in all_routes() if r.kind == "http"}
    assert {op["operationId"] for op in ops.values()} == {
        r.name for r in all_routes() if r.kind == "http"}
    # WebSocket routes (OpenAPI has no such operation) are listed under `x-websockets`.
    assert {(path, entry["operationId"]) for path, entry in doc["x-websockets"].items()} == {
        (r.path, r.name) for r in all_routes() if r.kind == "websocket"}


async def test_every_operation_documents_its_real_statuses(appliance: Appliance) -> None:
    doc = await document(appliance)
    ops = operations(doc)
    route: Route
    for route in all_routes():
        if route.kind == "websocket":
            continue  # not an OpenAPI operation (x-websockets, checked above)
        op = ops[(route.method, route.path)]
        assert set(op["responses"]) == {str(s) for s in route.statuses}, route.name
        assert op["tags"] == [route.tag]
        if route.auth == "token":
            assert op["security"] == [{"bearer": []}]
            assert "401" in op["responses"]
        elif route.auth == "dev_token":
            assert op["security"] == [{"devToken": []}]
        else:
            assert op["security"] == []
        if route.body is not None:
            body = op["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": f"#/components/schemas/{route.body.__name__}"}
            assert {"400", "413", "415", "422"} <= set(op["responses"])
    create = ops[("POST", "/api/v1/flows")]["responses"]
    assert set(create) >= {"201", "401", "403", "422"} and "200" not in create
    assert create["201"]["headers"]["ETag"]["required"] is True
    assert create["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FlowDetail"}
    assert set(create["201"]["links"]) >= {"GetFlow", "UpdateFlow", "DeleteFlow",
                                           "ListVersions", "DiffVersion"}
    assert "204" in ops[("DELETE", "/api/v1/flows/{flow_id}")]["responses"]
    assert "204" in ops[("POST", "/api/v1/admin/users/{user_id}/role")]["responses"]
    update = ops[("PUT", "/api/v1/flows/{flow_id}")]
    assert update["responses"]["412"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VersionConflictError"}
    params = {(p["in"], p["name"]) for p in update["parameters"]}
    assert params == {("path", "flow_id"), ("header", "If-Match"), ("query", "tenant_id")}
    listing = ops[("GET", "/api/v1/flows")]
    assert {p["name"] for p in listing["parameters"]} == {"search", "limit", "cursor"}
    assert listing["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationError"}
    audit = ops[("GET", "/api/v1/admin/audit")]
    assert {p["name"] for p in audit["parameters"]} == {
        "tenant_id", "actor", "action", "since", "limit", "cursor"}
    diff = ops[("GET", "/api/v1/flows/{flow_id}/versions/{version}/diff")]
    assert "against" in {p["name"] for p in diff["parameters"]}


async def test_document_metadata_schemas_and_examples(appliance: Appliance) -> None:
    doc = await document(appliance)
    assert doc["servers"] == [{"url": "/", "description": "This appliance"}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert {t["name"] for t in doc["tags"]} == {r.tag for r in all_routes()}
    schemas = doc["components"]["schemas"]
    # Flow content is documented by the FlowGraph models; a client may omit id/version.
    assert set(schemas["FlowGraph"]["required"]) == {"id", "name", "version"}
    assert schemas["FlowContent"]["required"] == ["name"]
    assert schemas["FlowCreate"]["properties"]["content"]["$ref"] == \
        "#/components/schemas/FlowContent"
    assert schemas["FlowDetail"]["properties"]["content"]["$ref"] == \
        "#/components/schemas/FlowGraph"
    node_kinds = schemas["Node"]["properties"]["type"]["enum"]
    assert len(node_kinds) == 24 and "subflow_call" in node_kinds
    assert schemas["PlainError"]["properties"]["detail"] == {"title": "Detail",
                                                             "type": "string"}
    assert schemas["VersionConflictDetail"]["properties"]["error"]["const"] == \
        "version_conflict"
    assert schemas["FlowDiff"]["required"][0] == "from"
    # Examples come from the shipped example flows.
    example = operations(doc)[("POST", "/api/v1/flows")]["requestBody"]["content"][
        "application/json"]["example"]
    assert example["content"] == example_flow("hello-world")
    # Nothing refers to a schema the document does not hold.
    text = json.dumps(doc)
    for ref in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
        assert ref in schemas, ref


async def test_the_example_bodies_are_accepted(appliance: Appliance) -> None:
    doc = await document(appliance)
    headers = await appliance.headers()
    ops = operations(doc)
    for key in (("POST", "/api/v1/flows"), ("POST", "/api/v1/flows/validate"),
                ("POST", "/api/v1/flows/compile")):
        example = ops[key]["requestBody"]["content"]["application/json"]["example"]
        resp = await appliance.client.post(key[1], json=example, headers=headers)
        assert resp.status in (200, 201), (key, await resp.text())
    [flow] = appliance.sql("SELECT name FROM flows")
    assert flow["name"] == "Hello World"


async def test_api_reference_is_served_offline(appliance: Appliance) -> None:
    resp = await appliance.client.get("/api/v1/docs")
    assert resp.status == 200 and resp.content_type == "text/html"
    page = await resp.text()
    assert "http://" not in page and "https://" not in page  # no CDN, ever
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    for asset, content_type in (("swagger-ui-bundle.js", "application/javascript"),
                                ("swagger-ui.css", "text/css"), ("init.js",
                                                                 "application/javascript")):
        assert f"docs/{asset}" in page
        resp = await appliance.client.get(f"/api/v1/docs/{asset}")
        assert resp.status == 200 and resp.content_type == content_type, asset
        assert len(await resp.read()) > 20
    resp = await appliance.client.get("/api/v1/docs/init.js")
    assert b'url: "openapi.json"' in await resp.read()
    for bad in ("index.html", "..%2Fmaster.key", "swagger-ui.js.map", "x"):
        resp = await appliance.client.get(f"/api/v1/docs/{bad}")
        assert resp.status == 404, bad
