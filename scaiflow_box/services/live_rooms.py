"""A flow's live-editing room: its connected clients, the document's replica, the awareness
states, and what each y-websocket message does (SPEC §15).

Sending never waits. A message for the room is encoded as a WebSocket frame once and queued
for each client; at the end of the event loop's iteration (`Outbox`) each client's queued
frames go to its connection in one write, so a loop that fell behind catches up with one
system call per client instead of one per frame. What the connection cannot send yet waits
in its transport's buffer: that and the frames not yet written are the client's send queue.
A client whose queue holds more than `send_queue_bytes` is a slow consumer: it is
disconnected, so one stalled reader never holds up the others and memory stays bounded (a
queue holds at most that plus one message).

What a message from a client does:
- sync step 1: the box answers with a step 2 from its replica (never relayed);
- sync step 2 / update: applied to the replica, stored, relayed to the others as an update
  (an empty update is ignored); from a client without edit rights: close 4403;
- awareness: applied to the room's awareness as y-protocols does (an entry counts only with
  a newer clock, or as a removal at the same clock) and what counted is relayed; a late
  joiner gets every state. y-websocket clients send back the states they learn from others,
  unchanged: those count for nothing, so they are neither relayed again nor theirs. A state
  belongs to the socket that introduced it, and when that socket leaves its states are
  removed for the others, as y-websocket's own server does;
- query awareness: answered with every known state;
- auth (a server-to-client message): ignored;
- any other type: relayed unchanged (clients that expect plain fan-out), editors only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from scaiflow_box.auth.principal import Principal
from scaiflow_box.collab import yprotocol as yp
from scaiflow_box.collab.ws_frames import binary_frame, text_frame
from scaiflow_box.services.live_docs import DocumentTooLarge, LiveDocument
from scaiflow_box.services.presence import Viewer

log = logging.getLogger(__name__)

# The awareness ids one socket may introduce (y-websocket uses one per document) and the size
# of one awareness message: together they bound what a room remembers per client.
MAX_AWARENESS_IDS = 4
MAX_AWARENESS_BYTES = 64 * 1024
# Clocks of removed awareness ids are kept (a stale copy of a removed state must not bring it
# back) until there are this many.
MAX_AWARENESS_CLOCKS = 4096
CLOSE_GRACE_SECONDS = 2.0


class CloseCode:
    """The close codes a live-editing socket ends with (docs/api.md lists them)."""

    GOING_AWAY = 1001  # the box is shutting down
    INVALID_MESSAGE = 1007  # not a y-websocket message, or an update Yrs cannot decode
    POLICY = 1008  # too many awareness ids
    TOO_BIG = 1009  # a message over the size limit (aiohttp closes with it)
    INTERNAL_ERROR = 1011  # a bug (logged)
    SLOW_CONSUMER = 1013  # the client's send queue is full ("try again later")
    NOT_AUTHENTICATED = 4401  # no token, a bad one, an expired one, a disabled user
    FORBIDDEN = 4403  # a write without edit rights; `scaicore:view` missing
    NOT_FOUND = 4404  # no such flow, or no longer visible to the caller
    IDLE = 4408  # nothing received for the idle timeout
    DOCUMENT_TOO_LARGE = 4413  # the live document is at its size limit
    FLOW_FULL = 4429  # the flow has its maximum number of live clients


class LiveClose(Exception):
    """Ends a client's session with `code` and a reason a browser can show."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class LiveSocket(Protocol):
    """What the room needs of a client's connection (api/live_sync.py adapts aiohttp's)."""

    def write(self, frame: bytes) -> None:
        """Queue a whole WebSocket frame without waiting."""

    def buffered_bytes(self) -> int:
        """Bytes queued that the connection has not sent yet."""

    def is_closing(self) -> bool: ...

    async def close(self, code: int, reason: str) -> None:
        """The closing handshake (may wait for the client)."""

    def abort(self) -> None:
        """Drop the connection now."""

    def messages(self) -> AsyncIterator[bytes | str]:
        """The client's messages until it closes."""

    def close_code(self) -> int | None:
        """How the connection closed (the client's code, when it closed first)."""


@dataclass
class LiveCounters:
    """What `/metrics` reports about live editing (all on the event loop thread)."""

    opened: int = 0
    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    slow_consumers: int = 0
    closed: Counter[int] = field(default_factory=Counter)  # by close code


class Outbox:
    """The clients with frames queued, written out once per event-loop iteration."""

    def __init__(self) -> None:
        self._waiting: dict[LiveClient, None] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, client: LiveClient) -> None:
        if not self._waiting:
            if self._loop is None:
                self._loop = asyncio.get_running_loop()
            self._loop.call_soon(self.flush)
        self._waiting[client] = None

    def flush(self) -> None:
        waiting, self._waiting = self._waiting, {}
        for client in waiting:
            client.flush()


