"""The dispatcher holds handlers to their route's declaration, and the WebSocket route kind
authenticates by header, by the `bearer, <token>` subprotocol or by `?token=`."""

from __future__ import annotations

import logging

import aiohttp
import orjson
import pytest
from aiohttp import WSMsgType, web
from pydantic import BaseModel

from scaiflow_box.api.table import all_routes
from scaiflow_box.errors import Conflict
from scaiflow_box.http.call import Call, Reply, Streamed, ok
from scaiflow_box.http.dispatch import register_routes
from scaiflow_box.http.route import BinaryBody, Response, Route
from tests.conftest import AppFactory, Appliance


class Declared(BaseModel):
    value: int


class Other(BaseModel):
    value: int


async def wrong_status(call: Call[None, None]) -> Reply:
    return Reply(202, Declared(value=1))


async def wrong_model(call: Call[None, None]) -> Reply:
    return ok(Other(value=1))


async def undeclared_header(call: Call[None, None]) -> Reply:
    call.header("X-Secret")
    return ok(Declared(value=1))


async def undeclared_error(call: Call[None, None]) -> Reply:
    raise Conflict("already there", code="exists")


async def echo_socket(call: Call[None, None]) -> Reply:
    socket = await call.accept_websocket()
    await socket.send_json({"sub": call.principal.sub, "tenant": call.principal.tenant_id})
    async for message in socket:
        if message.type == WSMsgType.TEXT:
            await socket.send_str(message.data)
    return Reply(101, Streamed(socket))


def make_route(path: str, handler: object, **kwargs: object) -> Route:
    return Route("GET", path, handler, "test", "test",  # type: ignore[arg-type]
                 (Response(200, Declared, "ok"), Response(101, None, "upgraded")),
                 **kwargs)  # type: ignore[arg-type]


TEST_ROUTES = [
    make_route("/api/v1/test/wrong-status", wrong_status),
    make_route("/api/v1/test/wrong-model", wrong_model),
    make_route("/api/v1/test/undeclared-header", undeclared_header),
    make_route("/api/v1/test/undeclared-error", undeclared_error),
    make_route("/api/v1/test/socket", echo_socket, kind="websocket"),
]


@pytest.fixture
async def app_with_test_routes(make_appliance: AppFactory) -> Appliance:
    return await make_appliance(routes=[*all_routes(), *TEST_ROUTES])


