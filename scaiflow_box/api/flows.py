"""`/api/v1/flows` (SPEC §3): thin handlers (parse → one service call → serialize)."""

from __future__ import annotations

from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from scaiflow_box.api.error_codes import (
    FORBIDDEN,
    MISSING_PERMISSION,
    VERSION_CONFLICT,
)
from scaiflow_box.api.examples import flow_create_example, flow_update_example
from scaiflow_box.api.fields import (
    Cursor,
    Description,
    DisplayName,
    FlowContentIn,
    FlowContentOut,
    FlowId,
    Limit,
    Timestamp,
    Version,
    VersionParam,
)
from scaiflow_box.http.call import NO_CONTENT, Call, RawJson, Reply, ok
from scaiflow_box.http.parsing import none_match_fails, parse_if_match
from scaiflow_box.http.route import (
    FLOW_BODY_LIMIT,
    Header,
    Link,
    QueryModel,
    RequestModel,
    Response,
    Route,
)
from scaiflow_box.keys import FLOWS
from scaiflow_box.services.flows import FlowDetail as StoredFlow

TAG = "flows"


# -- request models ----------------------------------------------------------------------
class FlowCreate(RequestModel):
    name: DisplayName
    description: Description = ""
    content: FlowContentIn


class FlowUpdate(RequestModel):
    """Partial: content present stores a new patch version; name/description alone keep the
    version (the ETag moves)."""

    name: DisplayName | None = None
    description: Description | None = None
    content: FlowContentIn | None = None


class FlowListQuery(QueryModel):
    search: str | None = Field(default=None, max_length=200,
                               description="Case-insensitive substring of the name")
    limit: Limit = 100
    cursor: Cursor = None


class PageQuery(QueryModel):
    limit: Limit = 100
    cursor: Cursor = None


class DiffQuery(QueryModel):
    against: str | None = Field(default=None, max_length=64,
                                description="The version to compare with (default: the "
                                            "previous one)")


# -- response models ---------------------------------------------------------------------
class FlowSummary(BaseModel):
    id: str
    name: str
    description: str
    owner_id: str
    tenant_id: str
    version: Version
    created_at: Timestamp
    updated_at: Timestamp


class FlowDetail(FlowSummary):
    content: FlowContentOut


class FlowList(BaseModel):
    items: list[FlowSummary]
    total: int
    next_cursor: str | None


class VersionSummary(BaseModel):
    version: Version
    created_at: Timestamp
    created_by: str
    sha256: str
    size_bytes: int


class VersionList(BaseModel):
    items: list[VersionSummary]
    next_cursor: str | None


class VersionContent(BaseModel):
    version: Version
    created_at: Timestamp
    created_by: str
    content: FlowContentOut


class ChangedItem(BaseModel):
    id: str
    fields: list[str]


class CollectionDiff(BaseModel):
    added: list[str]
    removed: list[str]
    changed: list[ChangedItem]


