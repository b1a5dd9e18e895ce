"""Regressions for what schemathesis found against the served appliance (tests/contract):
places where the server and its OpenAPI document disagreed. Each test checks both sides (what
the document says about a request, and what the server answers, and what it stored)."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.conftest import Appliance, hello_content

FLOWS = "/api/v1/flows"


async def document(app: Appliance) -> dict[str, Any]:
    resp = await app.client.get("/api/v1/openapi.json")
    assert resp.status == 200
    doc: dict[str, Any] = await resp.json()
    return doc


def request_validator(doc: dict[str, Any], path: str, method: str) -> jsonschema.Validator:
    """A JSON Schema validator for the JSON request body the document declares."""
    schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    registry: Registry[Any] = Registry().with_resource("urn:doc",
                                                        DRAFT202012.create_resource(doc))
    return jsonschema.Draft202012Validator({"$ref": "urn:doc" + schema["$ref"]},
                                           registry=registry)


async def test_a_conditional_edge_without_condition_is_invalid_for_both(
        appliance: Appliance) -> None:
    """The server refuses a conditional edge without `condition` (422); the document used to
    accept it (schemathesis: "schema-valid request rejected" on POST /flows)."""
    headers = await appliance.headers()
    validator = request_validator(await document(appliance), FLOWS, "post")
    content = hello_content()
    content["edges"][0]["type"] = "conditional"
    body = {"name": "x", "content": content}

    assert not validator.is_valid(body)
    resp = await appliance.client.post(FLOWS, headers=headers, json=body)
    assert resp.status == 422
    assert (await resp.json())["detail"] == [{
        "loc": ["body", "content", "edges", 0, "condition"],
        "msg": "Field required when type is 'conditional'", "type": "missing"}]
    content["edges"][0]["condition"] = None  # null is no condition either
    assert not validator.is_valid(body)
    assert (await appliance.client.post(FLOWS, headers=headers, json=body)).status == 422
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0

    content["edges"][0]["condition"] = "{{ok}}"
    assert validator.is_valid(body)
    resp = await appliance.client.post(FLOWS, headers=headers, json=body)
    assert resp.status == 201
    [stored] = appliance.sql("SELECT content FROM flow_versions")
    assert b'"condition":"{{ok}}"' in stored["content"]
    # Other edge types still need no condition, in both.
    content["edges"][0] = {**content["edges"][0], "type": "data"}
    del content["edges"][0]["condition"]
    assert validator.is_valid(body)
    assert (await appliance.client.post(FLOWS, headers=headers, json=body)).status == 201


async def test_compile_formats_are_the_documented_enum(appliance: Appliance) -> None:
    """Only `yaml` and `json` compile; the document said any string up to 16 characters
    (schemathesis: "schema-valid request rejected" with 400 `unsupported_format`)."""
    headers = await appliance.headers()
    doc = await document(appliance)
    validator = request_validator(doc, f"{FLOWS}/compile", "post")
    assert doc["components"]["schemas"]["CompileRequest"]["properties"]["format"]["enum"] == [
        "yaml", "json"]
    audit_before = appliance.sql("SELECT count(*) AS n FROM audit_log")[0]["n"]
    for fmt in ("ir", "scai", "000"):
        body = {"content": hello_content(), "format": fmt}
        assert not validator.is_valid(body)
        resp = await appliance.client.post(f"{FLOWS}/compile", headers=headers, json=body)
        assert resp.status == 400
        assert (await resp.json())["detail"]["error"] == "unsupported_format"
    for fmt in ("yaml", "json"):
        body = {"content": hello_content(), "format": fmt}
        assert validator.is_valid(body)
        resp = await appliance.client.post(f"{FLOWS}/compile", headers=headers, json=body)
        assert resp.status == 200
        assert (await resp.json())["format"] == fmt
    # Compiling stores nothing.
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0
    assert appliance.sql("SELECT count(*) AS n FROM audit_log")[0]["n"] == audit_before


async def test_an_overlong_query_is_a_documented_414(appliance: Appliance) -> None:
    """Query parameters within their documented lengths can still make the request line
    longer than 8 KB once percent-encoded (1,000 four-byte characters are 12 KB); the server
    answers 414 there, which the document did not list (schemathesis: "undocumented status
    code")."""
    headers = await appliance.headers()
    doc = await document(appliance)
    for path in (FLOWS, "/api/v1/flows/{flow_id}/versions", "/api/v1/admin/audit"):
        declared = doc["paths"][path]["get"]["responses"]["414"]
        assert declared["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/UriTooLongError"}
    assert "414" not in doc["paths"]["/api/v1/me"]["get"]["responses"]
    audit_before = appliance.sql("SELECT count(*) AS n FROM audit_log")[0]["n"]
    resp = await appliance.client.get(FLOWS, headers=headers,
                                      params={"search": "\U0001f600" * 700})
    assert resp.status == 414
    assert (await resp.json())["detail"]["error"] == "uri_too_long"
    assert appliance.sql("SELECT count(*) AS n FROM audit_log")[0]["n"] == audit_before


async def test_cursors_are_documented_as_what_the_server_issues(appliance: Appliance) -> None:
    """The cursor was documented as any string of up to 1,024 characters, so valid-looking
    cursors of non-ASCII characters could exceed the request-line limit; the document now
    says what a cursor is (base64url "." base64url, or empty for the first page)."""
    headers = await appliance.headers()
    doc = await document(appliance)
    [cursor_param] = [p for p in doc["paths"][FLOWS]["get"]["parameters"]
                      if p["name"] == "cursor"]
    [string_schema] = [s for s in cursor_param["schema"]["anyOf"] if s["type"] == "string"]
    pattern = re.compile(string_schema["pattern"])
    assert string_schema["maxLength"] == 1024
    for name in ("a", "b", "c"):
        assert (await appliance.client.post(FLOWS, headers=headers, json={
            "name": name, "content": hello_content(name)})).status == 201
    resp = await appliance.client.get(FLOWS, headers=headers, params={"limit": "1"})
    first = await resp.json()
    cursor = first["next_cursor"]
    assert pattern.match(cursor) and pattern.match("")
    resp = await appliance.client.get(FLOWS, headers=headers,
                                      params={"limit": "1", "cursor": cursor})
    assert resp.status == 200
    assert [f["id"] for f in (await resp.json())["items"]] != [f["id"] for f in first["items"]]
    resp = await appliance.client.get(FLOWS, headers=headers, params={"cursor": ""})
    assert resp.status == 200 and (await resp.json())["total"] == 3
    forged = "é" * 20
    assert not pattern.match(forged)
    resp = await appliance.client.get(FLOWS, headers=headers, params={"cursor": forged})
    assert resp.status == 400
    assert (await resp.json())["detail"]["error"] == "invalid_cursor"
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 3


async def test_if_match_is_held_to_its_documented_length(appliance: Appliance) -> None:
    """`If-Match` is documented with a maxLength of 1,024, but the server read any length and
    answered 412 (schemathesis: "schema-violating request accepted"). It is now a 422 before
    anything is touched, on every route that reads it, and the document lists that 422."""
    headers = await appliance.headers()
    doc = await document(appliance)
    for path, method in ((f"{FLOWS}/{{flow_id}}", "put"), (f"{FLOWS}/{{flow_id}}", "delete"),
                         (f"{FLOWS}/{{flow_id}}/acls", "post"),
                         (f"{FLOWS}/{{flow_id}}/acls/{{acl_id}}", "patch"),
                         (f"{FLOWS}/{{flow_id}}/acls/{{acl_id}}", "delete")):
        operation = doc["paths"][path][method]
        [if_match] = [p for p in operation["parameters"] if p["name"] == "If-Match"]
        assert if_match["schema"]["maxLength"] == 1024
        assert "422" in operation["responses"], (method, path)
    resp = await appliance.client.post(FLOWS, headers=headers, json={
        "name": "x", "content": hello_content()})
    flow = await resp.json()
    url = f"{FLOWS}/{flow['id']}"
    too_long = '"' + "1" * 1023 + '"'
    expected = {"detail": [{"loc": ["header", "If-Match"],
                            "msg": "String should have at most 1024 characters",
                            "type": "string_too_long"}]}
    resp = await appliance.client.put(url, headers={**headers, "If-Match": too_long},
                                      json={"name": "renamed"})
    assert resp.status == 422
    assert await resp.json() == expected
    resp = await appliance.client.delete(url, headers={**headers, "If-Match": too_long})
    assert resp.status == 422
    assert await resp.json() == expected
    [row] = appliance.sql("SELECT name, version, deleted_at FROM flows WHERE id = ?", flow["id"])
    assert (row["name"], row["version"], row["deleted_at"]) == ("x", "1.0.0", None)
    # At the limit it is read as usual: a stale tag is a 412.
    resp = await appliance.client.put(url, headers={**headers, "If-Match": too_long[:-2] + '"'},
                                      json={"name": "renamed"})
    assert resp.status == 412
    resp = await appliance.client.put(url, headers={**headers, "If-Match": '"1.0.0"'},
                                      json={"name": "renamed"})
    assert resp.status == 200
    assert appliance.sql("SELECT name FROM flows WHERE id = ?", flow["id"])[0]["name"] == "renamed"


def test_a_header_constraint_the_server_cannot_enforce_is_refused() -> None:
    """A request header may only declare what the dispatcher checks, so the document cannot
    promise a constraint nobody enforces."""
    from aiohttp import web

    from scaiflow_box.http.dispatch import register_routes
    from scaiflow_box.http.route import Header, Response, Route

    async def handler(call: Any) -> Any:  # never called
        raise AssertionError

    route = Route("GET", "/api/v1/x", handler, "x", "flows", (Response(204, None, "x"),),
                  headers=(Header("X-Tag", "x", schema={"type": "string", "pattern": "^a$"}),))
    try:
        register_routes(web.Application(), [route])
    except ValueError as exc:
        assert "X-Tag" in str(exc) and "pattern" in str(exc)
    else:
        raise AssertionError("registered a header check nobody enforces")


async def test_an_id_longer_than_documented_is_not_found_before_anything_else(
        appliance: Appliance) -> None:
    """Path parameters are documented as 1-200 characters, but the server looked a longer
    one up like any other: behind a stale If-Match, DELETE and PATCH on an ACL answered 412
    (schemathesis: "schema-violating request accepted"). It now names nothing: 404 first."""
    headers = await appliance.headers()
    doc = await document(appliance)
    acl_path = f"{FLOWS}/{{flow_id}}/acls/{{acl_id}}"
    for method in ("patch", "delete"):
        params = {p["name"]: p for p in doc["paths"][acl_path][method]["parameters"]}
        assert params["acl_id"]["schema"]["maxLength"] == 200
    resp = await appliance.client.post(FLOWS, headers=headers, json={
        "name": "x", "content": hello_content()})
    flow = await resp.json()
    await appliance.user("usr_bob", "tnt_a")
    resp = await appliance.client.post(f"{FLOWS}/{flow['id']}/acls", headers=headers, json={
        "principal_type": "user", "principal_id": "usr_bob", "level": "view"})
    acl = await resp.json()
    stale = {**headers, "If-Match": '"9.9.9"'}
    too_long = "a" * 201
    resp = await appliance.client.delete(f"{FLOWS}/{flow['id']}/acls/{too_long}", headers=stale)
    assert resp.status == 404
    assert await resp.json() == {"detail": "Not Found"}
    resp = await appliance.client.patch(f"{FLOWS}/{flow['id']}/acls/{too_long}", headers=stale,
                                        json={"level": "edit"})
    assert resp.status == 404
    resp = await appliance.client.get(f"{FLOWS}/{'f' * 201}", headers=headers)
    assert resp.status == 404
    # At 200 characters an id is looked up as usual (here: the stale tag comes first).
    resp = await appliance.client.delete(f"{FLOWS}/{flow['id']}/acls/{'a' * 200}", headers=stale)
    assert resp.status == 412
    [row] = appliance.sql("SELECT level FROM flow_acls WHERE id = ?", acl["id"])
    assert row["level"] == "view"


async def test_content_id_and_version_take_any_value_and_are_overwritten(
        appliance: Appliance) -> None:
    """The server overwrites `content.id` and `content.version` whatever was sent (SPEC §3),
    but the document said they were strings (schemathesis: "schema-violating request
    accepted" for a number there). The document now says any value, ignored."""
    headers = await appliance.headers()
    doc = await document(appliance)
    create_validator = request_validator(doc, FLOWS, "post")
    update_validator = request_validator(doc, f"{FLOWS}/{{flow_id}}", "put")
    content = {**hello_content(), "id": ["not", "an", "id"], "version": 5}
    assert create_validator.is_valid({"name": "x", "content": content})
    resp = await appliance.client.post(FLOWS, headers=headers,
                                       json={"name": "x", "content": content})
    assert resp.status == 201
    flow = await resp.json()
    assert (flow["content"]["id"], flow["content"]["version"]) == (flow["id"], "1.0.0")
    content = {**content, "id": None, "version": {"major": 7}}
    assert update_validator.is_valid({"content": content})
    resp = await appliance.client.put(f"{FLOWS}/{flow['id']}", headers=headers,
                                      json={"content": content})
    assert resp.status == 200
    rows = appliance.sql("SELECT version, content FROM flow_versions WHERE flow_id = ? "
                         "ORDER BY version", flow["id"])
    assert [r["version"] for r in rows] == ["1.0.0", "1.0.1"]
    stored = json.loads(rows[1]["content"])
    assert (stored["id"], stored["version"]) == (flow["id"], "1.0.1")


async def test_an_integral_float_is_an_integer(appliance: Appliance) -> None:
    """JSON Schema reads 48.0 as an integer, so the document calls `max_retries: 48.0` valid,
    but the structural check refused it (schemathesis: "schema-valid request rejected", 422
    `int_type`). It is accepted, stored as sent, and compiled as the integer."""
    headers = await appliance.headers()
    validator = request_validator(await document(appliance), FLOWS, "post")
    content = hello_content()
    content["config"]["scaiqueue"] = {"queues": [{"slug": "jobs", "max_retries": 48.0}]}
    content["config"]["bunker"] = {"cpu_millicores": 500.0}
    body = {"name": "x", "content": content}
    assert validator.is_valid(body)
    resp = await appliance.client.post(FLOWS, headers=headers, json=body)
    assert resp.status == 201, await resp.text()
    flow = await resp.json()
    assert flow["content"]["config"]["scaiqueue"]["queues"][0]["max_retries"] == 48.0
    [row] = appliance.sql("SELECT content FROM flow_versions WHERE flow_id = ?", flow["id"])
    assert b'"max_retries":48.0' in row["content"]
    resp = await appliance.client.post(f"{FLOWS}/compile", headers=headers,
                                       json={"content": flow["content"], "format": "json"})
    manifest = json.loads((await resp.json())["body"])
    assert manifest["core"]["scaiqueue"]["queues"][0]["max_retries"] == 48
    assert type(manifest["core"]["scaiqueue"]["queues"][0]["max_retries"]) is int
    # Not integral, or out of range: invalid for both, nothing stored.
    for value, kind in ((48.5, "int_type"), (101.0, "less_than_equal")):
        content["config"]["scaiqueue"]["queues"][0]["max_retries"] = value
        assert not validator.is_valid(body)
        resp = await appliance.client.post(FLOWS, headers=headers, json=body)
        assert resp.status == 422
        [item] = (await resp.json())["detail"]
        assert item["loc"][-1] == "max_retries" and item["type"] == kind
    content["config"]["scaiqueue"]["queues"][0]["max_retries"] = 3
    for value in (-1, -1.0):
        content["config"]["bunker"]["cpu_millicores"] = value
        assert not validator.is_valid(body)
        resp = await appliance.client.post(FLOWS, headers=headers, json=body)
        assert resp.status == 422
        [item] = (await resp.json())["detail"]
        assert item["loc"][-1] == "cpu_millicores" and item["type"] == "greater_than_equal"
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 1


async def test_write_links_carry_the_etag_they_follow(appliance: Appliance) -> None:
    """The links from a flow to its update and delete pass the response's ETag as If-Match
    (a client following them writes only what it read). Followed by hand: the fresh tag
    writes, the same tag after a change is refused."""
    headers = await appliance.headers()
    doc = await document(appliance)
    created = doc["paths"][FLOWS]["post"]["responses"]["201"]["links"]
    for name in ("UpdateFlow", "DeleteFlow"):
        assert created[name]["parameters"] == {"flow_id": "$response.body#/id",
                                               "header.If-Match": "$response.header.ETag"}
    resp = await appliance.client.post(FLOWS, headers=headers, json={
        "name": "x", "content": hello_content()})
    flow, etag = await resp.json(), resp.headers["ETag"]
    resp = await appliance.client.put(f"{FLOWS}/{flow['id']}", json={"name": "y"},
                                      headers={**headers, "If-Match": etag})
    assert resp.status == 200
    resp = await appliance.client.delete(f"{FLOWS}/{flow['id']}",
                                         headers={**headers, "If-Match": etag})
    assert resp.status == 412
    assert (await resp.json())["detail"]["current_etag"] == '"1.0.0-1"'
    [row] = appliance.sql("SELECT name, deleted_at FROM flows WHERE id = ?", flow["id"])
    assert (row["name"], row["deleted_at"]) == ("y", None)
