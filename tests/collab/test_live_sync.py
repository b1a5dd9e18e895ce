"""The `/sync` relay at the message level (SPEC §15), with y-websocket peers written in Python
(aiohttp + pycrdt): the box's own sync answers, relaying, view-only writes, awareness, the
limits and close codes, presence frames, admission and `Origin`, storage and compaction."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pycrdt
import pytest

from scaiflow_box.collab import yprotocol as yp
from scaiflow_box.keys import LIVE_SYNC
from scaiflow_box.services import live_docs
from tests.collab.conftest import FLOWS, PyClient, edits, new_flow, text_of
from tests.conftest import AppFactory, Appliance


async def _grant(app: Appliance, owner_token: str, flow_id: str, user: str,
                 level: str) -> str:
    resp = await app.client.post(f"{FLOWS}/{flow_id}/acls", json={
        "principal_type": "user", "principal_id": user, "level": level},
        headers={"Authorization": f"Bearer {owner_token}"})
    assert resp.status == 201, await resp.text()
    acl_id: str = (await resp.json())["id"]
    return acl_id


async def _joined(client: PyClient, *, editor: bool = True) -> dict[str, Any]:
    """Read what the box sends a new client: the welcome, and the box's step 1 to editors."""
    welcome = await client.text()
    assert welcome["type"] == "welcome"
    if editor:
        assert (await client.binary()).step == yp.SYNC_STEP1
    return welcome


def _rows(app: Appliance, flow_id: str) -> int:
    return int(app.sql("SELECT count(*) FROM live_doc_updates WHERE flow_id = ?",
                       flow_id)[0][0])


async def _stored(app: Appliance, flow_id: str, count: int) -> None:
    for _ in range(100):
        if _rows(app, flow_id) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{count} updates were not stored")


async def test_the_box_answers_the_sync_protocol_and_relays_updates(appliance: Appliance
                                                                    ) -> None:
    app = appliance
    flow_id, token = await new_flow(app)
    a = await PyClient.connect(app, flow_id, token, client_id="tab-a")
    welcome = await a.text()
    assert welcome == {"type": "welcome", "flow_id": flow_id, "client_id": "tab-a",
                       "can_edit": True, "max_message_bytes": 8 * 1024 * 1024,
                       "viewers": [welcome["viewers"][0]]}
    assert welcome["viewers"][0]["client_id"] == "tab-a"
    step1 = await a.binary()
    assert (step1.step, step1.payload) == (yp.SYNC_STEP1, b"\x00")  # the box's empty state
    # A lone client: its step 1 is answered by the box (there is no one else).
    await a.socket.send_bytes(yp.sync_step1(b"\x00"))
    assert await a.binary() == yp.Message(yp.MESSAGE_SYNC, yp.SYNC_STEP2, yp.EMPTY_UPDATE)

    _, updates = edits(3)
    b = await PyClient.connect(app, flow_id, token, client_id="tab-b")
    await _joined(b)
    assert (await a.text())["type"] == "join"
    await a.socket.send_bytes(yp.sync_update(updates[0]))
    assert await b.raw() == yp.sync_update(updates[0])  # relayed as sent
    # A step 2 reaches the others as an update; an empty one goes nowhere.
    merged = pycrdt.merge_updates(updates[1], updates[2])
    await a.socket.send_bytes(yp.sync_step2(merged))
    relayed = await b.binary()
    assert relayed.step == yp.SYNC_UPDATE
    await a.socket.send_bytes(yp.sync_step2(yp.EMPTY_UPDATE))
    await b.silent()
    await a.silent()  # never echoed to the sender
    # A late joiner gets the whole document from the box.
    await b.socket.send_bytes(yp.sync_step1(b"\x00"))
    assert text_of((await b.binary()).payload) == "abc"
    await _stored(app, flow_id, 2)
    await a.close()
    await b.close()
    await asyncio.sleep(0.1)
    [audit] = app.sql("SELECT actor, action, target_id, details FROM audit_log"
                      " WHERE action = 'flow.live_edited'")
    assert (audit["actor"], audit["target_id"]) == ("usr_alice", flow_id)
    assert json.loads(audit["details"]) == {"client_id": "tab-a", "updates": 2,
                                            "bytes": len(updates[0]) + len(merged)}


