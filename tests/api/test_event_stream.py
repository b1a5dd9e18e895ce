"""The live event stream (SPEC §10, `GET /api/v1/scaicore/events/stream`): new events arrive,
subscribers that share a tenant, credential and filter share one poll, and polling stops when
the last client goes away."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import ClientResponse

from scaiflow_box.keys import LOOKUPS
from scaiflow_box.services.event_stream import CLOSED, EventHub, StreamItem, Subscription
from tests.api.test_lookups import deployed_core
from tests.conftest import AppFactory, Appliance
from tests.fakes.scaigrid import FakeScaiGrid

STREAM = "/api/v1/scaicore/events/stream"


@pytest.fixture
async def grid_app(make_appliance: AppFactory, scaigrid_server: FakeScaiGrid) -> Appliance:
    return await make_appliance(**scaigrid_server.env(SCAIFLOW_EVENT_POLL_SECONDS="0.05"))


async def next_frame(resp: ClientResponse, timeout: float = 5.0) -> tuple[str, Any]:
    """The next `event:`/`data:` frame (comments skipped)."""
    event = ""
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), timeout)).decode().rstrip("\n")
        if line.startswith(":") or (not line and not event):
            continue
        if line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: "):
            return event, json.loads(line[len("data: "):])


def hub(app: Appliance) -> EventHub:
    return app.client.app[LOOKUPS].hub


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def test_new_events_arrive_and_subscribers_share_one_poll(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers()
    core_id = await deployed_core(grid_app, headers)
    await grid_app.client.post(f"/api/v1/scaicore/cores/{core_id}/invoke", headers=headers,
                               json={"input": {"before": True}})  # history: not replayed
    token = headers["Authorization"].split()[1]
    first = await grid_app.client.get(STREAM, headers=headers, params={"core_id": core_id})
    second = await grid_app.client.get(STREAM, params={"core_id": core_id, "token": token})
    assert first.status == second.status == 200
    assert first.headers["Content-Type"] == "text/event-stream"
    await wait_for(lambda: hub(grid_app).stats()["subscribers"] == 2)
    assert hub(grid_app).stats()["pollers"] == 1
    await asyncio.sleep(0.2)  # the poller has caught up with the log
    resp = await grid_app.client.post(f"/api/v1/scaicore/cores/{core_id}/invoke",
                                      headers=headers, json={"input": {"after": True}})
    assert resp.status == 200
    for stream in (first, second):
        event, data = await next_frame(stream)
        assert event == "scaicore.runtime.invocation.started"
        assert data["core_id"] == core_id and data["payload"]["input"] == {"after": True}
    # One poll serves both: polls grow with time, not with subscribers.
    first.close()
    second.close()
    await wait_for(lambda: hub(grid_app).stats()["pollers"] == 0)
    polls = len(scaigrid_server.requests_to("list_events"))
    await asyncio.sleep(0.3)
    assert len(scaigrid_server.requests_to("list_events")) == polls  # polling stopped


async def test_upstream_failures_are_frames_and_the_stream_carries_on(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers()
    stream = await grid_app.client.get(STREAM, headers=headers)
    await asyncio.sleep(0.2)
    scaigrid_server.fail("list_events", 503, times=2)
    event, data = await next_frame(stream)
    assert event == "upstream_error" and data["error"] == "scaigrid_error"
    event, _ = await next_frame(stream)
    assert event == "upstream_recovered"
    stream.close()


async def test_the_stream_needs_a_token_and_credentials(make_appliance: AppFactory,
                                                       scaigrid_server: FakeScaiGrid) -> None:
    app = await make_appliance(SCAIGRID_BASE_URL=scaigrid_server.base_url)
    resp = await app.client.get(STREAM)
    assert resp.status == 401
    resp = await app.client.get(STREAM, headers=await app.headers())
    assert resp.status == 412
    assert scaigrid_server.requests == []


async def test_a_stream_ends_after_max_seconds(grid_app: Appliance) -> None:
    headers = await grid_app.headers()
    resp = await grid_app.client.get(STREAM, headers=headers, params={"max_seconds": "1"})
    body = await asyncio.wait_for(resp.read(), 5)
    assert body.startswith(b": connected")
    await wait_for(lambda: hub(grid_app).stats()["pollers"] == 0)


async def test_a_stream_carries_the_headers_of_every_answer(grid_app: Appliance) -> None:
    """An event stream sends its own head: the request id, CORS for the canvas's origin and
    `Vary` are on it all the same (a browser's EventSource needs them cross-origin)."""
    headers = {**await grid_app.headers(), "Origin": "http://localhost:5173",
               "X-Request-ID": "stream-1"}
    resp = await grid_app.client.get(STREAM, headers=headers, params={"max_seconds": "1"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert resp.headers["X-Request-ID"] == "stream-1"
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert resp.headers["Access-Control-Allow-Credentials"] == "true"
    assert resp.headers.getall("Vary") == ["Origin"]
    assert (await asyncio.wait_for(resp.read(), 5)).startswith(b": connected")


async def test_a_slow_consumer_is_cut_off_not_buffered() -> None:
    subscription = Subscription(("t", "c", "u", ""), EventHub.__new__(EventHub))
    sent = 0
    while subscription.offer(StreamItem("x", {"n": sent})):
        sent += 1
    assert sent == subscription.queue.maxsize
    assert subscription.queue.qsize() == 1 and await subscription.get() is CLOSED
    assert not subscription.offer(StreamItem("x", {}))
