"""The edges of a request (issue 12): numbers beyond 64 bits, nesting past orjson's own limit,
control characters in every text, query parameters nobody declared or given twice,
`If-None-Match`, header bytes that are not UTF-8, and `POST /dev/deploy` authenticating
before it reads a body. Each answer is checked with what was (not) stored."""

from __future__ import annotations

import gzip
import logging
from typing import Any

import jsonschema
import orjson
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from scaiflow_box.keys import METRICS
from tests.conftest import AppFactory, Appliance, hello_content
from tests.fakes.scaigrid import FakeScaiGrid
from tests.fakes.scaikey import WEBHOOK_PATH, webhook_headers
from tests.raw_http import raw_request, request_bytes, split_response

FLOWS = "/api/v1/flows"
JSON = {"Content-Type": "application/json"}


def flow_rows(app: Appliance) -> list[Any]:
    return app.sql("SELECT id, name, description, version, meta_rev FROM flows")


def version_count(app: Appliance) -> int:
    return int(app.sql("SELECT count(*) AS n FROM flow_versions")[0]["n"])


async def create(app: Appliance, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    resp = await app.client.post(FLOWS, headers=headers,
                                 json={"name": "Edges", "content": hello_content(), **body})
    assert resp.status == 201, await resp.text()
    created: dict[str, Any] = await resp.json()
    return created


def stored_content(app: Appliance, flow_id: str) -> dict[str, Any]:
    [row] = app.sql("SELECT content FROM flow_versions WHERE flow_id = ? ORDER BY seq DESC "
                    "LIMIT 1", flow_id)
    content: dict[str, Any] = orjson.loads(row["content"])
    return content


# -- numbers beyond 64 bits --------------------------------------------------------------
@pytest.mark.parametrize("literal", [b"123456789012345678901234567890",
                                     b"18446744073709551616", b"-9223372036854775809",
                                     b"1e20", b"-1.5E+300", b"123456789012345678e9"])
async def test_a_number_beyond_64_bits_is_422_and_nothing_is_stored(
        appliance: Appliance, literal: bytes) -> None:
    headers = {**await appliance.headers(), **JSON}
    content = orjson.dumps(hello_content())
    body = b'{"name": "Big", "content": ' + content[:-1] + b', "canvas_extra": {"n": ' \
        + literal + b"}}}"
    resp = await appliance.client.post(FLOWS, headers=headers, data=body)
    assert resp.status == 422
    [item] = (await resp.json())["detail"]
    assert item["type"] == "json_invalid"
    assert item["loc"] == ["body", body.index(literal)]
    assert "64-bit" in item["msg"]
    assert flow_rows(appliance) == []


async def test_integers_within_64_bits_and_long_digit_strings_are_kept_exactly(
        appliance: Appliance) -> None:
    headers = await appliance.headers()
    content = hello_content()
    content["canvas_extra"] = {"max": 2**64 - 1, "min": -(2**63), "float": 1.5e18,
                               "tiny": 1e-300, "uuid": "123e4567-e89b-12d3-a456-426614174000",
                               "digits": "123456789012345678901234567890",
                               "fraction": 0.123456789012345678901234567890,
                               "exponent": 12345678901234567890123e-3}
    created = await create(appliance, headers, content=content)
    extra = stored_content(appliance, created["id"])["canvas_extra"]
    assert extra["max"] == 2**64 - 1 and extra["min"] == -(2**63)
    assert extra["digits"] == "123456789012345678901234567890"
    assert extra["float"] == 1.5e18 and extra["tiny"] == 1e-300
    assert extra["exponent"] == 12345678901234567890123e-3  # 1.2e19: in range


async def test_a_number_beyond_a_double_is_422(appliance: Appliance) -> None:
    headers = {**await appliance.headers(), **JSON}
    resp = await appliance.client.post(FLOWS, headers=headers,
                                       data=b'{"name": "x", "content": {"n": 1e400}}')
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["type"] == "json_invalid"
    assert flow_rows(appliance) == []


# -- nesting -----------------------------------------------------------------------------
@pytest.mark.parametrize("depth", [65, 1024, 1025, 5000, 100_000])
async def test_any_nesting_past_64_is_json_too_deep(appliance: Appliance, depth: int) -> None:
    headers = {**await appliance.headers(), **JSON}
    body = b'{"name": "x", "content": ' + b"[" * depth + b"]" * depth + b"}"
    resp = await appliance.client.post(FLOWS, headers=headers, data=body)
    assert resp.status == 422
    assert (await resp.json())["detail"] == [{
        "loc": ["body"], "msg": "JSON nesting deeper than 64 levels", "type": "json_too_deep"}]
    assert flow_rows(appliance) == []


# -- control characters ------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["nul\x00", "bell\x07", "esc\x1b[31m", "ff\x0c", "del\x7f",
                                 "c1\x85", "c1\x9b"])