async def test_replies_off_the_declaration_are_500s(app_with_test_routes: Appliance,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    app = app_with_test_routes
    headers = await app.headers()
    for path in ("wrong-status", "wrong-model", "undeclared-header"):
        resp = await app.client.get(f"/api/v1/test/{path}", headers=headers)
        assert resp.status == 500, path
        assert (await resp.json())["detail"] == "internal error"
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 3


async def test_an_undeclared_error_status_is_answered_and_flagged(
        app_with_test_routes: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    resp = await app_with_test_routes.client.get("/api/v1/test/undeclared-error",
                                                 headers=await app_with_test_routes.headers())
    assert resp.status == 409
    assert (await resp.json())["detail"]["error"] == "exists"
    flagged = [r.getMessage() for r in caplog.records if "undeclared status" in r.getMessage()]
    assert flagged == ["undeclared status 409 (exists) from undeclared_error"]
    caplog.clear()  # expected here; every other test fails on such a line (conftest)


async def test_websocket_routes_take_the_token_three_ways(app_with_test_routes: Appliance
                                                          ) -> None:
    app = app_with_test_routes
    token = (await app.headers("usr_ws", "tnt_a"))["Authorization"].split()[1]
    url = "/api/v1/test/socket"
    ways = [
        {"headers": {"Authorization": f"Bearer {token}"}},
        {"protocols": ("bearer", token)},
        {"params": {"token": token}},
    ]
    for kwargs in ways:
        async with app.client.ws_connect(url, **kwargs) as socket:  # type: ignore[arg-type]
            hello = await socket.receive_json()
            assert hello == {"sub": "usr_ws", "tenant": "tnt_a"}
            await socket.send_str("ping")
            assert (await socket.receive_str()) == "ping"
            if "protocols" in kwargs:
                assert socket.protocol == "bearer"  # never the token


async def test_websocket_without_a_valid_token_closes_with_4401(app_with_test_routes: Appliance
                                                                ) -> None:
    app = app_with_test_routes
    for kwargs in ({}, {"params": {"token": "not-a-jwt"}},
                   {"protocols": ("bearer", "not-a-jwt")}):
        async with app.client.ws_connect("/api/v1/test/socket",
                                         **kwargs) as socket:  # type: ignore[arg-type]
            message = await socket.receive()
            assert message.type == WSMsgType.CLOSE
            assert socket.close_code == 4401
            assert message.extra in ("Not authenticated", "invalid token: malformed")
    # A plain GET (no upgrade) gets the ordinary JSON 401.
    resp = await app.client.get("/api/v1/test/socket")
    assert resp.status == 401 and await resp.json() == {"detail": "Not authenticated"}


async def test_a_websocket_is_not_a_plain_route(app_with_test_routes: Appliance) -> None:
    app = app_with_test_routes
    token = (await app.headers())["Authorization"]
    with pytest.raises(aiohttp.WSServerHandshakeError):
        async with app.client.ws_connect("/api/v1/flows", headers={"Authorization": token}):
            pass


async def binary_length(call: Call[bytes, None]) -> Reply:
    return ok(Declared(value=len(call.body)))


async def test_a_binary_body_arrives_as_bytes_within_its_own_limit(
        make_appliance: AppFactory) -> None:
    route = Route("POST", "/api/v1/test/binary", binary_length, "test", "catalog",
                  (Response(200, Declared, "ok"),),
                  binary_body=BinaryBody("application/x-test", "bytes"), body_limit=16)
    app = await make_appliance(routes=[*all_routes(), route])
    headers = {**await app.headers(), "Content-Type": "application/x-test"}
    resp = await app.client.post("/api/v1/test/binary", headers=headers, data=b"\x00\xff" * 8)
    assert (resp.status, await resp.json()) == (200, {"value": 16})
    resp = await app.client.post("/api/v1/test/binary", headers=headers, data=b"x" * 17)
    assert resp.status == 413
    assert (await resp.json())["detail"]["error"] == "payload_too_large"
    doc = await (await app.client.get("/api/v1/openapi.json")).json()
    body = doc["paths"]["/api/v1/test/binary"]["post"]["requestBody"]
    assert body == {"required": True, "description": "bytes", "content": {
        "application/x-test": {"schema": {"type": "string", "format": "binary",
                                          "contentMediaType": "application/x-test",
                                          "minLength": 1}}}}
    with pytest.raises(ValueError, match="only body"):
        register_routes(web.Application(), [Route(
            "POST", "/api/v1/test/both", binary_length, "test", "test",
            (Response(200, Declared, "ok"),), body=Declared,
            binary_body=BinaryBody("application/zip", "bytes"))])


def test_a_write_conflict_is_503_with_retry_after_and_declared_wherever_writes_are() -> None:
    """Several processes on one MariaDB: a write that kept conflicting is answered 503
    `write_conflict` with Retry-After, declared on every route that may write."""
    from scaiflow_box.api.table import all_routes
    from scaiflow_box.errors import WriteConflict
    from scaiflow_box.http.errors import error_response

    response = error_response(WriteConflict())
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    assert orjson.loads(response.body) == {"detail": {
        "error": "write_conflict",
        "message": "the database was busy with other writes to the same data: nothing was "
                   "written",
        "fix": "Send the request again (after Retry-After); it changes nothing until it "
               "succeeds."}}
    routes = all_routes()
    writing = [r for r in routes if r.auth == "token" or r.method not in ("GET", "HEAD")]
    assert writing and all("write_conflict" in r.codes for r in writing)
    assert all(("write_conflict" in r.codes) == ("storage_full" in r.codes) for r in routes)
