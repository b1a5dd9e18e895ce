"""`/api/v1/flows/{flow_id}/presence` (SPEC §15): who else is looking at a flow; and the
operator's view of live editing, `GET /api/v1/admin/live-editing`."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, Field

from scaiflow_box.api.error_codes import FORBIDDEN, MISSING_PERMISSION
from scaiflow_box.api.examples import heartbeat_example
from scaiflow_box.api.fields import FlowId, Timestamp
from scaiflow_box.http.call import NO_CONTENT, Call, Reply, ok
from scaiflow_box.http.errors import ErrorCode
from scaiflow_box.http.route import QueryModel, RequestModel, Response, Route
from scaiflow_box.keys import LIVE_SYNC, PRESENCE
from scaiflow_box.services.presence import MAX_VIEWERS_PER_FLOW

TAG = "presence"
MAX_STATE_BYTES = 4096
CLIENT_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,100}$"

ClientId = Annotated[str, Field(
    min_length=1, max_length=100, pattern=CLIENT_ID_PATTERN,
    description="Chosen by the client, one per browser tab (e.g. a UUID)")]


def _small_state(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(orjson.dumps(value)) > MAX_STATE_BYTES:
        raise ValueError(f"must be at most {MAX_STATE_BYTES} bytes as JSON")
    return value


class Heartbeat(RequestModel):
    client_id: ClientId
    state: Annotated[dict[str, Any] | None, AfterValidator(_small_state)] = Field(
        default=None, description="Anything the canvas shares (selection, cursor); at most "
                                  f"{MAX_STATE_BYTES} bytes as JSON; absent keeps the last one")


class LeaveQuery(QueryModel):
    client_id: ClientId


class Viewer(BaseModel):
    user_id: str
    display_name: str | None
    client_id: str
    can_edit: bool = Field(description="Whether this viewer may edit (PUT) the flow")
    state: dict[str, Any]
    last_seen: Timestamp


class Viewers(BaseModel):
    viewers: list[Viewer]


class LiveFlow(BaseModel):
    flow_id: str
    tenant_id: str
    name: str | None
    connections: int = Field(description="Open live-editing sockets")
    editors: int = Field(description="Sockets that may change the document")
    document_bytes: int | None = Field(
        description="The live document's stored size; null when no socket has it open")
    viewers: list[Viewer]


class LiveEditing(BaseModel):
    flows: list[LiveFlow]


async def heartbeat(call: Call[Heartbeat, None], flow_id: FlowId) -> Reply:
    viewers = await call.app[PRESENCE].heartbeat(call.principal, flow_id,
                                           call.body.client_id, call.body.state)
    return ok(Viewers(viewers=[Viewer(**v) for v in viewers]))


async def list_viewers(call: Call[None, None], flow_id: FlowId) -> Reply:
    viewers = await call.app[PRESENCE].list(call.principal, flow_id)
    return ok(Viewers(viewers=[Viewer(**v) for v in viewers]))


async def leave(call: Call[None, LeaveQuery], flow_id: FlowId) -> Reply:
    await call.app[PRESENCE].leave(call.principal, flow_id, call.query.client_id)
    return NO_CONTENT


async def live_editing(call: Call[None, None]) -> Reply:
    flows = await call.app[LIVE_SYNC].overview(call.principal)
    return ok(LiveEditing(flows=[LiveFlow(**flow) for flow in flows]))


PATH = "/api/v1/flows/{flow_id}/presence"
TOO_MANY_VIEWERS = ErrorCode(429, "too_many_viewers",
                             f"The flow has {MAX_VIEWERS_PER_FLOW} viewers already (with "
                             "`Retry-After`)")
ROUTES = [
    Route("POST", PATH, heartbeat, "Heartbeat: I am viewing this flow", TAG,
          (Response(200, Viewers, "Everyone viewing the flow, the caller included"),),
          errors=(MISSING_PERMISSION, TOO_MANY_VIEWERS), needs="scaicore:view, view ACL",
          body=Heartbeat, body_example=heartbeat_example,
          description="A viewer expires 30 s after its last heartbeat "
                      "(`SCAIFLOW_PRESENCE_EXPIRY_SECONDS`). Presence is in memory: a restart "
                      "forgets it."),
    Route("GET", PATH, list_viewers, "Who is viewing this flow", TAG,
          (Response(200, Viewers, "Everyone viewing the flow"),),
          errors=(MISSING_PERMISSION,), needs="scaicore:view, view ACL",
          description="Heartbeat viewers and the clients of live-editing sockets."),
    Route("DELETE", PATH, leave, "Leave: I stopped viewing this flow", TAG,
          (Response(204, None, "Gone (also when it was not there)"),),
          errors=(MISSING_PERMISSION,), needs="scaicore:view, view ACL", query=LeaveQuery,
          description="Removes the caller's own viewer with this client id; a live-editing "
                      "socket of the same client keeps it listed until the socket closes."),
    Route("GET", "/api/v1/admin/live-editing", live_editing,
          "Who is editing which flow, live", "admin",
          (Response(200, LiveEditing, "Flows with viewers or live-editing sockets on this "
                                      "process"),),
          errors=(FORBIDDEN,), needs="tenant_admin or super_admin",
          description="Super admins see every tenant; tenant admins their own."),
]