async def test_a_view_only_write_closes_4403_and_changes_nothing(appliance: Appliance) -> None:
    app = appliance
    flow_id, owner = await new_flow(app)
    viewer_token = (await app.headers("usr_viewer"))["Authorization"].split()[1]
    await _grant(app, owner, flow_id, "usr_viewer", "view")
    editor = await PyClient.connect(app, flow_id, owner)
    await _joined(editor)
    viewer = await PyClient.connect(app, flow_id, viewer_token)
    welcome = await _joined(viewer, editor=False)  # a viewer is never asked for its step 2
    assert welcome["can_edit"] is False
    # Reading, awareness and an empty step 2 are no writes.
    await viewer.socket.send_bytes(yp.sync_step1(b"\x00"))
    assert (await viewer.binary()).step == yp.SYNC_STEP2
    await viewer.socket.send_bytes(yp.sync_step2(yp.EMPTY_UPDATE))
    await viewer.socket.send_bytes(yp.awareness_message([yp.AwarenessEntry(9, 1, "{}")]))
    assert (await editor.binary()).kind == yp.MESSAGE_AWARENESS
    _, updates = edits(1)
    await viewer.socket.send_bytes(yp.sync_update(updates[0]))
    assert await viewer.closed() == (4403, "view only: this client may not change the document")
    gone = await editor.binary()  # the viewer's awareness state, removed as it left
    assert yp.parse_awareness(gone.payload) == [yp.AwarenessEntry(9, 2, "null")]
    await editor.silent()  # the write was not relayed...
    await editor.socket.send_bytes(yp.sync_step1(b"\x00"))
    assert (await editor.binary()).payload == yp.EMPTY_UPDATE  # ...nor applied
    await asyncio.sleep(0.1)
    assert _rows(app, flow_id) == 0
    # Plain fan-out messages (types y-websocket does not define) are writes too.
    viewer = await PyClient.connect(app, flow_id, viewer_token)
    await _joined(viewer, editor=False)
    await viewer.socket.send_bytes(b"\x64payload")
    assert (await viewer.closed())[0] == 4403


async def test_awareness_is_remembered_relayed_and_removed(appliance: Appliance) -> None:
    app = appliance
    flow_id, token = await new_flow(app)
    a = await PyClient.connect(app, flow_id, token)
    await _joined(a)
    state = '{"user":{"name":"Ada"}}'
    await a.socket.send_bytes(yp.awareness_message([yp.AwarenessEntry(7, 1, state)]))
    b = await PyClient.connect(app, flow_id, token)
    await _joined(b)
    first = await b.binary()  # the states the room knows, right after joining
    assert yp.parse_awareness(first.payload) == [yp.AwarenessEntry(7, 1, state)]
    await b.socket.send_bytes(b"\x03")  # query awareness
    assert yp.parse_awareness((await b.binary()).payload) == [yp.AwarenessEntry(7, 1, state)]
    await a.socket.send_bytes(yp.awareness_message([yp.AwarenessEntry(7, 2, '{"x":1}')]))
    assert yp.parse_awareness((await b.binary()).payload) == [
        yp.AwarenessEntry(7, 2, '{"x":1}')]
    # y-websocket clients send back the states they learn, unchanged: that counts for
    # nothing (not relayed, and the state stays a's).
    await b.socket.send_bytes(yp.awareness_message([yp.AwarenessEntry(7, 2, '{"x":1}')]))
    await a.silent()
    await a.close()
    # y-websocket's own server does the same: the leaver's states, removed (clock + 1)
    gone = await b.binary()
    assert yp.parse_awareness(gone.payload) == [yp.AwarenessEntry(7, 3, "null")]
    # A stale copy of a removed state does not bring it back.
    await b.socket.send_bytes(yp.awareness_message([yp.AwarenessEntry(7, 2, '{"x":1}')]))
    c = await PyClient.connect(app, flow_id, token)
    await _joined(c)
    await c.socket.send_bytes(b"\x03")
    assert yp.parse_awareness((await c.binary()).payload) == []
    await b.socket.send_bytes(yp.awareness_message(
        [yp.AwarenessEntry(i, 1, "{}") for i in range(5)]))
    assert await b.closed() == (1008, "more than 4 awareness ids on one socket")


