"""The live-editing relay (SPEC §15): admits sockets to their flow's room, reads their messages,
and keeps every open session honest once a second.

Admission needs `scaicore:view` and the view level on the flow (else close 4403 / 4404), a
place under the flow's client cap (4429), and the flow's document (loaded on first use).
Editing needs `scaicore:manage` and the edit level, as `PUT /flows/{id}` does.

Once a second (`TICK_SECONDS`) every open session is checked again, so a change made anywhere
— through the API, or by the CLI in another process (seen within 50 ms, store/read_cache.py) —
reaches the sockets within a second: the token is verified again (expired, revoked, or its
user disabled: 4401), the flow level is read again when the database changed (flow deleted
or no longer visible: 4404; edit rights gained or lost: a JSON `access` frame, and writes are
refused from then on), clients silent for `idle_seconds` are closed (4408), and clients the
box had nothing to send to for `KEEPALIVE_SECONDS` get an empty awareness message (y-websocket
reconnects after 30 s without a message). Heartbeat presence expires in the same pass, and a
room nobody has used for `ROOM_GRACE_SECONDS` stores and compacts its document and lets go of
it.

Everything is in this process's memory: docs/decisions.md says how several processes could
serve one flow later (the stored updates are the shared log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from scaiflow_box.auth.principal import Principal
from scaiflow_box.collab import yprotocol as yp
from scaiflow_box.collab.ws_frames import binary_frame, text_frame
from scaiflow_box.errors import Forbidden, NotAuthenticated, NotFound
from scaiflow_box.services.live_docs import LiveDocuments
from scaiflow_box.services.live_rooms import (
    CloseCode,
    LiveClient,
    LiveClose,
    LiveCounters,
    LiveSocket,
    Outbox,
    Room,
    wait_closed,
)
from scaiflow_box.services.presence import Change, PresenceBoard, Viewer, flow_level, may_edit
from scaiflow_box.store import audit
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store.database import Database

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
KEEPALIVE_SECONDS = 15.0
ROOM_GRACE_SECONDS = 30.0
SHUTDOWN_FLUSH_SECONDS = 10.0
KEEPALIVE_FRAME = binary_frame(yp.KEEPALIVE)

Authenticate = Callable[[str | None], Awaitable[Principal]]


@dataclass(frozen=True)
class LiveLimits:
    max_clients_per_flow: int = 100
    max_message_bytes: int = 8 * 1024 * 1024
    send_queue_bytes: int = 4 * 1024 * 1024
    idle_seconds: float = 600.0
    ping_seconds: float = 30.0
    max_document_bytes: int = 64 * 1024 * 1024


class LiveSync:
    def __init__(self, db: Database, authenticate: Authenticate, board: PresenceBoard,
                 documents: LiveDocuments, limits: LiveLimits, *,
                 tick_seconds: float = TICK_SECONDS,
                 room_grace_seconds: float = ROOM_GRACE_SECONDS) -> None:
        self.db = db
        self.authenticate = authenticate
        self.board = board
        self.documents = documents
        self.limits = limits
        self.tick_seconds = tick_seconds
        self.room_grace_seconds = room_grace_seconds
        self.counters = LiveCounters()
        self.outbox = Outbox()
        self._rooms: dict[str, Room] = {}
        self._shutting_down = False
        self._db_changes = -1
        self._ticker: asyncio.Task[None] | None = None
        board.listeners.append(self._presence_changed)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever(), name="live-sync-tick")

    async def shutdown(self) -> None:
        """Close every socket with 1001 and store every document (aiohttp's on_shutdown:
        before the server waits for its handlers to end)."""
        self._shutting_down = True
        clients = [c for room in self._rooms.values() for c in room.clients]
        for client in clients:
            client.disconnect(CloseCode.GOING_AWAY, "the server is shutting down")
        await wait_closed(clients)
        try:
            async with asyncio.timeout(SHUTDOWN_FLUSH_SECONDS):
                await self.documents.flush_all()
        except TimeoutError:
            log.error("live documents were not all stored within %d s of shutdown",
                      SHUTDOWN_FLUSH_SECONDS)

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker

    # -- one session ---------------------------------------------------------------------------
    async def serve(self, socket: LiveSocket, principal: Principal, token: str | None,
                    flow_id: str,
                    client_id: str | None, presence_frames: bool) -> None:
        """Run one socket's session to its end (the socket is open, nothing sent yet)."""
        self.counters.opened += 1
        try:
            room, client = await self._admit(socket, principal, token, flow_id,
                                             client_id or _socket_client_id(), presence_frames)
        except LiveClose as exc:
            await self._refuse(socket, exc.code, exc.reason)
            return
        except Exception:  # the document could not be loaded, say: the socket is open
            log.exception("admitting a live session on %s failed", flow_id)
            await self._refuse(socket, CloseCode.INTERNAL_ERROR, "internal error")
            return
        try:
            await self._read(room, client)
        except Exception:
            log.exception("live session on %s failed", flow_id)
            client.disconnect(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            await self._leave(room, client)

    async def _refuse(self, socket: LiveSocket, code: int, reason: str) -> None:
        self.counters.closed[code] += 1
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(2.0):
                await socket.close(code, reason)

    async def _admit(self, socket: LiveSocket, principal: Principal, token: str | None,
                     flow_id: str, client_id: str, presence_frames: bool
                     ) -> tuple[Room, LiveClient]:
        if self._shutting_down:
            raise LiveClose(CloseCode.GOING_AWAY, "the server is shutting down")
        level = await self._level(principal, flow_id)
        self._check_room(flow_id)
        room = await self._room(principal.tenant_id, flow_id)
        self._check_room(flow_id)  # others may have joined while the document loaded
        can_edit = may_edit(principal, level)
        viewer = self.board.attach(principal.tenant_id, flow_id, user_id=principal.sub,
                                   display_name=principal.display_name, client_id=client_id,
                                   can_edit=can_edit)
        client = LiveClient(socket, principal, token, flow_id, client_id, can_edit,
                            presence_frames, viewer, self.counters, self.outbox,
                            self.limits.send_queue_bytes)
        welcome = orjson.dumps({
            "type": "welcome", "flow_id": flow_id, "client_id": client_id,
            "can_edit": can_edit, "max_message_bytes": self.limits.max_message_bytes,
            "viewers": [v.as_dict() for v in self.board.viewers(flow_id)]})
        room.join(client, welcome)
        return room, client

    async def _level(self, principal: Principal, flow_id: str) -> str:
        try:
            principal.require_view()
            return await self.db.read_small(lambda conn: flow_level(conn, principal, flow_id))
        except NotFound:
            raise LiveClose(CloseCode.NOT_FOUND, "Flow not found") from None
        except Forbidden as exc:
            raise LiveClose(CloseCode.FORBIDDEN, exc.message) from None

    def _check_room(self, flow_id: str) -> None:
        room = self._rooms.get(flow_id)
        cap = self.limits.max_clients_per_flow
        if room is not None and len(room.clients) >= cap:
            raise LiveClose(CloseCode.FLOW_FULL, f"this flow has {cap} live clients already")

    async def _room(self, tenant_id: str, flow_id: str) -> Room:
        room = self._rooms.get(flow_id)
        if room is not None:
            return room
        document = await self.documents.open(tenant_id, flow_id)
        room = self._rooms.get(flow_id)
        if room is not None:  # another client created it while the document loaded
            await self.documents.close(document)
            return room
        room = self._rooms[flow_id] = Room(tenant_id, flow_id, document)
        return room

    async def _read(self, room: Room, client: LiveClient) -> None:
        counters = self.counters
        board = self.board
        async for data in client.socket.messages():
            if client.closing:
                break
            client.last_received = time.monotonic()
            board.touch(client.viewer)
            counters.frames_in += 1
            counters.bytes_in += len(data)
            if isinstance(data, str):
                continue  # the box defines no client text messages
            try:
                changed = room.receive(client, data)
            except LiveClose as exc:
                client.disconnect(exc.code, exc.reason)
                break
            if changed:
                self.documents.changed(room.document)

    async def _leave(self, room: Room, client: LiveClient) -> None:
        room.leave(client)
        self.board.detach(room.flow_id, client.viewer)
        code = client.close_code if client.close_code is not None else client.socket.close_code()
        self.counters.closed[code or 1005] += 1
        if client.updates_applied:
            await self._audit_edits(room, client)
        await wait_closed([client])

    async def _audit_edits(self, room: Room, client: LiveClient) -> None:
        details = {"client_id": client.client_id, "updates": client.updates_applied,
                   "bytes": client.bytes_applied}
        try:
            await self.db.write(lambda conn: audit.record(
                conn, tenant_id=room.tenant_id, actor=client.principal.sub,
                action="flow.live_edited", target_type="flow", target_id=room.flow_id,
                details=details), flows_changed=())
        except Exception:
            log.warning("could not audit the live edits of %s on %s", client.principal.sub,
                        room.flow_id, exc_info=True)

    # -- presence frames -----------------------------------------------------------------------
    def _presence_changed(self, flow_id: str, change: Change, viewer: Viewer) -> None:
        room = self._rooms.get(flow_id)
        if room is not None and room.clients:
            room.broadcast_text(orjson.dumps({"type": change, "viewer": viewer.as_dict()}))

    # -- once a second -------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.tick()
            except Exception:
                log.exception("live-editing housekeeping failed")

    async def tick(self) -> None:
        now = time.monotonic()
        self.board.expire()
        cache = self.db.read_cache
        cache.check()
        db_changed = cache.changes != self._db_changes
        self._db_changes = cache.changes
        verdicts: dict[str | None, Principal | LiveClose] = {}
        for room in list(self._rooms.values()):
            for client in list(room.clients):
                if not client.closing:
                    await self._recheck(room, client, verdicts, db_changed, now)
        await self._release_idle_rooms(now)

    async def _recheck(self, room: Room, client: LiveClient,
                       verdicts: dict[str | None, Principal | LiveClose], db_changed: bool,
                       now: float) -> None:
        verdict = verdicts.get(client.token)
        if verdict is None:
            try:
                verdict = await self.authenticate(client.token)
            except NotAuthenticated as exc:
                verdict = LiveClose(CloseCode.NOT_AUTHENTICATED, exc.message)
            verdicts[client.token] = verdict
        if isinstance(verdict, LiveClose):
            client.disconnect(verdict.code, verdict.reason)
            return
        if db_changed or verdict != client.principal:
            client.principal = verdict
            try:
                can_edit = may_edit(verdict, await self._level(verdict, room.flow_id))
            except LiveClose as exc:
                client.disconnect(exc.code, exc.reason)
                return
            if can_edit != client.can_edit:
                client.can_edit = client.viewer.can_edit = can_edit
                if client.presence_frames:
                    client.send(text_frame(orjson.dumps({"type": "access",
                                                         "can_edit": can_edit})))
        if now - client.last_received > self.limits.idle_seconds:
            client.disconnect(CloseCode.IDLE, "idle: nothing received for "
                                              f"{self.limits.idle_seconds:g} s")
        elif now - client.last_sent >= KEEPALIVE_SECONDS:
            client.send(KEEPALIVE_FRAME)

    async def _release_idle_rooms(self, now: float) -> None:
        for flow_id, room in list(self._rooms.items()):
            if room.clients or room.emptied_at is None \
                    or now - room.emptied_at < self.room_grace_seconds:
                continue
            del self._rooms[flow_id]  # a client arriving now opens a new room
            await self.documents.close(room.document)

    # -- the operator's view -------------------------------------------------------------------
    async def overview(self, principal: Principal) -> list[dict[str, Any]]:
        """Flows with viewers or live sockets: every tenant's for a super admin, the caller's
        tenant's for a tenant admin."""
        principal.require_tenant_admin()
        entries = [(tenant_id, flow_id, viewers) for tenant_id, flow_id, viewers
                   in self.board.flows()
                   if viewers and (principal.is_super_admin or tenant_id == principal.tenant_id)]
        result: list[dict[str, Any]] = []
        names = await self.db.read_small(lambda conn: {
            flow_id: flow_rows.get_flow(conn, tenant_id, flow_id, include_deleted=True)
            for tenant_id, flow_id, _ in entries})
        for tenant_id, flow_id, viewers in sorted(entries, key=lambda e: (e[0], e[1])):
            row = names[flow_id]
            room = self._rooms.get(flow_id)
            result.append({
                "flow_id": flow_id, "tenant_id": tenant_id,
                "name": row["name"] if row is not None else None,
                "connections": len(room.clients) if room is not None else 0,
                "editors": sum(1 for c in room.clients if c.can_edit) if room else 0,
                "document_bytes": room.document.size if room is not None else None,
                "viewers": [v.as_dict() for v in viewers]})
        return result

    def clients(self, flow_id: str) -> list[LiveClient]:
        """The open sessions on a flow, in the order they joined."""
        room = self._rooms.get(flow_id)
        return list(room.clients) if room is not None else []

    def stats(self) -> dict[str, int]:
        """Gauges for `/metrics`."""
        return {"connections": sum(len(r.clients) for r in self._rooms.values()),
                "rooms": len(self._rooms), "documents": len(self.documents),
                "viewers": len(self.board)}


def _socket_client_id() -> str:
    """A client id for a socket that did not name one (it is then a viewer of its own)."""
    return "live_" + secrets.token_hex(8)