@dataclass(eq=False)
class LiveClient:
    socket: LiveSocket
    principal: Principal
    token: str | None  # None: auth disabled (dev mode)
    flow_id: str
    client_id: str
    can_edit: bool
    presence_frames: bool
    viewer: Viewer
    counters: LiveCounters
    outbox: Outbox
    send_queue_bytes: int
    connected_at: float = field(default_factory=time.monotonic)
    last_received: float = field(default_factory=time.monotonic)
    last_sent: float = field(default_factory=time.monotonic)
    awareness_ids: set[int] = field(default_factory=set)  # the states this socket introduced
    updates_applied: int = 0
    bytes_applied: int = 0
    close_code: int | None = None
    closer: asyncio.Task[None] | None = None
    queued: list[bytes] = field(default_factory=list)  # frames not written yet
    queued_bytes: int = 0

    @property
    def closing(self) -> bool:
        return self.close_code is not None

    def send(self, frame: bytes) -> None:
        """Queue a frame for this client, or disconnect it when its queue is full."""
        if self.close_code is not None or self.socket.is_closing():
            return
        if self.queued_bytes + self.socket.buffered_bytes() > self.send_queue_bytes:
            self.counters.slow_consumers += 1
            self.disconnect(CloseCode.SLOW_CONSUMER,
                            "too slow: more than the send queue's limit waiting")
            self.socket.abort()  # it is not reading: a close frame would only queue behind
            self.queued.clear()
            return
        if not self.queued:
            self.outbox.add(self)
        self.queued.append(frame)
        self.queued_bytes += len(frame)
        self.counters.frames_out += 1
        self.counters.bytes_out += len(frame)
        self.last_sent = time.monotonic()

    def flush(self) -> None:
        """Write the queued frames in one go (the Outbox calls this)."""
        queued, self.queued, self.queued_bytes = self.queued, [], 0
        if queued and self.close_code is None and not self.socket.is_closing():
            self.socket.write(queued[0] if len(queued) == 1 else b"".join(queued))

    def disconnect(self, code: int, reason: str) -> None:
        """Close with `code` in the background (at most CLOSE_GRACE_SECONDS, then drop)."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.closer = asyncio.create_task(self._close(code, reason), name="live-close")

    async def _close(self, code: int, reason: str) -> None:
        try:
            async with asyncio.timeout(CLOSE_GRACE_SECONDS):
                await self.socket.close(code, reason)
        except (TimeoutError, ConnectionError):
            pass
        except Exception:  # a close must never raise into nobody's hands
            log.debug("closing a live socket failed", exc_info=True)
        finally:
            if not self.socket.is_closing():
                self.socket.abort()


class Room:
    """One flow's clients and document."""

    def __init__(self, tenant_id: str, flow_id: str, document: LiveDocument) -> None:
        self.tenant_id = tenant_id
        self.flow_id = flow_id
        self.document = document
        self.clients: dict[LiveClient, None] = {}  # insertion-ordered set
        self.awareness: dict[int, yp.AwarenessEntry] = {}  # the live states, by id
        self.awareness_clocks: dict[int, int] = {}  # the last clock of every id seen
        self._awareness_owner: dict[int, LiveClient] = {}
        self.emptied_at: float | None = time.monotonic()

    def broadcast(self, frame: bytes, *, sender: LiveClient | None = None) -> None:
        # `send` never changes `clients` (a client cut off leaves when its reader ends).
        for client in self.clients:
            if client is not sender:
                client.send(frame)

    def broadcast_text(self, text: bytes) -> None:
        frame = text_frame(text)
        for client in self.clients:
            if client.presence_frames:
                client.send(frame)

    # -- joining and leaving ---------------------------------------------------------------
    def join(self, client: LiveClient, welcome: bytes | None) -> None:
        """Admit a client: the welcome (JSON), the box's step 1 to editors (so a client's
        offline edits come back in its step 2; a view-only client is never asked, so any
        change it sends is a write), and the awareness states of the others."""
        self.clients[client] = None
        self.emptied_at = None
        if welcome is not None and client.presence_frames:
            client.send(text_frame(welcome))
        if client.can_edit:
            client.send(binary_frame(yp.sync_step1(self.document.replica.state_vector())))
        if self.awareness:
            client.send(binary_frame(yp.awareness_message(list(self.awareness.values()))))

    def leave(self, client: LiveClient) -> None:
        self.clients.pop(client, None)
        if not self.clients:
            self.emptied_at = time.monotonic()
        gone: list[yp.AwarenessEntry] = []
        for awareness_id in client.awareness_ids:
            if self._awareness_owner.get(awareness_id) is not client:
                continue
            del self._awareness_owner[awareness_id]
            self.awareness.pop(awareness_id, None)
            clock = self.awareness_clocks[awareness_id] + 1
            self.awareness_clocks[awareness_id] = clock
            gone.append(yp.AwarenessEntry(awareness_id, clock, "null"))
        if len(self.awareness_clocks) > MAX_AWARENESS_CLOCKS:
            self.awareness_clocks = {i: c for i, c in self.awareness_clocks.items()
                                     if i in self.awareness}
        if gone and self.clients:
            self.broadcast(binary_frame(yp.awareness_message(gone)))

    # -- messages ----------------------------------------------------------------------------
    def receive(self, client: LiveClient, data: bytes) -> bool:
        """Handle one binary message; True when it changed the document (LiveClose ends the
        client's session)."""
        try:
            message = yp.parse(data)
        except yp.ProtocolError as exc:
            raise LiveClose(CloseCode.INVALID_MESSAGE, f"not a y-websocket message: {exc}"
                            ) from None
        if message.kind == yp.MESSAGE_SYNC:
            return self._sync(client, message, data)
        if message.kind == yp.MESSAGE_AWARENESS:
            self._awareness(client, message.payload)
        elif message.kind == yp.MESSAGE_QUERY_AWARENESS:
            client.send(binary_frame(yp.awareness_message(list(self.awareness.values()))))
        elif message.kind == yp.MESSAGE_AUTH:
            pass  # the box's own message type (permission denied): nothing to relay
        else:
            self._require_edit(client)
            self.broadcast(binary_frame(data), sender=client)
        return False

    @staticmethod
    def _require_edit(client: LiveClient) -> None:
        if not client.can_edit:
            raise LiveClose(CloseCode.FORBIDDEN,
                            "view only: this client may not change the document")

    def _sync(self, client: LiveClient, message: yp.Message, data: bytes) -> bool:
        document = self.document
        if message.step == yp.SYNC_STEP1:
            try:
                missing = document.replica.diff(message.payload)
            except yp.InvalidUpdate as exc:
                raise LiveClose(CloseCode.INVALID_MESSAGE, str(exc)) from None
            client.send(binary_frame(yp.sync_step2(missing)))
            return False
        if message.payload == yp.EMPTY_UPDATE:
            return False
        self._require_edit(client)
        try:
            document.apply(message.payload)
        except yp.InvalidUpdate as exc:
            raise LiveClose(CloseCode.INVALID_MESSAGE, str(exc)) from None
        except DocumentTooLarge as exc:
            raise LiveClose(CloseCode.DOCUMENT_TOO_LARGE, str(exc)) from None
        client.updates_applied += 1
        client.bytes_applied += len(message.payload)
        relayed = data if message.step == yp.SYNC_UPDATE else yp.step2_as_update(data)
        self.broadcast(binary_frame(relayed), sender=client)
        return True

    def _awareness(self, client: LiveClient, payload: bytes) -> None:
        if len(payload) > MAX_AWARENESS_BYTES:
            raise LiveClose(CloseCode.TOO_BIG,
                            f"an awareness update over {MAX_AWARENESS_BYTES} bytes")
        try:
            entries = yp.parse_awareness(payload)
        except yp.ProtocolError as exc:
            raise LiveClose(CloseCode.INVALID_MESSAGE, f"not an awareness update: {exc}"
                            ) from None
        counted: list[yp.AwarenessEntry] = []
        for entry in entries:
            awareness_id = entry.client_id
            known = self.awareness_clocks.get(awareness_id)
            live = awareness_id in self.awareness
            if known is not None and not (known < entry.clock or (
                    known == entry.clock and entry.removed and live)):
                continue  # what the room has already, or older (y-protocols' rule)
            if entry.removed:
                self.awareness.pop(awareness_id, None)
                owner = self._awareness_owner.pop(awareness_id, None)
                if owner is not None:
                    owner.awareness_ids.discard(awareness_id)
            else:
                if not live:
                    if len(client.awareness_ids) >= MAX_AWARENESS_IDS:
                        raise LiveClose(CloseCode.POLICY, f"more than {MAX_AWARENESS_IDS} "
                                                          "awareness ids on one socket")
                    client.awareness_ids.add(awareness_id)
                    self._awareness_owner[awareness_id] = client
                self.awareness[awareness_id] = entry
            self.awareness_clocks[awareness_id] = entry.clock
            counted.append(entry)
        if counted:
            self.broadcast(binary_frame(yp.awareness_message(counted)), sender=client)


async def wait_closed(clients: list[LiveClient]) -> None:
    """Wait for the background closes of `clients` (each bounded by CLOSE_GRACE_SECONDS)."""
    tasks = [c.closer for c in clients if c.closer is not None]
    for task in tasks:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await task
