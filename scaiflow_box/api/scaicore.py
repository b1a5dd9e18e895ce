"""ScaiCore proxy [upstream] (SPEC §10): events, checkpoints, invoke, and a live event stream.

Upstream cursors are ScaiGrid's own and pass through unchanged (they are not the appliance's
signed cursors); payloads pass through verbatim.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from scaiflow_box.api.error_codes import (
    CREDENTIALS_UNREADABLE,
    MISSING_CREDENTIALS,
    MISSING_PERMISSION,
    SCAIGRID_NOT_CONFIGURED,
)
from scaiflow_box.api.examples import invoke_example, resolve_example
from scaiflow_box.api.fields import CheckpointId, CoreId
from scaiflow_box.api.lookups import UPSTREAM_ERRORS
from scaiflow_box.errors import InvalidInput
from scaiflow_box.http.call import Call, RawJson, Reply, Streamed, ok
from scaiflow_box.http.cursors import CursorCodec
from scaiflow_box.http.route import Header, QueryModel, RequestModel, Response, Route
from scaiflow_box.keys import CURSORS, LOOKUPS
from scaiflow_box.services.event_stream import CLOSED, RESUME_FAILED, Position, StreamItem

TAG = "scaicore"
HEARTBEAT_SECONDS = 15.0
LIVENESS_CHECK_SECONDS = 1.0
UpstreamCursor = str | None


class EventsQuery(QueryModel):
    core_id: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: UpstreamCursor = Field(default=None, max_length=1024,
                                   description="ScaiGrid's `next_cursor`, passed through")


class CheckpointsQuery(QueryModel):
    core_id: str | None = Field(default=None, max_length=200)
    status: Literal["pending", "resolved", "failed"] = "pending"
    limit: int = Field(default=50, ge=1, le=500)
    cursor: UpstreamCursor = Field(default=None, max_length=1024,
                                   description="ScaiGrid's `next_cursor`, passed through")


# A stream ends after `max_seconds`, which EventSource does not mind (it reconnects) but a
# client that reads the whole body before returning (a generated one) waits for: bounded so
# that no call waits long by default; such a client passes a small value and a read timeout
# above it (docs/api.md).
STREAM_DEFAULT_SECONDS = 60
STREAM_MAX_SECONDS = 3600


class StreamQuery(QueryModel):
    core_id: str | None = Field(default=None, max_length=200)
    max_seconds: float = Field(
        default=STREAM_DEFAULT_SECONDS, ge=0, le=STREAM_MAX_SECONDS,
        description="The stream ends after this many seconds (0: at once, after the "
                    "subscription is set up); EventSource reconnects. A client that reads the "
                    "whole answer before returning (a generated client) waits this long: pass "
                    "a small value and a read timeout above it.")


class ResolveRequest(RequestModel):
    resolution: Any = Field(description="Any JSON: the decision (e.g. `\"approve\"`)")
    comment: str | None = Field(default=None, max_length=10_000)


class InvokeRequest(RequestModel):
    input: dict[str, Any] = Field(description="The entry node's input")


class ScaiCoreEvent(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    core_id: str | None = None
    timestamp: str | None = None
    payload: Any = None


class EventPage(BaseModel):
    events: list[ScaiCoreEvent]
    next_cursor: str | None


class EventsAnswer(BaseModel):
    data: EventPage


class Checkpoint(BaseModel):
    """A ScaiCore checkpoint as ScaiGrid lists it: the fields known, everything else kept."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    core_id: str | None = None
    invocation_id: str | None = None
    node_id: str | None = Field(default=None, description="The checkpoint's node (block)")
    type: str | None = Field(default=None, description="`approval` unless the node says")
    status: str | None = Field(default=None, description="`pending`, `resolved` or `failed`")
    created_at: str | None = None
    resolution: Any = Field(default=None, description="The decision, once resolved")
    comment: str | None = None
    resolved_at: str | None = None


class CheckpointPage(BaseModel):
    checkpoints: list[Checkpoint]
    next_cursor: str | None


class CheckpointsAnswer(BaseModel):
    data: CheckpointPage


