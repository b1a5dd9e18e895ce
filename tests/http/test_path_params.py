"""Path parameters are the handlers' own typed arguments (http.route.PathParam): a value the
declaration refuses names nothing (404) and never reaches a service or ScaiGrid."""

from __future__ import annotations

from typing import Annotated

import pytest

from scaiflow_box.api.fields import UPSTREAM_ID_PATTERN
from scaiflow_box.api.table import all_routes
from scaiflow_box.http.call import Call, Reply, ok
from scaiflow_box.http.route import PathParam, Response, Route, path_params_of
from tests.conftest import AppFactory
from tests.fakes.scaigrid import FakeScaiGrid


def test_every_path_parameter_is_a_declared_argument_of_its_handler() -> None:
    for route in all_routes():
        specs = route.path_param_specs
        assert list(specs) == list(route.path_params), route.name


def test_a_handler_without_the_declaration_cannot_be_registered() -> None:
    async def undeclared(call: Call[None, None], flow_id: str) -> Reply:
        raise AssertionError

    with pytest.raises(ValueError, match="flow_id must be an argument annotated"):
        path_params_of(undeclared, ("flow_id",))
    route = Route("GET", "/x/{flow_id}", undeclared, "x", "t", (Response(200, None, "x"),))
    with pytest.raises(ValueError):
        _ = route.path_param_specs


@pytest.mark.parametrize("value,accepted", [
    ("core_1", True), ("a.b", True), (".a", True), ("a.", True),
    (".", False), ("..", False), ("...", False), ("a/b", False), ("", False), ("x" * 201, False),
])
def test_upstream_ids_need_a_character_that_is_not_a_dot(value: str, accepted: bool) -> None:
    assert PathParam("an id", UPSTREAM_ID_PATTERN).accepts(value) is accepted


@pytest.mark.parametrize("path", [
    "/api/v1/scaiqueue/scopes/%2E%2E/queues",
    "/api/v1/scaiqueue/scopes/%2E/queues",
])
async def test_dot_ids_never_reach_scaigrid(make_appliance: AppFactory,
                                            scaigrid_server: FakeScaiGrid, path: str) -> None:
    app = await make_appliance(**scaigrid_server.env())
    headers = await app.headers()
    before = len(scaigrid_server.requests)
    resp = await app.client.get(path, headers=headers)
    assert resp.status == 404
    assert await resp.json() == {"detail": "Not Found"}
    assert len(scaigrid_server.requests) == before


async def test_invoke_and_resolve_refuse_dot_ids(make_appliance: AppFactory,
                                                 scaigrid_server: FakeScaiGrid) -> None:
    app = await make_appliance(**scaigrid_server.env())
    headers = await app.headers()
    before = len(scaigrid_server.requests)
    for path in ("/api/v1/scaicore/cores/%2E%2E/invoke",
                 "/api/v1/scaicore/checkpoints/%2E/resolve"):
        body = {"input": {}} if "invoke" in path else {"resolution": "approve"}
        resp = await app.client.post(path, headers=headers, json=body)
        assert resp.status == 404, path
    assert len(scaigrid_server.requests) == before


async def test_the_handler_gets_the_value_as_its_argument(make_appliance: AppFactory) -> None:
    seen: list[str] = []

    async def echo(call: Call[None, None],
                   thing_id: Annotated[str, PathParam("a thing", r"^t_[a-z]+$")]) -> Reply:
        seen.append(thing_id)
        return ok(Echo(value=thing_id))

    from pydantic import BaseModel

    class Echo(BaseModel):
        value: str

    route = Route("GET", "/api/v1/things/{thing_id}", echo, "echo", "test",
                  (Response(200, Echo, "echo"),))
    app = await make_appliance(routes=[route])
    headers = await app.headers()
    resp = await app.client.get("/api/v1/things/t_abc", headers=headers)
    assert resp.status == 200 and await resp.json() == {"value": "t_abc"}
    resp = await app.client.get("/api/v1/things/T_ABC", headers=headers)
    assert resp.status == 404
    assert seen == ["t_abc"]