async def test_control_characters_are_refused_in_description_and_content(
        appliance: Appliance, bad: str) -> None:
    headers = await appliance.headers()
    resp = await appliance.client.post(FLOWS, headers=headers, json={
        "name": "x", "description": bad, "content": hello_content()})
    assert resp.status == 422, repr(bad)
    assert (await resp.json())["detail"] == [{
        "loc": ["body", "description"], "type": "control_character",
        "msg": "String should not contain control characters (only tab, line feed and "
               "carriage return are allowed)"}]

    content = hello_content()
    content["nodes"][1]["config"]["template"] = f"Hello {bad}"
    content["metadata"] = {f"key{bad}": "value"}
    resp = await appliance.client.post(FLOWS, headers=headers, json={"name": "x",
                                                                     "content": content})
    assert resp.status == 422
    locs = [item["loc"] for item in (await resp.json())["detail"]]
    assert locs == [["body", "content", "metadata", f"key{bad}", "[key]"],
                    ["body", "content", "nodes", 1, "config", "template"]]
    assert flow_rows(appliance) == [] and version_count(appliance) == 0


async def test_a_put_with_control_characters_changes_nothing(appliance: Appliance) -> None:
    headers = await appliance.headers()
    created = await create(appliance, headers, description="before")
    content = hello_content()
    content["nodes"][0]["label"] = "Start\x00"
    for body in ({"description": "after\x00"}, {"content": content},
                 {"name": "Renamed", "description": "ok", "content": content}):
        resp = await appliance.client.put(f"{FLOWS}/{created['id']}", headers=headers,
                                          json=body)
        assert resp.status == 422, body
        assert (await resp.json())["detail"][0]["type"] == "control_character"
    [row] = flow_rows(appliance)
    assert (row["name"], row["description"], row["version"], row["meta_rev"]) == (
        "Edges", "before", "1.0.0", 0)
    assert version_count(appliance) == 1


async def test_tabs_and_line_breaks_stay_where_text_is_multi_line(appliance: Appliance) -> None:
    headers = await appliance.headers()
    content = hello_content()
    content["nodes"][1]["config"]["template"] = "Hello {{name}},\n\tWelcome.\r\n"
    created = await create(appliance, headers, description="Line one\nline two\ttabbed",
                           content=content)
    [row] = flow_rows(appliance)
    assert row["description"] == "Line one\nline two\ttabbed"
    stored = stored_content(appliance, created["id"])
    assert stored["nodes"][1]["config"]["template"] == "Hello {{name}},\n\tWelcome.\r\n"
    # Escaped backslashes are not escapes: a regex in a prompt is just text.
    content["nodes"][1]["config"]["template"] = "\\b\\f\\u0000 {{name}}"
    resp = await appliance.client.put(f"{FLOWS}/{created['id']}", headers=headers,
                                      json={"content": content})
    assert resp.status == 200
    assert stored_content(appliance, created["id"])["nodes"][1]["config"]["template"] == (
        "\\b\\f\\u0000 {{name}}")
    # A name is one line: no tab or line break either.
    resp = await appliance.client.put(f"{FLOWS}/{created['id']}", headers=headers,
                                      json={"name": "two\nlines"})
    assert resp.status == 422 and flow_rows(appliance)[0]["name"] == "Edges"


async def test_every_request_body_refuses_control_characters(appliance: Appliance) -> None:
    """Not only flows: any text of any body (here a service token's description and the
    ScaiGrid key, which reach the database and an Authorization header)."""
    headers = await appliance.headers("usr_root", role="super_admin")
    resp = await appliance.client.post("/api/v1/admin/service-tokens", headers=headers,
                                       json={"sub": "usr_ci", "description": "ci\x1b[2J"})
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == ["body", "description"]
    resp = await appliance.client.post("/api/v1/tenants/me/scaigrid_credentials",
                                       headers=headers, json={"api_key": "sgk_\x00abc"})
    assert resp.status == 422
    assert appliance.sql("SELECT count(*) AS n FROM service_tokens")[0]["n"] == 1  # own token
    assert appliance.sql("SELECT count(*) AS n FROM tenant_secrets")[0]["n"] == 0