class FlowDiff(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    from_: Version = Field(alias="from")
    to: Version
    nodes: CollectionDiff
    edges: CollectionDiff
    config_changed: bool
    metadata_changed: bool
    other_changed: list[str] = Field(description="Other top-level keys that differ")


class Deployment(BaseModel):
    id: str
    flow_id: str
    version: Version
    core_id: str | None
    published_slug: str | None
    status: Literal["succeeded", "failed"]
    error: str | None
    deployed_by: str
    created_at: Timestamp
    duration_ms: int


class DeploymentList(BaseModel):
    items: list[Deployment]
    next_cursor: str | None


# -- headers and links -------------------------------------------------------------------
IF_MATCH = Header("If-Match", "Act only if the flow's current ETag is one of these "
                  "(whole-tag comparison; `*` matches any). Without it the change proceeds.",
                  schema={"type": "string", "maxLength": 1024})
IF_NONE_MATCH = Header("If-None-Match", "Answer 304 Not Modified (no body) if the flow's current "
                       "ETag is one of these (weak comparison: `W/\"1.0.3\"` matches "
                       "`\"1.0.3\"`; `*` matches any): a polling client pays nothing while "
                       "the flow does not change.",
                       schema={"type": "string", "maxLength": 1024})
ETAG = Header("ETag", 'The flow\'s entity tag: `"<version>"`, or `"<version>-<n>"` after n '
              "metadata-only changes", required=True)
FLOW_ID = "$response.body#/id"
# A write that follows a read sends the ETag it read, so it fails (412) if the flow moved on.
FRESH_WRITE = {"flow_id": FLOW_ID, "header.If-Match": "$response.header.ETag"}
FLOW_LINKS = (
    Link("GetFlow", "get_flow", {"flow_id": FLOW_ID}),
    Link("UpdateFlow", "update_flow", FRESH_WRITE),
    Link("DeleteFlow", "delete_flow", FRESH_WRITE),
    Link("ListVersions", "list_versions", {"flow_id": FLOW_ID}),
    Link("GetVersion", "get_version", {"flow_id": FLOW_ID, "version": "$response.body#/version"}),
    Link("DiffVersion", "diff_version",
         {"flow_id": FLOW_ID, "version": "$response.body#/version"}),
    Link("ListAcls", "list_acls", {"flow_id": FLOW_ID}),
    Link("ListDeployments", "list_deployments", {"flow_id": FLOW_ID}),
)


def detail_reply(detail: StoredFlow, status: int = 200) -> Reply:
    return Reply(status, RawJson(detail.body, FlowDetail), {"ETag": detail.etag})


# -- handlers ----------------------------------------------------------------------------
async def list_flows(call: Call[None, FlowListQuery]) -> Reply:
    cursor = call.cursor(2)
    page = await call.app[FLOWS].list_visible(
        call.principal, search=call.query.search or None, limit=call.query.limit,
        after=(str(cursor[0]), str(cursor[1])) if cursor else None)
    # The items are the summaries SQLite stores (migration 008): joined, not re-serialized.
    next_cursor = call.next_cursor(*page.last_key) if page.last_key else None
    body = "".join(('{"items":[', page.items_json, '],"total":', str(page.total),
                    ',"next_cursor":', orjson.dumps(next_cursor).decode(), "}")).encode()
    return ok(RawJson(body, FlowList))


async def create_flow(call: Call[FlowCreate, None]) -> Reply:
    detail = await call.app[FLOWS].create(
        call.principal, name=call.body.name, description=call.body.description,
        content=call.body.content, request_id=call.request_id)
    return detail_reply(detail, status=201)


async def get_flow(call: Call[None, None], flow_id: FlowId) -> Reply:
    detail = await call.app[FLOWS].get(call.principal, flow_id)
    if none_match_fails(call.header("If-None-Match"), detail.etag):
        return Reply(304, None, {"ETag": detail.etag})
    return detail_reply(detail)


async def update_flow(call: Call[FlowUpdate, None], flow_id: FlowId) -> Reply:
    body = call.body
    detail = await call.app[FLOWS].update(
        call.principal, flow_id, name=body.name, description=body.description,
        content=body.content, if_match=parse_if_match(call.header("If-Match")),
        request_id=call.request_id)
    return detail_reply(detail)


async def delete_flow(call: Call[None, None], flow_id: FlowId) -> Reply:
    await call.app[FLOWS].delete(call.principal, flow_id,
                                 if_match=parse_if_match(call.header("If-Match")),
                                 request_id=call.request_id)
    return NO_CONTENT


async def restore_flow(call: Call[None, None], flow_id: FlowId) -> Reply:
    return detail_reply(await call.app[FLOWS].restore(call.principal, flow_id,
                                                      request_id=call.request_id))


async def list_versions(call: Call[None, PageQuery], flow_id: FlowId) -> Reply:
    cursor = call.cursor(1)
    page = await call.app[FLOWS].versions(call.principal, flow_id,
                                    before_seq=int(cursor[0]) if cursor else None,
                                    limit=call.query.limit)
    return ok(VersionList(items=[VersionSummary(**item) for item in page.items],
                          next_cursor=call.next_cursor(*page.next_key) if page.next_key
                          else None))


async def get_version(call: Call[None, None], flow_id: FlowId, version: VersionParam) -> Reply:
    body = await call.app[FLOWS].version(call.principal, flow_id, version)
    return ok(RawJson(body, VersionContent))


async def diff_version(call: Call[None, DiffQuery],
                       flow_id: FlowId, version: VersionParam) -> Reply:
    diff = await call.app[FLOWS].diff(call.principal, flow_id, version,
                                call.query.against or None)
    return ok(FlowDiff.model_validate(diff))


async def restore_version(call: Call[None, None], flow_id: FlowId, version: VersionParam) -> Reply:
    detail = await call.app[FLOWS].restore_version(
        call.principal, flow_id, version, request_id=call.request_id)
    return detail_reply(detail)


async def list_deployments(call: Call[None, PageQuery], flow_id: FlowId) -> Reply:
    cursor = call.cursor(2)
    page = await call.app[FLOWS].deployments(
        call.principal, flow_id, limit=call.query.limit,
        before=(str(cursor[0]), str(cursor[1])) if cursor else None)
    return ok(DeploymentList(items=[Deployment(**item) for item in page.items],
                             next_cursor=call.next_cursor(*page.next_key) if page.next_key
                             else None))


# -- routes ------------------------------------------------------------------------------
BASE = "/api/v1/flows"
FLOW = BASE + "/{flow_id}"
DETAIL = Response(200, FlowDetail, "The flow with its content", headers=(ETAG,),
                  links=FLOW_LINKS)

ROUTES = [
    Route("GET", BASE, list_flows, "List the flows the caller can view", TAG,
          (Response(200, FlowList, "Newest first; `total` counts every match (not only "
                             "this page)"),),
          errors=(MISSING_PERMISSION,), needs="scaicore:view", query=FlowListQuery),
    Route("POST", BASE, create_flow, "Create a flow (the caller becomes its owner)", TAG,
          (Response(201, FlowDetail, "Created at version 1.0.0", headers=(ETAG,),
                    links=FLOW_LINKS),),
          errors=(MISSING_PERMISSION,), needs="scaicore:manage", body=FlowCreate,
          body_limit=FLOW_BODY_LIMIT,
          body_example=flow_create_example),
    Route("GET", FLOW, get_flow, "Get a flow with its content and ETag", TAG,
          (DETAIL, Response(304, None, "Not modified: `If-None-Match` names the current ETag",
                            headers=(ETAG,))),
          errors=(MISSING_PERMISSION, FORBIDDEN), needs="view ACL", headers=(IF_NONE_MATCH,),
          acting_tenant=True),
    Route("PUT", FLOW, update_flow,
          "Partial update; new content stores a new patch version", TAG, (DETAIL,),
          errors=(MISSING_PERMISSION, FORBIDDEN, VERSION_CONFLICT), needs="edit ACL",
          body=FlowUpdate, body_limit=FLOW_BODY_LIMIT, headers=(IF_MATCH,),
          body_example=flow_update_example, acting_tenant=True),
    Route("DELETE", FLOW, delete_flow, "Soft-delete a flow (versions are kept)", TAG,
          (Response(204, None, "Deleted"),),
          errors=(MISSING_PERMISSION, FORBIDDEN, VERSION_CONFLICT), needs="admin ACL",
          headers=(IF_MATCH,), acting_tenant=True),
    Route("POST", FLOW + "/restore", restore_flow, "Undo a soft delete", TAG, (DETAIL,),
          errors=(MISSING_PERMISSION, FORBIDDEN), needs="tenant_admin or super_admin",
          acting_tenant=True),
    Route("GET", FLOW + "/versions", list_versions, "List versions, newest first", TAG,
          (Response(200, VersionList, "Newest first"),),
          errors=(MISSING_PERMISSION, FORBIDDEN), needs="view ACL", query=PageQuery,
          acting_tenant=True),
    Route("GET", FLOW + "/versions/{version}", get_version, "Get one version's content", TAG,
          (Response(200, VersionContent, "The version as stored"),),
          errors=(MISSING_PERMISSION, FORBIDDEN), needs="view ACL", acting_tenant=True),
    Route("GET", FLOW + "/versions/{version}/diff", diff_version,
          "Structured diff against another version (default: the previous)", TAG,
          (Response(200, FlowDiff, "What changed from `from` to `to`"),),
          errors=(MISSING_PERMISSION, FORBIDDEN), needs="view ACL", query=DiffQuery,
          acting_tenant=True),
    Route("POST", FLOW + "/versions/{version}/restore", restore_version,
          "Save an old version's content as a new patch version", TAG, (DETAIL,),
          errors=(MISSING_PERMISSION, FORBIDDEN), needs="edit ACL", acting_tenant=True),
    Route("GET", FLOW + "/deployments", list_deployments, "List deployments, newest first", TAG,
          (Response(200, DeploymentList, "Newest first"),),
          errors=(MISSING_PERMISSION, FORBIDDEN), needs="view ACL", query=PageQuery,
          acting_tenant=True),
]