class Invocation(BaseModel):
    """What ScaiGrid says of an invocation: completed (with its `output`), waiting at a
    checkpoint (`checkpoint_id`) or failed (`error`)."""

    model_config = ConfigDict(extra="allow")
    invocation_id: str | None = None
    core_id: str | None = None
    status: str | None = Field(default=None,
                               description="`completed`, `waiting` or `failed`")
    output: Any = None
    checkpoint_id: str | None = Field(default=None,
                                      description="The checkpoint it waits at (`waiting`)")
    error: Any = Field(default=None, description="Why it failed (`failed`)")


class InvokeAnswer(BaseModel):
    """ScaiGrid's answer to an invocation, passed through verbatim: its envelope
    (`{"status": "ok", "data": ...}`) with the fields known described, any others kept."""

    model_config = ConfigDict(extra="allow")
    status: str | None = Field(default=None, description="`ok`")
    data: Invocation | None = None


class ResolveAnswer(BaseModel):
    """ScaiGrid's answer to a resolution, passed through verbatim: the resolved checkpoint
    in its envelope (`{"status": "ok", "data": ...}`)."""

    model_config = ConfigDict(extra="allow")
    status: str | None = Field(default=None, description="`ok`")
    data: Checkpoint | None = None


async def list_events(call: Call[None, EventsQuery]) -> Reply:
    query = call.query
    events, cursor = await call.app[LOOKUPS].events(
        call.principal, core_id=query.core_id, limit=query.limit, cursor=query.cursor or None)
    return ok(EventsAnswer(data=EventPage(events=[ScaiCoreEvent.model_validate(e) for e in events],
                                          next_cursor=cursor)))


async def list_checkpoints(call: Call[None, CheckpointsQuery]) -> Reply:
    query = call.query
    checkpoints, cursor = await call.app[LOOKUPS].checkpoints(
        call.principal, core_id=query.core_id, status=query.status, limit=query.limit,
        cursor=query.cursor or None)
    # Checkpoints pass through as ScaiGrid sent them (the document describes their fields).
    return ok(RawJson(orjson.dumps({"data": {"checkpoints": checkpoints, "next_cursor": cursor}}),
                      CheckpointsAnswer))


def _verbatim(value: Any, model: type[BaseModel]) -> RawJson:
    """ScaiGrid's answer as it came (an answer that is not an object is wrapped as `data`):
    the document describes its known fields, the appliance does not rewrite them."""
    return RawJson(orjson.dumps(value if isinstance(value, dict) else {"data": value}), model)


async def resolve_checkpoint(call: Call[ResolveRequest, None],
                             checkpoint_id: CheckpointId) -> Reply:
    answer = await call.app[LOOKUPS].resolve_checkpoint(
        call.principal, checkpoint_id, resolution=call.body.resolution,
        comment=call.body.comment, request_id=call.request_id)
    return ok(_verbatim(answer, ResolveAnswer))


async def invoke_core(call: Call[InvokeRequest, None], core_id: CoreId) -> Reply:
    answer = await call.app[LOOKUPS].invoke(call.principal, core_id,
                                            call.body.input, call.request_id)
    return ok(_verbatim(answer, InvokeAnswer))


# EventSource waits this long before it reconnects (after `max_seconds`, or a dropped
# connection), then sends the last `id:` it saw as `Last-Event-ID`.
RETRY_MILLISECONDS = 3000


class EventIds:
    """SSE ids of one stream: an event's position in ScaiGrid's log, signed like the
    appliance's cursors and bound to the tenant and the `core_id` filter, so a client can only
    resume the stream it read (a forged or foreign id is not followed)."""

    def __init__(self, codec: CursorCodec, tenant_id: str, core_id: str | None) -> None:
        self.codec = codec
        self.context = f"event_stream|{tenant_id}|{core_id or ''}"

    def encode(self, position: Position) -> str:
        return self.codec.encode(self.context, list(position))

    def decode(self, last_event_id: str) -> Position | None:
        """The position an id names; None for an id this stream did not issue."""
        try:
            cursor, index = self.codec.decode(self.context, last_event_id.strip(), 2)
        except InvalidInput:
            return None
        if not (cursor is None or isinstance(cursor, str)) or type(index) is not int:
            return None
        return cursor, index


def sse_frame(item: StreamItem, ids: EventIds | None = None) -> bytes:
    event = item.event.replace("\n", " ").replace("\r", " ")
    frame = b"event: " + event.encode() + b"\ndata: " + orjson.dumps(item.data) + b"\n\n"
    if ids is not None and item.position is not None:
        frame = b"id: " + ids.encode(item.position).encode() + b"\n" + frame
    return frame


