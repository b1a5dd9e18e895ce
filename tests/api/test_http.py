"""HTTP hygiene (SPEC §1, §16): the route table, public allow-list, methods, CORS, ids."""

from __future__ import annotations

import re

import jwt
import pytest
from aiohttp import web

from scaiflow_box.auth.principal import Principal
from scaiflow_box.http.call import Call, Reply
from scaiflow_box.http.dispatch import register_routes
from scaiflow_box.http.route import PUBLIC_ALLOW_LIST, Response, Route
from scaiflow_box.keys import ROUTES
from tests.conftest import Appliance


def concrete(path: str) -> str:
    return re.sub(r"\{[a-z_]+\}", "x1", path)


async def test_every_non_public_route_requires_a_token(appliance: Appliance) -> None:
    checked = 0
    for route in appliance.client.app[ROUTES].routes:
        if route.auth != "token":
            assert route.path in PUBLIC_ALLOW_LIST
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-jwt"},
                        {"Authorization": "Basic dXNlcjpwYXNz"}):
            resp = await appliance.client.request(route.method, concrete(route.path),
                                                  headers=headers, json={})
            assert resp.status == 401, (route.method, route.path, headers)
            assert resp.headers["WWW-Authenticate"] == "Bearer"
            body = await resp.json()
            assert body["detail"] == "Not authenticated" or body["detail"].startswith(
                "invalid token: ")
        checked += 1
    assert checked >= 20


async def _noop(call: Call[None, None]) -> Reply:
    return Reply(200)


def test_registration_refuses_a_public_route_off_the_allow_list() -> None:
    app = web.Application()
    route = Route("GET", "/api/v1/secret", _noop, "x", "t", (Response(200, None, "x"),),
                  auth="public")
    with pytest.raises(ValueError, match="allow-list"):
        register_routes(app, [route])


def test_registration_refuses_duplicate_operation_ids_and_methods() -> None:
    one = Route("GET", "/api/v1/a", _noop, "x", "t", (Response(200, None, "x"),))
    with pytest.raises(ValueError, match="operationId"):
        register_routes(web.Application(), [one, Route("GET", "/api/v1/b", _noop, "x", "t",
                                                       (Response(200, None, "x"),))])
    with pytest.raises(ValueError, match="declared twice"):
        register_routes(web.Application(), [one, Route("GET", "/api/v1/a", _noop, "x", "t",
                                                       (Response(200, None, "x"),),
                                                       operation_id="other")])


async def test_health_ready_and_404_shape(appliance: Appliance) -> None:
    resp = await appliance.client.get("/healthz")
    assert resp.status == 200 and await resp.json() == {"status": "ok"}
    resp = await appliance.client.get("/readyz")
    body = await resp.json()
    assert resp.status == 200 and body["status"] == "ready" and body["reasons"] == []
    assert str(appliance.settings.data_dir) not in await resp.text()
    resp = await appliance.client.get("/api/v1/nope")
    assert resp.status == 404 and await resp.json() == {"detail": "Not Found"}


async def test_head_is_answered_wherever_get_is(appliance: Appliance) -> None:
    headers = await appliance.headers("usr_op", "tnt_a", role="super_admin")
    flow = await appliance.client.post("/api/v1/flows", headers=headers, json={
        "name": "h", "content": {"name": "h", "nodes": [], "edges": []}})
    flow_id = (await flow.json())["id"]
    checked = 0
    for route in appliance.client.app[ROUTES].routes:
        if route.method != "GET" or route.kind != "http":
            continue
        path = route.path.replace("{flow_id}", flow_id).replace("{version}", "1.0.0") \
            .replace("{asset}", "swagger-ui.css")
        path = concrete(path)
        get = await appliance.client.get(path, headers=headers)
        head = await appliance.client.head(path, headers=headers)
        assert head.status == get.status, path
        assert await head.read() == b""
        assert head.headers.get("Content-Type") == get.headers.get("Content-Type"), path
        checked += 1
    assert checked >= 15


async def test_options_and_405_report_the_paths_own_methods(appliance: Appliance) -> None:
    expected = {
        "/api/v1/flows/compile": "POST, OPTIONS",
        "/api/v1/flows/validate": "POST, OPTIONS",
        "/api/v1/flows/import": "POST, OPTIONS",
        "/api/v1/flows/flow_x": "GET, PUT, DELETE, HEAD, OPTIONS",
        "/api/v1/flows": "GET, POST, HEAD, OPTIONS",
        "/api/v1/flows/flow_x/acls/acl_y": "PATCH, DELETE, OPTIONS",
    }
    for path, allow in expected.items():
        resp = await appliance.client.options(path)
        assert resp.status == 204, path
        assert resp.headers["Allow"] == allow, path
        assert resp.headers["Vary"] == "Origin"
    # An undeclared method is 405 with the same Allow, before authentication.
    resp = await appliance.client.get("/api/v1/flows/compile")
    assert resp.status == 405
    assert resp.headers["Allow"] == "POST, OPTIONS"
    body = await resp.json()
    assert body["detail"]["error"] == "method_not_allowed"
    resp = await appliance.client.request("PATCH", "/api/v1/flows",
                                          headers=await appliance.headers())
    assert resp.status == 405 and resp.headers["Allow"] == "GET, POST, HEAD, OPTIONS"
    resp = await appliance.client.options("/api/v1/does-not-exist")
    assert resp.status == 404