async def test_plain_fan_out_relays_undefined_types_unchanged(appliance: Appliance) -> None:
    app = appliance
    flow_id, token = await new_flow(app)
    a = await PyClient.connect(app, flow_id, token)
    b = await PyClient.connect(app, flow_id, token, presence_frames="false")
    await _joined(a)
    assert (await a.text())["type"] == "join"
    assert (await b.binary()).step == yp.SYNC_STEP1  # no welcome: presence frames are off
    for size in (1, 125, 126, 65535, 65536, 200_000):  # each WebSocket length encoding
        payload = b"\x64" + bytes(range(256)) * (size // 256) + bytes(size % 256)
        await a.socket.send_bytes(payload)
        assert await b.raw() == payload
    await a.socket.send_str("text from a client is ignored")
    await b.silent()
    await b.socket.send_bytes(b"\x02\x00\x00")  # auth is the box's message: not relayed
    await a.silent()


@pytest.mark.parametrize(("message", "reason"), [
    (b"", "not a y-websocket message: an empty message"),
    (b"\x00\x02\x09\x01", "not a y-websocket message: the message is shorter"),
    (yp.sync_update(b"\x05garbage"), "not a Yjs update"),
    (yp.sync_step1(b"\xff\xff"), "not a Yjs state vector"),
    (b"\x01\x02\x02\x01", "not an awareness update: the message ends inside a varuint"),
])
async def test_malformed_messages_close_1007(appliance: Appliance, message: bytes,
                                             reason: str) -> None:
    flow_id, token = await new_flow(appliance)
    client = await PyClient.connect(appliance, flow_id, token)
    await _joined(client)
    await client.socket.send_bytes(message)
    code, text = await client.closed()
    assert code == 1007 and text.startswith(reason)


async def test_limits_messages_clients_and_idle(make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_LIVE_MAX_MESSAGE_BYTES="1024",
                               SCAIFLOW_LIVE_MAX_CLIENTS_PER_FLOW="2",
                               SCAIFLOW_LIVE_IDLE_SECONDS="1.5")
    flow_id, token = await new_flow(app)
    a = await PyClient.connect(app, flow_id, token)
    b = await PyClient.connect(app, flow_id, token)
    # Both admitted (each has its welcome) before the third asks: on MariaDB admission follows
    # a read on another thread, so the third could otherwise be counted before them.
    await _joined(a)
    await _joined(b)
    c = await PyClient.connect(app, flow_id, token)
    assert await c.closed() == (4429, "this flow has 2 live clients already")
    await a.socket.send_bytes(b"\x64" + bytes(2000))
    assert (await a.closed())[0] == 1009  # over SCAIFLOW_LIVE_MAX_MESSAGE_BYTES
    assert (await b.text())["type"] == "leave"
    code, reason = await b.closed(timeout=4)
    assert (code, reason) == (4408, "idle: nothing received for 1.5 s")


async def test_a_document_at_its_size_limit_refuses_more(make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_LIVE_MAX_DOCUMENT_BYTES=str(64 * 1024))
    flow_id, token = await new_flow(app)
    client = await PyClient.connect(app, flow_id, token)
    await _joined(client)
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    values = doc.get("m", type=pycrdt.Map)
    for index in range(4):
        values[f"k{index}"] = "x" * 20_000
    for update in updates[:3]:
        await client.socket.send_bytes(yp.sync_update(update))
    await client.socket.send_bytes(yp.sync_update(updates[3]))  # 80 KB: over 64 KiB
    code, reason = await client.closed()
    assert (code, reason) == (4413, "the live document has reached its 65536 bytes")
    later = await PyClient.connect(app, flow_id, token)
    await _joined(later)
    await later.socket.send_bytes(yp.sync_step1(b"\x00"))
    stored: pycrdt.Doc[Any] = pycrdt.Doc()
    stored.apply_update((await later.binary()).payload)
    assert sorted(stored.get("m", type=pycrdt.Map).keys()) == ["k0", "k1", "k2"]


async def test_admission_token_flow_acl_and_origin(appliance: Appliance) -> None:
    app = appliance
    flow_id, token = await new_flow(app)
    stranger = (await app.headers("usr_stranger"))["Authorization"].split()[1]
    foreign = (await app.headers("usr_eve", "tnt_b", role="super_admin")
               )["Authorization"].split()[1]
    for who, target, expected in ((None, flow_id, (4401, "Not authenticated")),
                                  ("x.y.z", flow_id, (4401, "invalid token: malformed")),
                                  (stranger, flow_id, (4404, "Flow not found")),
                                  (foreign, flow_id, (4404, "Flow not found")),
                                  (token, "flow_doesnotexist0000", (4404, "Flow not found"))):
        client = await PyClient.connect(app, target, who)
        assert await client.closed() == expected
    # A browser page of another origin is refused before the upgrade (CSWSH).
    resp = await app.client.get(f"{FLOWS}/{flow_id}/sync", params={"token": token}, headers={
        "Origin": "https://evil.example", "Connection": "Upgrade", "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert resp.status == 403
    assert (await resp.json())["detail"]["error"] == "origin_not_allowed"
    allowed = await PyClient.connect(app, flow_id, token,
                                     headers={"Origin": "http://localhost:5173"})
    await _joined(allowed)
    assert app.client.app[LIVE_SYNC].stats()["connections"] == 1


async def test_presence_frames_tell_joins_and_leaves(appliance: Appliance) -> None:
    app = appliance
    flow_id, token = await new_flow(app)
    headers = {"Authorization": f"Bearer {token}"}
    a = await PyClient.connect(app, flow_id, token, client_id="tab-a")
    await _joined(a)
    resp = await app.client.post(f"{FLOWS}/{flow_id}/presence", headers=headers,
                                 json={"client_id": "tab-http"})
    assert resp.status == 200
    joined = await a.text()
    assert (joined["type"], joined["viewer"]["client_id"]) == ("join", "tab-http")
    # The heartbeat client opens its socket: the same viewer, no second join.
    b = await PyClient.connect(app, flow_id, token, client_id="tab-http")
    welcome = await _joined(b)
    assert [v["client_id"] for v in welcome["viewers"]] == ["tab-a", "tab-http"]
    await b.close()
    await a.silent()
    assert [t["type"] for t in a.texts] == ["welcome", "join"]  # a fresh heartbeat: still there
    resp = await app.client.delete(f"{FLOWS}/{flow_id}/presence?client_id=tab-http",
                                   headers=headers)
    assert resp.status == 204
    left = await a.text()
    assert (left["type"], left["viewer"]["client_id"]) == ("leave", "tab-http")


async def test_access_changes_reach_open_sockets_within_a_second(appliance: Appliance) -> None:
    app = appliance
    flow_id, owner = await new_flow(app)
    token = (await app.headers("usr_bob"))["Authorization"].split()[1]
    acl_id = await _grant(app, owner, flow_id, "usr_bob", "edit")
    owner_headers = {"Authorization": f"Bearer {owner}"}
    bob = await PyClient.connect(app, flow_id, token)
    await _joined(bob)
    # Downgraded to view: told so, and its next write is refused.
    resp = await app.client.patch(f"{FLOWS}/{flow_id}/acls/{acl_id}", headers=owner_headers,
                                  json={"level": "view"})
    assert resp.status == 200
    assert await bob.text(timeout=1.5) == {"type": "access", "can_edit": False}
    _, updates = edits(1)
    await bob.socket.send_bytes(yp.sync_update(updates[0]))
    assert (await bob.closed())[0] == 4403
    # Revoked: closed within a second.
    bob = await PyClient.connect(app, flow_id, token)
    await _joined(bob, editor=False)
    resp = await app.client.delete(f"{FLOWS}/{flow_id}/acls/{acl_id}", headers=owner_headers)
    assert resp.status == 204
    started = asyncio.get_running_loop().time()
    assert await bob.closed(timeout=2) == (4404, "Flow not found")
    assert asyncio.get_running_loop().time() - started < 1.5
    # A disabled user: closed within a second, as its next request would be refused.
    alice = await PyClient.connect(app, flow_id, owner)
    await _joined(alice)
    await app.user("usr_alice", status="DISABLED")
    assert await alice.closed(timeout=2) == (4401, "invalid token: user disabled")


async def test_a_slow_consumer_is_cut_off_and_the_others_never_wait(
        make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_LIVE_SEND_QUEUE_BYTES=str(256 * 1024))
    flow_id, token = await new_flow(app)
    sender = await PyClient.connect(app, flow_id, token)
    reader = await PyClient.connect(app, flow_id, token)
    await _joined(sender)
    await _joined(reader)
    # A client that never reads: a raw connection that completes the handshake and stops.
    host, port = app.client.server.host, app.client.server.port
    stalled_reader, stalled = await asyncio.open_connection(host, port)
    stalled.write((f"GET {FLOWS}/{flow_id}/sync?token={token}&presence_frames=false HTTP/1.1"
                   f"\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    assert b" 101 " in await stalled_reader.readuntil(b"\r\n\r\n")
    hub = app.client.app[LIVE_SYNC]
    # Admitted after its 101: on MariaDB the access check is a read on another thread.
    for _ in range(200):
        if hub.stats()["connections"] == 3:
            break
        await asyncio.sleep(0.01)
    assert hub.stats()["connections"] == 3
    message = b"\x64" + bytes(60_000)
    for index in range(300):  # 18 MB: far more than the kernel buffers hold
        await sender.socket.send_bytes(message[:1] + index.to_bytes(4, "big") + message[5:])
        received = await reader.raw()
        assert received[1:5] == index.to_bytes(4, "big")  # in order, none lost
    assert hub.counters.slow_consumers == 1
    assert hub.counters.closed[1013] == 1
    assert hub.stats()["connections"] == 2
    stalled.close()


async def test_updates_are_stored_compacted_and_reloaded(appliance: Appliance,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    app = appliance
    monkeypatch.setattr(live_docs, "COMPACT_ROWS", 10)  # compact after 10 stored updates
    hub = app.client.app[LIVE_SYNC]
    hub.room_grace_seconds = 0  # an empty room lets go of its document at the next tick
    flow_id, token = await new_flow(app)
    client = await PyClient.connect(app, flow_id, token)
    await _joined(client)
    _, updates = edits(25)
    for update in updates:
        await client.socket.send_bytes(yp.sync_update(update))
        await asyncio.sleep(0.005)
    await client.socket.send_bytes(yp.sync_step1(b"\x00"))
    await client.binary()  # answered after all 25 were applied
    await client.close()
    await asyncio.sleep(1.5)  # the tick releases the room: stored, compacted, dropped
    assert hub.stats() == {"connections": 0, "rooms": 0, "documents": 0, "viewers": 0}
    [snapshot] = app.sql("SELECT tenant_id, length(snapshot) AS size FROM live_docs"
                         " WHERE flow_id = ?", flow_id)
    assert snapshot["tenant_id"] == "tnt_a" and snapshot["size"] > 25
    assert _rows(app, flow_id) == 0  # folded into the snapshot
    # Loaded again from the store for the next client.
    late = await PyClient.connect(app, flow_id, token)
    await _joined(late)
    await late.socket.send_bytes(yp.sync_step1(b"\x00"))
    assert text_of((await late.binary()).payload) == "abcdefghijklmnopqrstuvwxy"


async def test_shutdown_closes_every_socket_with_1001(appliance: Appliance) -> None:
    flow_id, token = await new_flow(appliance)
    clients = [await PyClient.connect(appliance, flow_id, token) for _ in range(3)]
    for client in clients:
        await _joined(client)
    _, updates = edits(1)
    await clients[0].socket.send_bytes(yp.sync_update(updates[0]))
    await clients[1].raw()
    await appliance.client.app[LIVE_SYNC].shutdown()
    for client in clients:
        assert await client.closed() == (1001, "the server is shutting down")
    assert _rows(appliance, flow_id) == 0  # stored, and compacted into the snapshot
    [row] = appliance.sql("SELECT snapshot FROM live_docs WHERE flow_id = ?", flow_id)
    assert text_of(bytes(row["snapshot"])) == "a"
    late = await PyClient.connect(appliance, flow_id, token)
    assert await late.closed() == (1001, "the server is shutting down")


async def test_keepalive_and_the_token_in_the_url_is_never_logged(
        appliance: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    flow_id, token = await new_flow(appliance)
    client = await PyClient.connect(appliance, flow_id, token)
    await _joined(client)
    hub = appliance.client.app[LIVE_SYNC]
    [session] = hub.clients(flow_id)
    session.last_sent -= 20  # nothing sent to it for 20 s
    await hub.tick()
    assert await client.raw() == yp.KEEPALIVE  # y-websocket drops a silent socket after 30 s
    await client.socket.send_bytes(b"\x00\x09")  # a bad message: a close, and a log line
    await client.closed()
    logged = [record.getMessage() + repr(record.args) for record in caplog.records]
    assert logged and not [line for line in logged if token in line]


async def test_live_counters_are_in_the_metrics(make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_METRICS="true")
    flow_id, token = await new_flow(app)
    a = await PyClient.connect(app, flow_id, token)
    b = await PyClient.connect(app, flow_id, token)
    await _joined(a)
    await _joined(b)
    await a.socket.send_bytes(b"\x64four")
    await b.raw()
    text = await (await app.client.get("/metrics")).text()
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line.startswith("scaiflow_live_")}
    assert values["scaiflow_live_connections"] == 2
    assert values["scaiflow_live_documents"] == 1
    assert values["scaiflow_live_connections_opened_total"] == 2
    assert values['scaiflow_live_frames_total{direction="in"}'] == 1
    assert values['scaiflow_live_bytes_total{direction="in"}'] == 5
    assert values['scaiflow_live_frames_total{direction="out"}'] >= 5
    assert values["scaiflow_live_slow_consumer_disconnects_total"] == 0
