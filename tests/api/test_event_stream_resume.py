"""Resuming the live event stream (issue 12): every ScaiCore event carries an `id:`, the stream
sends a `retry:` hint, and a client that reconnects with `Last-Event-ID` gets exactly the
events after that one (none missed, none twice), whether the poller it read from is still
running, has stopped, or was replaced by another."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse

from scaiflow_box.keys import CURSORS, LOOKUPS
from scaiflow_box.services.event_stream import EventHub
from tests.conftest import AppFactory, Appliance, hello_content
from tests.fakes.scaigrid import FakeScaiGrid

STREAM = "/api/v1/scaicore/events/stream"
DONE = "scaicore.runtime.invocation.completed"


@dataclass(frozen=True)
class Frame:
    id: str | None
    event: str
    data: Any


@pytest.fixture
async def grid_app(make_appliance: AppFactory, scaigrid_server: FakeScaiGrid) -> Appliance:
    return await make_appliance(**scaigrid_server.env(SCAIFLOW_EVENT_POLL_SECONDS="0.05"))


async def core_of(app: Appliance, headers: dict[str, str]) -> str:
    resp = await app.client.post("/api/v1/flows", headers=headers,
                                 json={"name": "Core", "content": hello_content()})
    flow_id = (await resp.json())["id"]
    resp = await app.client.post(f"/api/v1/flows/{flow_id}/deploy", headers=headers, json={})
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["core_id"])


async def invoke(app: Appliance, headers: dict[str, str], core_id: str, n: int) -> None:
    resp = await app.client.post(f"/api/v1/scaicore/cores/{core_id}/invoke", headers=headers,
                                 json={"input": {"n": n}})
    assert resp.status == 200


async def read_frame(resp: ClientResponse, timeout: float = 5.0) -> Frame:
    """The next event (comments and the `retry:` block skipped)."""
    fields: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(resp.content.readline(), timeout)).decode().rstrip("\n")
        if not line:
            if "data" in fields:
                return Frame(fields.get("id"), fields.get("event", "message"),
                             json.loads(fields["data"]))
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(": ")
        fields[name] = value


async def frames_until(resp: ClientResponse, n: int) -> list[Frame]:
    """Frames up to and including the completion of invocation `n`."""
    frames: list[Frame] = []
    while True:
        frame = await read_frame(resp)
        frames.append(frame)
        if frame.event == DONE and frame.data["payload"]["output"] == {"n": n}:
            return frames


def numbers(frames: list[Frame]) -> list[int]:
    return [f.data["payload"]["output"]["n"] for f in frames if f.event == DONE]


def hub(app: Appliance) -> EventHub:
    return app.client.app[LOOKUPS].hub


async def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def caught_up(app: Appliance, polls: int = 1) -> None:
    """The stream's poller has read ScaiGrid's log `polls` times: a poller that starts at the
    end of the log sends nothing of its first read, so what happens after this is new to it.
    (Waited for, not slept: a loaded machine can take longer than any fixed pause.)"""
    await wait_for(lambda: hub(app).stats()["polls"] >= polls)


async def open_stream(app: Appliance, headers: dict[str, str],
                      last_event_id: str | None = None) -> ClientResponse:
    extra = {"Last-Event-ID": last_event_id} if last_event_id else {}
    resp = await app.client.get(STREAM, headers={**headers, **extra})
    assert resp.status == 200
    return resp


async def test_events_carry_ids_and_the_stream_a_retry_hint(grid_app: Appliance) -> None:
    headers = await grid_app.headers()
    core_id = await core_of(grid_app, headers)
    stream = await open_stream(grid_app, headers)
    assert await stream.content.readline() == b": connected\n"
    assert await stream.content.readline() == b"retry: 3000\n"
    await caught_up(grid_app)
    await invoke(grid_app, headers, core_id, 1)
    frames = await frames_until(stream, 1)
    ids = [f.id for f in frames]
    assert all(ids) and len(set(ids)) == len(ids)
    assert all(f.data["core_id"] == core_id for f in frames)
    stream.close()


async def test_a_client_that_reconnects_gets_what_it_missed_once(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    """The common case: one canvas; its stream ends (max_seconds, a network blip), the poller
    stops with it, events happen, EventSource reconnects with the last id."""
    headers = await grid_app.headers()
    core_id = await core_of(grid_app, headers)
    stream = await open_stream(grid_app, headers)
    await caught_up(grid_app)
    await invoke(grid_app, headers, core_id, 1)
    seen = await frames_until(stream, 1)
    stream.close()
    await wait_for(lambda: hub(grid_app).stats()["pollers"] == 0)

    await invoke(grid_app, headers, core_id, 2)  # nobody is listening
    await invoke(grid_app, headers, core_id, 3)
    stream = await open_stream(grid_app, headers, seen[-1].id)
    missed = await frames_until(stream, 3)
    per_invocation = len(seen)  # started, block events, completed
    assert numbers(missed) == [2, 3]
    assert len(missed) == 2 * per_invocation  # nothing of 1, nothing twice
    await invoke(grid_app, headers, core_id, 4)
    live = await frames_until(stream, 4)
    assert numbers(live) == [4] and len(live) == per_invocation
    ids = [f.id for f in seen + missed + live]
    assert len(set(ids)) == len(ids)
    stream.close()


async def test_a_client_resumes_from_the_shared_pollers_history(grid_app: Appliance) -> None:
    headers = await grid_app.headers()
    core_id = await core_of(grid_app, headers)
    first = await open_stream(grid_app, headers)
    second = await open_stream(grid_app, headers)
    await wait_for(lambda: hub(grid_app).stats()["subscribers"] == 2)
    await caught_up(grid_app)
    await invoke(grid_app, headers, core_id, 1)
    per_invocation = len(await frames_until(first, 1))
    last = (await frames_until(second, 1))[-1]
    second.close()
    await wait_for(lambda: hub(grid_app).stats()["subscribers"] == 1)
    await invoke(grid_app, headers, core_id, 2)
    await frames_until(first, 2)  # the poller has read 2

    second = await open_stream(grid_app, headers, last.id)
    missed = await frames_until(second, 2)
    assert numbers(missed) == [2] and len(missed) == per_invocation
    assert hub(grid_app).stats() == {**hub(grid_app).stats(), "pollers": 1, "subscribers": 2}
    await invoke(grid_app, headers, core_id, 3)
    assert numbers(await frames_until(first, 3)) == [3]
    assert numbers(await frames_until(second, 3)) == [3]
    first.close()
    second.close()


async def test_an_id_older_than_the_running_poller_gets_a_private_catch_up(
        grid_app: Appliance) -> None:
    headers = await grid_app.headers()
    core_id = await core_of(grid_app, headers)
    early = await open_stream(grid_app, headers)
    await caught_up(grid_app)
    await invoke(grid_app, headers, core_id, 1)
    last = (await frames_until(early, 1))[-1]
    early.close()
    await wait_for(lambda: hub(grid_app).stats()["pollers"] == 0)

    other = await open_stream(grid_app, headers)  # a new poller, from the end of the log
    await caught_up(grid_app)
    await invoke(grid_app, headers, core_id, 2)
    assert numbers(await frames_until(other, 2)) == [2]

    back = await open_stream(grid_app, headers, last.id)  # 1's id is not in its history
    assert numbers(await frames_until(back, 2)) == [2]
    assert hub(grid_app).stats()["pollers"] == 2
    await invoke(grid_app, headers, core_id, 3)
    assert numbers(await frames_until(back, 3)) == [3]
    assert numbers(await frames_until(other, 3)) == [3]
    back.close()
    await wait_for(lambda: hub(grid_app).stats()["pollers"] == 1)
    other.close()


async def test_new_subscribers_of_a_resumed_poller_get_new_events_only(
        grid_app: Appliance, scaigrid_server: FakeScaiGrid) -> None:
    headers = await grid_app.headers()
    core_id = await core_of(grid_app, headers)
    stream = await open_stream(grid_app, headers)
    await caught_up(grid_app)
    await invoke(grid_app, headers, core_id, 1)
    last = (await frames_until(stream, 1))[-1]
    stream.close()
    await wait_for(lambda: hub(grid_app).stats()["pollers"] == 0)
    await invoke(grid_app, headers, core_id, 2)

    scaigrid_server.stall(0.5, "list_events", times=1)  # the resumed poller's first read
    resumed = await open_stream(grid_app, headers, last.id)
    fresh = await open_stream(grid_app, headers)
    await wait_for(lambda: hub(grid_app).stats()["subscribers"] == 2)
    assert hub(grid_app).stats()["pollers"] == 1
    assert numbers(await frames_until(resumed, 2)) == [2]
    await asyncio.sleep(0.2)
    await invoke(grid_app, headers, core_id, 3)
    assert numbers(await frames_until(fresh, 3)) == [3]  # not 2: that was history
    assert numbers(await frames_until(resumed, 3)) == [3]
    resumed.close()
    fresh.close()


async def test_an_id_this_stream_did_not_issue_gets_resume_failed_then_new_events(
        grid_app: Appliance) -> None:
    headers = await grid_app.headers()
    core_id = await core_of(grid_app, headers)
    stream = await open_stream(grid_app, headers)
    await caught_up(grid_app)
    await invoke(grid_app, headers, core_id, 1)
    issued = (await frames_until(stream, 1))[-1].id
    assert issued is not None
    stream.close()
    # Forged, edited, or issued for another filter (the id binds the core_id filter).
    filtered = await grid_app.client.get(STREAM, headers={**headers, "Last-Event-ID": issued},
                                         params={"core_id": core_id})
    for resp in (await open_stream(grid_app, headers, "forged"),
                 await open_stream(grid_app, headers, issued[:-2] + "AA"), filtered):
        frame = await read_frame(resp)
        assert frame.event == "resume_failed" and frame.id is None
        assert frame.data["history"] == "GET /api/v1/scaicore/events"
        resp.close()


async def test_a_position_scaigrid_no_longer_knows_gets_resume_failed(
        grid_app: Appliance) -> None:
    """A well-signed id whose ScaiGrid cursor ScaiGrid refuses (expired, or another
    ScaiGrid's): the stream says so once and carries on from the end of the log."""
    headers = await grid_app.headers()
    core_id = await core_of(grid_app, headers)
    codec = grid_app.client.app[CURSORS]
    gone = base64.urlsafe_b64encode(b"events:99999").decode().rstrip("=")
    stream = await open_stream(grid_app, headers, codec.encode("event_stream|tnt_a|", [gone, 0]))
    frame = await read_frame(stream)
    assert frame.event == "resume_failed"
    await caught_up(grid_app, polls=2)  # the refused cursor's read, then the end's
    await invoke(grid_app, headers, core_id, 1)
    assert numbers(await frames_until(stream, 1)) == [1]
    stream.close()