async def test_vary_origin_on_every_response(appliance: Appliance) -> None:
    headers = await appliance.headers()
    for method, path, kwargs in (
        ("GET", "/healthz", {}),
        ("GET", "/api/v1/flows", {}),  # 401
        ("GET", "/api/v1/flows", {"headers": headers}),  # 200
        ("GET", "/api/v1/flows/flow_nope", {"headers": headers}),  # 404
        ("POST", "/api/v1/flows", {"headers": headers, "json": {"x": 1}}),  # 422
        ("GET", "/api/v1/nope", {}),  # aiohttp's 404
        ("GET", "/api/v1/docs", {}),
    ):
        resp = await appliance.client.request(method, path, **kwargs)
        assert resp.headers.getall("Vary") == ["Origin"], (method, path, resp.status)


async def test_request_ids(appliance: Appliance) -> None:
    resp = await appliance.client.get("/healthz", headers={"X-Request-ID": "ci-run-42"})
    assert resp.headers["X-Request-ID"] == "ci-run-42"
    resp = await appliance.client.get("/healthz", headers={"X-Request-ID": "bad id\u00e9<>"})
    first = resp.headers["X-Request-ID"]
    assert re.fullmatch(r"req_[0-9a-f]{16,}", first)
    resp = await appliance.client.get("/healthz")
    second = resp.headers["X-Request-ID"]
    assert re.fullmatch(r"req_[0-9a-f]{16,}", second) and second != first


async def test_cors_allow_list(appliance: Appliance) -> None:
    good = "http://localhost:5173"
    resp = await appliance.client.options("/api/v1/flows", headers={
        "Origin": good, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert resp.status == 204
    assert resp.headers["Access-Control-Allow-Origin"] == good
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert "If-Match" in resp.headers["Access-Control-Allow-Headers"]
    resp = await appliance.client.get("/api/v1/flows", headers={"Origin": good})
    assert resp.status == 401  # CORS headers even on errors, so the canvas can read them
    assert resp.headers["Access-Control-Allow-Origin"] == good
    resp = await appliance.client.options("/api/v1/flows", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "GET"})
    assert resp.status == 403
    assert "Access-Control-Allow-Origin" not in resp.headers
    resp = await appliance.client.get("/healthz", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in resp.headers


async def test_me_auth_config_and_local_jwks(appliance: Appliance) -> None:
    await appliance.group("grp_ops", "tnt_a", ["usr_alice"])
    headers = await appliance.headers("usr_alice", "tnt_a", scope="scaicore:view")
    resp = await appliance.client.get("/api/v1/me", headers=headers)
    assert resp.status == 200
    assert await resp.json() == {
        "sub": "usr_alice", "tenant_id": "tnt_a", "email": None, "display_name": None,
        "permissions": ["scaicore:view"], "admin_role": None, "admin_role_source": None,
        "groups": [{"id": "grp_ops", "name": "grp_ops"}], "token_source": "service"}
    # The unknown user was provisioned just in time.
    [user] = appliance.sql("SELECT tenant_id, status, source FROM users WHERE id = 'usr_alice'")
    assert tuple(user) == ("tnt_a", "ACTIVE", "token")

    resp = await appliance.client.get("/api/v1/auth/config")
    config = await resp.json()
    assert resp.status == 200 and config["auth_mode"] == "dev_token"
    assert "client_secret" not in await resp.text()

    resp = await appliance.client.get("/api/v1/auth/jwks")
    jwks = await resp.json()
    [key] = jwks["keys"]
    assert key["kty"] == "EC" and key["alg"] == "ES256" and "d" not in key
    token = headers["Authorization"].split()[1]
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["ES256"],
                        audience="scaiflow-box")
    assert claims["sub"] == "usr_alice" and claims["tenant_id"] == "tnt_a"


async def test_disabled_and_deleted_users_are_refused(appliance: Appliance) -> None:
    headers = await appliance.headers("usr_gone", "tnt_a")
    assert (await appliance.client.get("/api/v1/me", headers=headers)).status == 200
    await appliance.db.write(lambda c: c.execute(
        "UPDATE users SET status = 'SUSPENDED' WHERE id = 'usr_gone'"))
    resp = await appliance.client.get("/api/v1/me", headers=headers)
    assert resp.status == 401
    assert await resp.json() == {"detail": "invalid token: user disabled"}
    await appliance.db.write(lambda c: c.execute(
        "UPDATE users SET status = 'ACTIVE', deleted_at = 'x' WHERE id = 'usr_gone'"))
    resp = await appliance.client.get("/api/v1/me", headers=headers)
    assert await resp.json() == {"detail": "invalid token: user disabled"}


async def test_revoked_service_token_is_refused(appliance: Appliance) -> None:
    headers = await appliance.headers("usr_ci", "tnt_a")
    assert (await appliance.client.get("/api/v1/me", headers=headers)).status == 200
    await appliance.db.write(lambda c: c.execute("UPDATE service_tokens SET revoked_at = 'x'"))
    resp = await appliance.client.get("/api/v1/me", headers=headers)
    assert resp.status == 401
    assert await resp.json() == {"detail": "invalid token: revoked"}


async def test_unexpected_errors_are_500_without_internals(aiohttp_client, caplog) -> None:  # type: ignore[no-untyped-def]
    from scaiflow_box.http.edge import Edge
    from scaiflow_box.http.metrics import TrafficWindow

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret-db-path /var/lib/x")

    async def nobody(app: web.Application, token: str | None) -> Principal:
        raise AssertionError("a public handler needs no principal")

    edge = Edge(TrafficWindow(), None, False, nobody)
    app = web.Application()
    app.router.add_get("/boom", edge.wrap(None, boom, "/boom"))
    client = await aiohttp_client(app)
    resp = await client.get("/boom", headers={"X-Request-ID": "trace-1"})
    assert resp.status == 500
    assert await resp.json() == {"detail": "internal error", "request_id": "trace-1"}
    assert "secret-db-path" not in await resp.text()
    assert "trace-1" in caplog.text  # the log line carries the request id for operators
