"""The ScaiGrid stand-in behaves as its docstring says (tests of the client, deploy, lookups
and the ScaiCore proxy rely on it). The client-facing behaviour is covered through the real
client in tests/upstream/test_scaigrid.py; this covers what the client never shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.scaigrid import FakeScaiGrid


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, fake: FakeScaiGrid, method: str, path: str, *,
               key: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key or fake.api_key}", **kwargs.pop("headers", {})}
    async with http.request(method, fake.url(path), headers=headers, allow_redirects=False,
                            **kwargs) as response:
        return response.status, await response.json(content_type=None)


def is_error_envelope(body: Any, code: str) -> bool:
    return (body["status"] == "error" and body["error"]["code"] == code
            and body["meta"]["request_id"].startswith("req_"))


async def test_unknown_paths_and_methods_answer_the_error_envelope(
    scaigrid_server: FakeScaiGrid, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, scaigrid_server, "GET", "/v1/nowhere")
    assert status == 404 and is_error_envelope(body, "NOT_FOUND")
    status, body = await call(http, scaigrid_server, "DELETE", "/v1/models")
    assert status == 405 and is_error_envelope(body, "METHOD_NOT_ALLOWED")


async def test_auth_is_required_and_recorded(
    scaigrid_server: FakeScaiGrid, http: aiohttp.ClientSession
) -> None:
    async with http.get(scaigrid_server.url("/v1/models")) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert is_error_envelope(await response.json(), "UNAUTHORIZED")
    assert scaigrid_server.requests[0].authorization is None
    scaigrid_server.accept_any_bearer = True
    status, _ = await call(http, scaigrid_server, "GET", "/v1/models", key="whatever")
    assert status == 200 and scaigrid_server.requests[-1].identity == "any"


async def test_cores_want_yaml(scaigrid_server: FakeScaiGrid,
                               http: aiohttp.ClientSession) -> None:
    status, body = await call(http, scaigrid_server, "POST", "/v1/modules/scaicore/cores",
                              json={"core": {"name": "x"}})
    assert status == 415 and is_error_envelope(body, "UNSUPPORTED_MEDIA_TYPE")


async def test_tenants_see_only_their_own_objects(
    scaigrid_server: FakeScaiGrid, http: aiohttp.ClientSession
) -> None:
    scaigrid_server.add_api_key("sgk_beta", "beta")
    status, core = await call(http, scaigrid_server, "POST", "/v1/modules/scaicore/cores",
                              data=b"core: {name: agent}",
                              headers={"Content-Type": "application/yaml"})
    assert status == 201
    core_path = f"/v1/modules/scaicore/cores/{core['data']['id']}"
    assert (await call(http, scaigrid_server, "GET", core_path, key="sgk_beta"))[0] == 404
    await call(http, scaigrid_server, "POST", core_path + "/invoke", json={"input": {}})
    _, events = await call(http, scaigrid_server, "GET", "/v1/modules/scaicore/events",
                           key="sgk_beta")
    assert events["data"]["events"] == []
    # the same scope slug in two tenants is two scopes
    for key in (scaigrid_server.api_key, "sgk_beta"):
        status, _ = await call(http, scaigrid_server, "POST", "/v1/modules/scaiqueue/scopes",
                               key=key, json={"slug": "support", "display_name": "S"})
        assert status == 201
    status, body = await call(http, scaigrid_server, "POST", "/v1/modules/scaiqueue/scopes",
                              key="sgk_beta", json={"slug": "support", "display_name": "S"})
    assert status == 409 and is_error_envelope(body, "CONFLICT")
    status, published = await call(http, scaigrid_server, "POST", core_path + "/publish",
                                   json={"group_ids": []})
    assert published["data"]["published_slug"] == "scaicore/acme/agent"


@pytest.mark.parametrize("body", [{"slug": "Bad Slug", "display_name": "x"},
                                  {"slug": "q", "display_name": "x", "ordering": "lifo"},
                                  {"slug": "q", "display_name": "x", "max_retries": 101},
                                  {"slug": "q", "display_name": "x", "max_retries": True}])
async def test_queue_bodies_are_validated(
    scaigrid_server: FakeScaiGrid, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    _, scope = await call(http, scaigrid_server, "POST", "/v1/modules/scaiqueue/scopes",
                          json={"slug": "support", "display_name": "Support"})
    status, answer = await call(
        http, scaigrid_server, "POST",
        f"/v1/modules/scaiqueue/scopes/{scope['data']['id']}/queues", json=body)
    assert status == 400 and is_error_envelope(answer, "VALIDATION_ERROR")


async def test_faults_with_times_clear_themselves(
    scaigrid_server: FakeScaiGrid, http: aiohttp.ClientSession
) -> None:
    scaigrid_server.fail("list_models", 503, times=2)
    statuses = [(await call(http, scaigrid_server, "GET", "/v1/models"))[0] for _ in range(3)]
    assert statuses == [503, 503, 200]
    # a route fault does not touch other routes
    scaigrid_server.fail("list_scopes", 500)
    assert (await call(http, scaigrid_server, "GET", "/v1/models"))[0] == 200


async def test_checkpoints_page_with_a_null_cursor_at_the_end(
    scaigrid_server: FakeScaiGrid, http: aiohttp.ClientSession
) -> None:
    _, core = await call(http, scaigrid_server, "POST", "/v1/modules/scaicore/cores",
                         data=b"core: {name: a, flows: [{steps: [{checkpoint: {}}]}]}",
                         headers={"Content-Type": "application/yaml"})
    for _ in range(3):
        await call(http, scaigrid_server, "POST",
                   f"/v1/modules/scaicore/cores/{core['data']['id']}/invoke", json={})
    assert len(scaigrid_server.pending_checkpoints()) == 3
    path = "/v1/modules/scaicore/checkpoints"
    _, first = await call(http, scaigrid_server, "GET", path, params={"limit": "2"})
    assert len(first["data"]["checkpoints"]) == 2
    _, second = await call(http, scaigrid_server, "GET", path,
                           params={"limit": "2", "cursor": first["data"]["next_cursor"]})
    assert len(second["data"]["checkpoints"]) == 1 and second["data"]["next_cursor"] is None
    for bad in ({"limit": "0"}, {"limit": "x"}, {"cursor": "!!"}):
        status, body = await call(http, scaigrid_server, "GET", path, params=bad)
        assert status == 400 and is_error_envelope(body, "VALIDATION_ERROR")


async def test_failing_invocations_emit_failed_events(
    scaigrid_server: FakeScaiGrid, http: aiohttp.ClientSession
) -> None:
    _, core = await call(http, scaigrid_server, "POST", "/v1/modules/scaicore/cores",
                         data=b"core: {name: a, flows: [{steps: [{llm_turn: hi}]}]}",
                         headers={"Content-Type": "application/yaml"})
    scaigrid_server.invocation_failure = "model unavailable"
    _, answer = await call(http, scaigrid_server, "POST",
                           f"/v1/modules/scaicore/cores/{core['data']['id']}/invoke",
                           json={"input": {}})
    assert answer["data"]["status"] == "failed"
    assert [e.type for e in scaigrid_server.events] == [
        "scaicore.runtime.invocation.started", "scaicore.runtime.block.entered",
        "scaicore.runtime.block.failed", "scaicore.runtime.invocation.failed"]
