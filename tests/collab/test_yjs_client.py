"""Live editing with the real client: yjs + y-websocket (tests/collab/js), run by node, against
an appliance on loopback (SPEC §15). Convergence across processes, a lone client and a late
joiner, ordering with twenty clients, refused writes, access and tokens ending mid-session, a
client that never reads, presence, `Origin`, and the three ways to hand over the token."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from scaiflow_box.keys import JWKS, LIVE_SYNC
from tests.collab.conftest import (
    FLOWS,
    NodeClients,
    needs_node,
    new_flow,
    ws_base,
)
from tests.conftest import AppFactory, Appliance, hello_content
from tests.fakes.scaikey import FakeScaiKey

pytestmark = needs_node


async def _grant(app: Appliance, owner_token: str, flow_id: str, user: str,
                 level: str) -> str:
    resp = await app.client.post(f"{FLOWS}/{flow_id}/acls", json={
        "principal_type": "user", "principal_id": user, "level": level},
        headers={"Authorization": f"Bearer {owner_token}"})
    assert resp.status == 201, await resp.text()
    acl_id: str = (await resp.json())["id"]
    return acl_id


async def _connect(clients: NodeClients, name: str, url: str, token: str,
                   **options: Any) -> None:
    await clients.send("connect", name=name, url=url, token=token, **options)
    await clients.expect("synced", name)


async def _dump(clients: NodeClients, name: str) -> dict[str, Any]:
    await clients.send("dump", name=name)
    return await clients.expect("dump", name)


@pytest.mark.parametrize("processes", [2, 5])
async def test_processes_editing_one_flow_converge(appliance: Appliance, node: Any,
                                                   processes: int) -> None:
    flow_id, token = await new_flow(appliance)
    url = ws_base(appliance, flow_id)
    editors: list[NodeClients] = [await node() for _ in range(processes)]
    for index, clients in enumerate(editors):
        await _connect(clients, f"p{index}", url, token)
    edits = 30
    for index, clients in enumerate(editors):  # all at once: concurrent text inserts
        await clients.send("edit", name=f"p{index}", count=edits, prefix=f"p{index}",
                           delayMs=2)
    for index, clients in enumerate(editors):
        await clients.send("waitFor", name=f"p{index}", mapSize=processes * edits)
        await clients.expect("reached", f"p{index}")
    dumps = [await _dump(clients, f"p{index}") for index, clients in enumerate(editors)]
    assert len(dumps[0]["text"]) == processes * edits
    assert all(d["map"] == dumps[0]["map"] and d["text"] == dumps[0]["text"] for d in dumps)
    # The box's replica holds the same document: a new client gets it from the box alone.
    late = await node()
    await _connect(late, "late", url, token)
    assert (await _dump(late, "late"))["text"] == dumps[0]["text"]


async def test_a_lone_client_edits_leaves_and_a_new_client_gets_the_edits(
        appliance: Appliance, node: Any) -> None:
    app = appliance
    flow_id, token = await new_flow(app)
    url = ws_base(app, flow_id)
    clients = await node()
    await _connect(clients, "lone", url, token)
    await clients.send("edit", name="lone", count=20, prefix="lone")
    await clients.send("barrier", name="lone")  # the box has applied all 20
    await clients.expect("barrier", "lone")
    edited = await _dump(clients, "lone")
    await clients.send("close", name="lone")
    await clients.expect("closed", "lone")
    await _connect(clients, "next", url, token)  # from the box's replica in memory
    assert (await _dump(clients, "next"))["map"] == edited["map"]
    await clients.send("close", name="next")
    hub = app.client.app[LIVE_SYNC]
    hub.room_grace_seconds = 0
    for _ in range(40):  # the next tick stores, compacts and drops the document
        await asyncio.sleep(0.1)
        if hub.stats()["documents"] == 0:
            break
    assert hub.stats()["documents"] == 0
    assert app.sql("SELECT count(*) FROM live_docs WHERE flow_id = ?", flow_id)[0][0] == 1
    await _connect(clients, "after", url, token)  # loaded from the database
    after = await _dump(clients, "after")
    assert (after["map"], after["text"]) == (edited["map"], edited["text"])


async def test_twenty_clients_exchange_frames_in_order(appliance: Appliance,
                                                       node: Any) -> None:
    flow_id, token = await new_flow(appliance)
    url = ws_base(appliance, flow_id)
    processes = [await node(), await node()]
    names = [(processes[i % 2], f"c{i}") for i in range(20)]
    for clients, name in names:
        await _connect(clients, name, url, token)
    for clients, name in names:
        await clients.send("edit", name=name, count=10, prefix=name, delayMs=5)
    for clients, name in names:
        await clients.send("waitFor", name=name, mapSize=200)
        await clients.expect("reached", name)
    for clients, name in names:
        await clients.send("order", name=name)
        order = await clients.expect("order", name)
        assert order["gaps"] == [], name  # no frame overtook an earlier one of its sender
        assert order["checked"] >= 190  # the other 19 clients' updates, at least
    texts = {(await _dump(clients, name))["text"] for clients, name in names}
    assert len(texts) == 1


async def test_a_view_only_client_receives_but_its_write_is_refused(appliance: Appliance,
                                                                    node: Any) -> None:
    app = appliance
    flow_id, owner = await new_flow(app)
    viewer_token = (await app.headers("usr_viewer"))["Authorization"].split()[1]
    await _grant(app, owner, flow_id, "usr_viewer", "view")
    url = ws_base(app, flow_id)
    clients = await node()
    await _connect(clients, "editor", url, owner)
    await _connect(clients, "viewer", url, viewer_token)
    await clients.send("edit", name="editor", count=3, prefix="e")
    await clients.send("waitFor", name="viewer", mapSize=3)
    await clients.expect("reached", "viewer")  # a viewer receives
    await clients.send("edit", name="viewer", count=1, prefix="v")
    closed = await clients.expect("close", "viewer")
    assert (closed["code"], closed["reason"]) == (
        4403, "view only: this client may not change the document")
    await clients.send("barrier", name="editor")
    await clients.expect("barrier", "editor")
    assert sorted((await _dump(clients, "editor"))["map"]) == ["e-0", "e-1", "e-2"]


async def test_an_acl_revoked_mid_session_closes_the_client(appliance: Appliance,
                                                            node: Any) -> None:
    app = appliance
    flow_id, owner = await new_flow(app)
    bob = (await app.headers("usr_bob"))["Authorization"].split()[1]
    acl_id = await _grant(app, owner, flow_id, "usr_bob", "edit")
    clients = await node()
    await _connect(clients, "bob", ws_base(app, flow_id), bob)
    resp = await app.client.delete(f"{FLOWS}/{flow_id}/acls/{acl_id}",
                                   headers={"Authorization": f"Bearer {owner}"})
    assert resp.status == 204
    started = time.monotonic()
    closed = await clients.expect("close", "bob", timeout=3)
    assert time.monotonic() - started < 1.5
    assert (closed["code"], closed["reason"]) == (4404, "Flow not found")


async def test_a_token_expiring_mid_session_closes_4401(make_appliance: AppFactory,
                                                        scaikey_server: FakeScaiKey,
                                                        node: Any) -> None:
    app = await make_appliance(**scaikey_server.env())
    await app.client.app[JWKS].wait_first_fetch()
    owner = scaikey_server.mint(sub="usr_kim", tenant_id="tnt_acme")
    resp = await app.client.post(FLOWS, headers={"Authorization": f"Bearer {owner}"},
                                 json={"name": "Expiring", "content": hello_content()})
    assert resp.status == 201, await resp.text()
    flow_id = (await resp.json())["id"]
    # Valid for 3 more seconds: `exp` is 57 s ago, inside the 60 s leeway every request gets.
    expiring = scaikey_server.mint(sub="usr_kim", tenant_id="tnt_acme",
                                   exp=int(time.time()) - 57)
    clients = await node()
    await _connect(clients, "kim", ws_base(app, flow_id), expiring)
    closed = await clients.expect("close", "kim", timeout=6)
    assert (closed["code"], closed["reason"]) == (4401, "invalid token: expired")


async def test_a_client_that_never_reads_is_cut_off_and_the_others_go_on(
        make_appliance: AppFactory, node: Any) -> None:
    app = await make_appliance(SCAIFLOW_LIVE_SEND_QUEUE_BYTES=str(1024 * 1024))
    flow_id, token = await new_flow(app)
    url = ws_base(app, flow_id)
    writers = {"a": await node(), "b": await node()}
    for name, clients in writers.items():
        await _connect(clients, name, url, token)
    host, port = app.client.server.host, app.client.server.port
    reader, stalled = await asyncio.open_connection(host, port)
    stalled.write((f"GET {FLOWS}/{flow_id}/sync?token={token} HTTP/1.1\r\nHost: {host}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")  # then it never reads again
    for name, clients in writers.items():  # 2 x 9 MB, in 60 KB updates
        await clients.send("edit", name=name, count=150, prefix=name, size=60_000, delayMs=2)
    for name, clients in writers.items():
        await clients.send("waitFor", name=name, mapSize=300, timeoutMs=60_000)
        await clients.expect("reached", name, timeout=60)
        assert not clients.seen("close", name)
    hub = app.client.app[LIVE_SYNC]
    assert hub.counters.slow_consumers == 1
    assert hub.counters.closed[1013] == 1
    assert len(hub.clients(flow_id)) == 2
    stalled.close()


async def test_presence_reaches_the_canvas_and_expires(make_appliance: AppFactory,
                                                       node: Any) -> None:
    app = await make_appliance(SCAIFLOW_PRESENCE_EXPIRY_SECONDS="1")
    flow_id, token = await new_flow(app)
    other = await app.headers("usr_other")
    await _grant(app, token, flow_id, "usr_other", "view")
    clients = await node()
    await _connect(clients, "canvas", ws_base(app, flow_id), token, clientId="tab-canvas")
    welcome = await clients.expect("text", "canvas", where=lambda e: e["data"]["type"]
                                   == "welcome")
    assert [v["client_id"] for v in welcome["data"]["viewers"]] == ["tab-canvas"]
    resp = await app.client.post(f"{FLOWS}/{flow_id}/presence", headers=other,
                                 json={"client_id": "tab-other", "state": {"x": 1}})
    assert resp.status == 200
    joined = await clients.expect("text", "canvas",
                                  where=lambda e: e["data"]["type"] == "join")
    assert joined["data"]["viewer"] | {"last_seen": None} == {
        "user_id": "usr_other", "display_name": None, "client_id": "tab-other",
        "can_edit": False, "state": {"x": 1}, "last_seen": None}
    started = time.monotonic()
    left = await clients.expect("text", "canvas", timeout=4,
                                where=lambda e: e["data"]["type"] == "leave")
    assert left["data"]["viewer"]["client_id"] == "tab-other"
    assert 0.5 < time.monotonic() - started < 3
    resp = await app.client.get(f"{FLOWS}/{flow_id}/presence", headers=other)
    assert [v["client_id"] for v in (await resp.json())["viewers"]] == ["tab-canvas"]


async def test_a_foreign_origin_is_refused(appliance: Appliance, node: Any) -> None:
    flow_id, token = await new_flow(appliance)
    url = ws_base(appliance, flow_id)
    clients = await node()
    await clients.send("connect", name="evil", url=url, token=token,
                       origin="https://evil.example")
    refused = await clients.expect("error", "evil")
    assert refused["status"] == 403
    await _connect(clients, "canvas", url, token, origin="http://localhost:5173")
    assert not clients.seen("open", "evil")
    assert len(appliance.client.app[LIVE_SYNC].clients(flow_id)) == 1


@pytest.mark.parametrize("auth", ["params", "protocol", "header"])
async def test_the_token_by_params_subprotocol_or_header(appliance: Appliance, node: Any,
                                                         auth: str) -> None:
    flow_id, token = await new_flow(appliance)
    clients = await node()
    await clients.send("connect", name="canvas", url=ws_base(appliance, flow_id),
                       token=token, auth=auth)
    opened = await clients.expect("open", "canvas")
    # A browser that offers `bearer, <token>` fails the connection unless the server picks
    # one of them: the box answers `bearer`, never the token.
    assert opened["protocol"] == ("bearer" if auth == "protocol" else "")
    await clients.expect("synced", "canvas")
    await clients.send("connect", name="anonymous", url=ws_base(appliance, flow_id),
                       token="", auth="none")
    closed = await clients.expect("close", "anonymous")
    assert (closed["code"], closed["reason"]) == (4401, "Not authenticated")