async def test_the_check_reads_compressed_bodies_too(appliance: Appliance) -> None:
    headers = {**await appliance.headers(), **JSON, "Content-Encoding": "gzip"}
    body = gzip.compress(orjson.dumps({"name": "x", "description": "a\x00b",
                                       "content": hello_content()}))
    resp = await appliance.client.post(FLOWS, headers=headers, data=body)
    assert resp.status == 422 and flow_rows(appliance) == []


# -- query parameters --------------------------------------------------------------------
async def test_an_unknown_query_parameter_is_422_naming_it(appliance: Appliance) -> None:
    headers = await appliance.headers()
    await create(appliance, headers)
    await create(appliance, headers, name="Other")
    resp = await appliance.client.get(FLOWS, headers=headers, params={"serach": "Other"})
    assert resp.status == 422
    assert (await resp.json())["detail"] == [{"loc": ["query", "serach"],
                                              "msg": "Extra inputs are not permitted",
                                              "type": "extra_forbidden"}]
    resp = await appliance.client.get(FLOWS, headers=headers, params={"search": "Other"})
    assert resp.status == 200 and (await resp.json())["total"] == 1


async def test_a_route_without_query_parameters_refuses_any(appliance: Appliance) -> None:
    """`GET /flows/{id}?version=1.0.0` would otherwise answer the latest version."""
    headers = await appliance.headers()
    created = await create(appliance, headers)
    resp = await appliance.client.get(f"{FLOWS}/{created['id']}?version=1.0.0",
                                      headers=headers)
    assert resp.status == 422
    assert (await resp.json())["detail"] == [{"loc": ["query", "version"],
                                              "msg": "Extra inputs are not permitted",
                                              "type": "extra_forbidden"}]
    resp = await appliance.client.delete(f"{FLOWS}/{created['id']}?force=1", headers=headers)
    assert resp.status == 422
    assert appliance.sql("SELECT deleted_at FROM flows")[0]["deleted_at"] is None


async def test_a_repeated_parameter_is_422(appliance: Appliance) -> None:
    headers = await appliance.headers()
    await create(appliance, headers)
    resp = await appliance.client.get(f"{FLOWS}?limit=1&limit=500&search=a&search=b",
                                      headers=headers)
    assert resp.status == 422
    assert (await resp.json())["detail"] == [
        {"loc": ["query", "limit"], "type": "repeated_parameter",
         "msg": "Query parameter given more than once; it takes one value"},
        {"loc": ["query", "search"], "type": "repeated_parameter",
         "msg": "Query parameter given more than once; it takes one value"}]


async def test_a_query_value_with_a_control_character_is_422(appliance: Appliance) -> None:
    headers = await appliance.headers()
    resp = await appliance.client.get(f"{FLOWS}?search=a%00b", headers=headers)
    assert resp.status == 422
    assert (await resp.json())["detail"][0] == {
        "loc": ["query", "search"], "type": "control_character",
        "msg": "String should not contain control characters (only tab, line feed and "
               "carriage return are allowed)"}


# -- If-None-Match -----------------------------------------------------------------------
async def test_if_none_match_answers_304_without_a_body(appliance: Appliance) -> None:
    headers = await appliance.headers()
    created = await create(appliance, headers)
    url = f"{FLOWS}/{created['id']}"
    first = await appliance.client.get(url, headers=headers)
    etag = first.headers["ETag"]
    assert etag == '"1.0.0"'
    for value in (etag, f"W/{etag}", f'"0.9.9", {etag}', "*", "1.0.0"):
        resp = await appliance.client.get(url, headers={**headers, "If-None-Match": value})
        assert resp.status == 304, value
        assert resp.headers["ETag"] == etag
        assert await resp.read() == b""
        assert "Content-Type" not in resp.headers
    resp = await appliance.client.head(url, headers={**headers, "If-None-Match": etag})
    assert resp.status == 304
    # A change moves the tag: the next poll gets the new representation.
    await appliance.client.put(url, headers=headers, json={"name": "Renamed"})
    resp = await appliance.client.get(url, headers={**headers, "If-None-Match": etag})
    assert resp.status == 200 and resp.headers["ETag"] == '"1.0.0-1"'
    assert (await resp.json())["name"] == "Renamed"


async def test_if_none_match_is_no_oracle(appliance: Appliance) -> None:
    headers = await appliance.headers()
    created = await create(appliance, headers)
    stranger = await appliance.headers("usr_eve")
    resp = await appliance.client.get(f"{FLOWS}/{created['id']}",
                                      headers={**stranger, "If-None-Match": "*"})
    assert resp.status == 404


