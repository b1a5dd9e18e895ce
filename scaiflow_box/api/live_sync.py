"""`GET /api/v1/flows/{flow_id}/sync` [upstream path] (SPEC §15): the WebSocket the canvas's
Yjs document syncs through (y-websocket's protocol; services/live_sync.py runs the session).

The token comes as `Authorization: Bearer`, as the `bearer, <token>` subprotocol, or as
`?token=` (what y-websocket sends from its `params`); the request edge reads it,
and a missing or bad one is closed with 4401. Access logs are off and no log line carries a
query string, so the token in the URL is never logged. A browser's `Origin` must be in the
CORS allow-list (cross-site WebSocket hijacking): any other is refused with a 403 before the
upgrade. Non-browser clients send no `Origin` and are not affected.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import WSMsgType, web
from pydantic import Field

from scaiflow_box.api.fields import FlowId
from scaiflow_box.api.presence import ClientId
from scaiflow_box.errors import Forbidden
from scaiflow_box.http.call import Call, Reply, Streamed
from scaiflow_box.http.errors import ErrorCode
from scaiflow_box.http.route import Header, QueryModel, Response, Route
from scaiflow_box.keys import LIVE_SYNC, SETTINGS

# A close frame's reason is at most 123 bytes (125 minus the code).
MAX_REASON_BYTES = 123


class SyncQuery(QueryModel):
    client_id: ClientId | None = Field(
        default=None, description="The canvas's presence client id, so the socket and the "
                                  "heartbeats are one viewer; default: one of its own")
    presence_frames: bool = Field(
        default=True, description="Push presence as JSON text frames (`false` for a client "
                                  "that only understands y-websocket's binary messages)")


class AiohttpLiveSocket:
    """The relay's view of an aiohttp WebSocket: frames are written straight to the
    connection's transport (whose buffer is the client's send queue), everything else goes
    through aiohttp. The socket negotiates no compression, so the relay's frames are valid."""

    def __init__(self, socket: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self._socket = socket
        self._transport = transport

    def write(self, frame: bytes) -> None:
        self._transport.write(frame)

    def buffered_bytes(self) -> int:
        return self._transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self._socket.closed or self._transport.is_closing()

    async def close(self, code: int, reason: str) -> None:
        await self._socket.close(code=code, message=reason.encode()[:MAX_REASON_BYTES])

    def abort(self) -> None:
        self._transport.abort()

    async def messages(self) -> AsyncIterator[bytes | str]:
        async for message in self._socket:
            if message.type is WSMsgType.BINARY or message.type is WSMsgType.TEXT:
                yield message.data

    def close_code(self) -> int | None:
        return self._socket.close_code


def _check_origin(call: Call[None, SyncQuery]) -> None:
    origin = call.header("Origin")
    if origin is not None and origin.rstrip("/") not in call.app[SETTINGS].cors_origins:
        raise Forbidden("this page's origin may not open live-editing sockets",
                        code="origin_not_allowed",
                        fix="Serve the canvas from an origin in SCAIFLOW_CORS_ORIGINS.")


async def live_sync(call: Call[None, SyncQuery], flow_id: FlowId) -> Reply:
    _check_origin(call)
    hub = call.app[LIVE_SYNC]
    limits = hub.limits
    socket = await call.accept_websocket(max_msg_size=limits.max_message_bytes,
                                         heartbeat=limits.ping_seconds, compress=False)
    transport = call.request.transport
    if transport is not None:
        principal = call.principal
        await hub.serve(AiohttpLiveSocket(socket, transport), principal,
                        principal.token or None, flow_id, call.query.client_id,
                        call.query.presence_frames)
    return Reply(101, Streamed(socket))


ORIGIN_NOT_ALLOWED = ErrorCode(403, "origin_not_allowed",
                               "The page's Origin is not in SCAIFLOW_CORS_ORIGINS (refused "
                               "before the upgrade)")
ROUTES = [
    Route("GET", "/api/v1/flows/{flow_id}/sync", live_sync,
          "Live editing: the flow's Yjs document over y-websocket", "presence",
          (Response(101, None, "Switching to the WebSocket protocol"),),
          errors=(ORIGIN_NOT_ALLOWED,), kind="websocket",
          needs="scaicore:view, view ACL (edit to write)",
          query=SyncQuery,
          headers=(Header("Origin", "Checked against SCAIFLOW_CORS_ORIGINS when present"),),
          description="docs/api.md describes the handshake, the messages, the close codes "
                      "and the limits."),
]
