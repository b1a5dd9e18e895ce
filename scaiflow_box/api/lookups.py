"""Lookups [upstream] (SPEC §9): read-only ScaiGrid proxies for the canvas's pickers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from scaiflow_box.api.error_codes import (
    FORBIDDEN,
    MISSING_PERMISSION,
    SCAIGRID_CALL,
)
from scaiflow_box.api.fields import ScopeId
from scaiflow_box.http.call import Call, Reply, ok
from scaiflow_box.http.route import Response, Route
from scaiflow_box.keys import LOOKUPS

TAG = "lookups"
UPSTREAM_ERRORS = (MISSING_PERMISSION, *SCAIGRID_CALL)


class Open(BaseModel):
    """ScaiGrid objects pass through with the documented fields and whatever else they carry."""

    model_config = ConfigDict(extra="allow")


class ScopeInfo(Open):
    id: str
    slug: str
    display_name: str | None = None
    description: str | None = None


class QueueInfo(Open):
    id: str
    scope_id: str | None = None
    slug: str
    display_name: str | None = None
    consumer_mode: str | None = None
    max_retries: int | None = None


class BunkerInfo(Open):
    bunker_id: str
    image_ref: str | None = None
    lifecycle: str | None = None
    status: str | None = None


class ModelInfo(Open):
    slug: str
    display_name: str | None = None
    modality: str | None = None
    context_window: int | None = None
    max_output_tokens: int | None = None


class ScopeInfoList(BaseModel):
    data: list[ScopeInfo]


class QueueInfoList(BaseModel):
    data: list[QueueInfo]


class BunkerInfoList(BaseModel):
    data: list[BunkerInfo]


class ModelInfoList(BaseModel):
    data: list[ModelInfo]


async def list_scopes(call: Call[None, None]) -> Reply:
    scopes = await call.app[LOOKUPS].scopes(call.principal)
    return ok(ScopeInfoList(data=[ScopeInfo.model_validate(s) for s in scopes]))


async def list_queues(call: Call[None, None], scope_id: ScopeId) -> Reply:
    queues = await call.app[LOOKUPS].queues(call.principal, scope_id)
    return ok(QueueInfoList(data=[QueueInfo.model_validate(q) for q in queues]))


async def list_bunkers(call: Call[None, None]) -> Reply:
    bunkers = await call.app[LOOKUPS].bunkers(call.principal)
    return ok(BunkerInfoList(data=[BunkerInfo.model_validate(b) for b in bunkers]))


async def list_models(call: Call[None, None]) -> Reply:
    models = await call.app[LOOKUPS].models(call.principal)
    return ok(ModelInfoList(data=[ModelInfo.model_validate(m) for m in models]))


ROUTES = [
    Route("GET", "/api/v1/scaiqueue/scopes", list_scopes, "ScaiQueue scopes", TAG,
          (Response(200, ScopeInfoList, "The tenant's scopes on ScaiGrid"),),
          errors=(*UPSTREAM_ERRORS, FORBIDDEN), needs="scaicore:view",
          acting_tenant=True),
    Route("GET", "/api/v1/scaiqueue/scopes/{scope_id}/queues", list_queues,
          "Queues of a ScaiQueue scope", TAG, (Response(200, QueueInfoList, "The scope's queues"),),
          errors=(*UPSTREAM_ERRORS, FORBIDDEN), needs="scaicore:view",
          acting_tenant=True),
    Route("GET", "/api/v1/scaibunker/bunkers", list_bunkers, "Active BunkerInfo bunkers", TAG,
          (Response(200, BunkerInfoList, "Only active bunkers"),),
          errors=(*UPSTREAM_ERRORS, FORBIDDEN), needs="scaicore:view",
          acting_tenant=True),
    Route("GET", "/api/v1/scaigrid/models", list_models, "Models on ScaiGrid", TAG,
          (Response(200, ModelInfoList, "Normalized from ScaiGrid's and OpenAI's list envelopes"),),
          errors=(*UPSTREAM_ERRORS, FORBIDDEN), needs="scaicore:view",
          acting_tenant=True),
]