# -- header bytes that are not UTF-8 -----------------------------------------------------
async def test_an_authorization_header_that_is_not_utf8_is_401(
        appliance: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for path in (FLOWS, "/api/v1/me"):
        raw = await raw_request(appliance, request_bytes(
            "GET", path, {"Authorization": b"Bearer \xff\xfe\xc3("}))
        status, headers, body = split_response(raw)
        assert status == 401
        assert body == {"detail": "invalid token: malformed authorization header"}
        assert headers["www-authenticate"] == "Bearer"
        assert b"\xff" not in raw
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


async def test_if_match_and_if_none_match_that_are_not_utf8_are_400(
        appliance: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    token = (await appliance.headers())["Authorization"].encode()
    created = await create(appliance, await appliance.headers())
    path = f"{FLOWS}/{created['id']}"
    for method, name in (("DELETE", "If-Match"), ("PUT", "If-Match"),
                         ("GET", "If-None-Match")):
        body = b'{"name": "Renamed"}' if method == "PUT" else b""
        extra = {"Content-Type": b"application/json"} if body else {}
        raw = await raw_request(appliance, request_bytes(
            method, path, {"Authorization": token.split(b": ")[-1], name: b'"1.0.0\xff"',
                           **extra}, body))
        status, _, detail = split_response(raw)
        assert status == 400, (method, raw)
        assert detail == {"detail": {
            "error": "invalid_header", "message": f"the {name} header is not valid UTF-8",
            "fix": f"Send {name} as ASCII (an entity-tag, a token, a number)."}}
        assert b"\xff" not in raw
    [row] = flow_rows(appliance)
    assert (row["name"], row["meta_rev"]) == ("Edges", 0)
    assert appliance.sql("SELECT deleted_at FROM flows")[0]["deleted_at"] is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_webhook_signatures_that_are_not_ascii_are_refused(
        make_appliance: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    app = await make_appliance(SCAIFLOW_SCAIKEY_WEBHOOK_SECRET="whsec-1")
    body = orjson.dumps({"type": "group.created", "id": "evt_1", "tenant_id": "tnt_a",
                         "data": {"id": "grp_1", "name": "G"}})
    good = webhook_headers("whsec-1", body)
    stamp = good["X-ScaiKey-Timestamp"]
    for signature in (f"t={stamp},v1=é".encode(), b"t=" + stamp.encode() + b",v1=\xff"):
        raw = await raw_request(app, request_bytes(
            "POST", WEBHOOK_PATH, {"Content-Type": b"application/json",
                                   "X-ScaiKey-Signature": signature}, body))
        status, _, detail = split_response(raw)
        assert status == 400, raw
        assert detail["detail"]["error"] in {"invalid_signature", "invalid_header"}
    assert app.sql("SELECT count(*) AS n FROM groups")[0]["n"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Without a secret the answer is 503 whatever the headers hold.
    unconfigured = await make_appliance()
    raw = await raw_request(unconfigured, request_bytes(
        "POST", WEBHOOK_PATH, {"Content-Type": b"application/json",
                               "X-ScaiKey-Signature": b"\xff"}, body))
    assert split_response(raw)[0] == 503


# -- POST /dev/deploy: the token first ---------------------------------------------------
DEV = "/api/v1/dev/deploy"


async def test_dev_deploy_authenticates_before_reading_the_body(
        make_appliance: AppFactory, scaigrid_server: FakeScaiGrid) -> None:
    app = await make_appliance(**scaigrid_server.env(SCAIFLOW_API_TOKEN="dev-secret-1"))
    bodies: list[tuple[dict[str, str], bytes]] = [
        (JSON, b"{not json"),  # was 422
        (JSON, b'{"content": {}, "extra": 1}'),  # was 422
        ({"Content-Type": "text/plain"}, b"hello"),  # was 415
        (JSON, b"[" * 2000),  # was 422
        (JSON, orjson.dumps({"content": {"blob": "x" * (9 * 1024 * 1024)}})),  # was 413
        (JSON, orjson.dumps({"content": hello_content()})),  # was a deploy attempt
    ]
    for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dev-secret-1"},
                 {"Authorization": "Bearer"}):
        for headers, data in bodies:
            resp = await app.client.post(DEV, headers={**headers, **auth}, data=data)
            assert resp.status == 401, (auth, data[:40], await resp.text())
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            detail = (await resp.json())["detail"]
            assert detail in ("Not authenticated", "invalid token: wrong dev token")
    raw = await raw_request(app, request_bytes("POST", DEV, {
        "Authorization": b"Bearer dev-secret-\xff", "Content-Type": b"application/json"},
        b"{}"))
    assert split_response(raw)[:1] == (401,) and b"\xff" not in raw
    assert scaigrid_server.requests == []
    assert app.sql("SELECT count(*) AS n FROM audit_log WHERE action = 'dev.deployed'"
                   )[0]["n"] == 0
    # With the token, the body is read as before.
    resp = await app.client.post(DEV, headers={**JSON, "Authorization": "Bearer dev-secret-1"},
                                 data=b"{not json")
    assert resp.status == 422


async def test_dev_deploy_without_a_dev_token_is_503_whatever_is_sent(
        make_appliance: AppFactory, scaigrid_server: FakeScaiGrid) -> None:
    app = await make_appliance(**scaigrid_server.env())
    for headers, data in ((JSON, b"{not json"), ({"Content-Type": "text/plain"}, b"x"),
                          ({**JSON, "Authorization": "Bearer anything"}, b"{}")):
        resp = await app.client.post(DEV, headers=headers, data=data)
        assert resp.status == 503
        assert (await resp.json())["detail"]["error"] == "dev_token_not_configured"
    assert scaigrid_server.requests == []


# -- the document says the same ----------------------------------------------------------
def body_validator(doc: dict[str, Any], path: str, method: str) -> jsonschema.Validator:
    """A JSON Schema validator for the request body the served document declares."""
    schema = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    registry: Registry[Any] = Registry().with_resource("urn:doc",
                                                        DRAFT202012.create_resource(doc))
    return jsonschema.Draft202012Validator({"$ref": "urn:doc" + schema["$ref"]},
                                           registry=registry)


async def test_the_document_holds_bodies_and_queries_to_the_same_rules(
        appliance: Appliance) -> None:
    headers = await appliance.headers()
    doc = await (await appliance.client.get("/api/v1/openapi.json")).json()
    validator = body_validator(doc, FLOWS, "post")
    search = next(p for p in doc["paths"][FLOWS]["get"]["parameters"] if p["name"] == "search")
    assert search["schema"]["anyOf"][0]["pattern"] == r"^[^\x00-\x1f\x7f-\x9f]*$"

    def body(**extra: Any) -> dict[str, Any]:
        content = hello_content()
        content["nodes"][1]["config"].update(extra)
        return {"name": "Doc", "description": "multi\nline\ttext", "content": content}

    # A declared field carries the rule in its schema.
    declared = {**body(), "description": "bell\x07"}
    assert not validator.is_valid(declared)
    resp = await appliance.client.post(FLOWS, headers=headers, json=declared)
    assert resp.status == 422
    # An open value (node config) is `JsonValue`, which states the rules in words only, so
    # generated clients keep it `unknown`; the server holds it to them all the same.
    rules = doc["components"]["schemas"]["JsonValue"]
    assert set(rules) == {"title", "description"}
    assert "control character" in rules["description"] and "2**64" in rules["description"]
    for refused in (body(template="a\x00b"), body(**{"k\x1b": 1}), body(limit=10**20),
                    body(limit=1e20), body(nested=[{"deep": ["\x85"]}])):
        resp = await appliance.client.post(FLOWS, headers=headers, json=refused)
        assert resp.status == 422, refused
    assert flow_rows(appliance) == []
    accepted = body(template="Hi {{name}}\n", limit=2**64 - 1, ratio=0.5, nested=[{"a": None}])
    assert validator.is_valid(accepted)
    resp = await appliance.client.post(FLOWS, headers=headers, json=accepted)
    assert resp.status == 201
    assert len(flow_rows(appliance)) == 1


@pytest.mark.parametrize("target", ["*", "http://elsewhere.example/nope", "//",
                                    "/api/v1/flows/x/y/z", "/%2e%2e/etc/passwd"])
async def test_a_path_no_route_declares_is_answered_by_the_edge(appliance: Appliance,
                                                                target: str) -> None:
    """`OPTIONS *`, an absolute-form target, and paths no route declares: a 404 in the
    documented shape with the request id and no-store, never aiohttp's plain text."""
    raw = await raw_request(appliance, request_bytes("OPTIONS", target,
                                                     {"X-Request-ID": b"edge-404"}))
    status, headers, body = split_response(raw)
    assert (status, body) == (404, {"detail": "Not Found"})
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == "edge-404"
    assert headers["cache-control"] == "no-store"
    assert headers["vary"] == "Origin"
    # Counted on the dashboard's window like any other answer.
    assert appliance.client.app[METRICS].traffic.client_errors >= 1