async def _pump(request: web.Request, response: web.StreamResponse, next_item: Any,
                deadline: float, ids: EventIds) -> None:
    loop = asyncio.get_running_loop()
    last_write = loop.time()
    while loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return  # the client went away: stop (the poller stops with its last reader)
        try:
            item: StreamItem = await asyncio.wait_for(next_item(), LIVENESS_CHECK_SECONDS)
        except TimeoutError:
            if loop.time() - last_write >= HEARTBEAT_SECONDS:
                await response.write(b": keepalive\n\n")
                last_write = loop.time()
            continue
        await response.write(sse_frame(item, ids))
        last_write = loop.time()
        if item is CLOSED:
            return


LAST_EVENT_ID = Header(
    "Last-Event-ID", "The `id:` of the last event received (EventSource sends it when it "
    "reconnects): the stream starts with the events after it. An id this stream did not "
    "issue gets a `resume_failed` event, then new events.")


async def event_stream(call: Call[None, StreamQuery]) -> Reply:
    ids = EventIds(call.app[CURSORS], call.principal.tenant_id, call.query.core_id)
    last_event_id = call.header(LAST_EVENT_ID.name)
    resume = ids.decode(last_event_id) if last_event_id else None
    subscription = await call.app[LOOKUPS].subscribe(call.principal, call.query.core_id,
                                                     resume)
    response = web.StreamResponse(status=200, headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no"})
    try:
        await call.prepare_stream(response)
        await response.write(b": connected\nretry: %d\n\n" % RETRY_MILLISECONDS)
        if last_event_id and resume is None:
            await response.write(sse_frame(RESUME_FAILED))
        deadline = asyncio.get_running_loop().time() + call.query.max_seconds
        await _pump(call.request, response, subscription.get, deadline, ids)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        subscription.close()
    return Reply(200, Streamed(response))


ROUTES = [
    Route("GET", "/api/v1/scaicore/events", list_events, "ScaiCore runtime events", TAG,
          (Response(200, EventsAnswer, "Payloads verbatim; `next_cursor` is ScaiGrid's"),),
          errors=UPSTREAM_ERRORS, needs="scaicore:view", query=EventsQuery),
    Route("GET", "/api/v1/scaicore/events/stream", event_stream,
          "New ScaiCore events as Server-Sent Events", TAG,
          (Response(200, None, "`id: <event id>` / `event: <type>` / `data: <event JSON>` "
                               "frames; `upstream_error` when ScaiGrid fails; `retry:` once; "
                               "comments as heartbeats",
                    content_type="text/event-stream"),),
          errors=(MISSING_PERMISSION, MISSING_CREDENTIALS, CREDENTIALS_UNREADABLE,
                  SCAIGRID_NOT_CONFIGURED), needs="scaicore:view", query=StreamQuery,
          token_in_query=True, headers=(LAST_EVENT_ID,),
          description="Authenticate with `Authorization: Bearer` or, for EventSource, "
                      "`?token=`. Subscribers that share a tenant, a credential and a filter "
                      "share one upstream poll. Each ScaiCore event carries an `id:`; a "
                      "client that reconnects with `Last-Event-ID` gets the events after "
                      "that one, none missed and none twice."),
    Route("GET", "/api/v1/scaicore/checkpoints", list_checkpoints, "ScaiCore checkpoints",
          TAG, (Response(200, CheckpointsAnswer, "Checkpoints with the given status"),),
          errors=UPSTREAM_ERRORS, needs="scaicore:view", query=CheckpointsQuery),
    Route("POST", "/api/v1/scaicore/checkpoints/{checkpoint_id}/resolve", resolve_checkpoint,
          "Resolve a checkpoint", TAG,
          (Response(200, ResolveAnswer, "ScaiGrid's answer, verbatim"),),
          errors=UPSTREAM_ERRORS, needs="scaicore:manage", body=ResolveRequest,
          body_example=resolve_example),
    Route("POST", "/api/v1/scaicore/cores/{core_id}/invoke", invoke_core, "Invoke a core", TAG,
          (Response(200, InvokeAnswer, "ScaiGrid's answer, verbatim"),),
          errors=UPSTREAM_ERRORS, needs="scaicore:manage", body=InvokeRequest,
          body_example=invoke_example),
]
