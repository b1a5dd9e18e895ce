"""`/api/v1/flows`: thin handlers (parse → one service call → serialize), SPEC §3."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from scaiflow_box.http.errors import ApiError, json_response
from scaiflow_box.http.middlewares import principal_of, request_id_of
from scaiflow_box.http.parsing import (
    FLOW_BODY_LIMIT,
    RequestModel,
    decode_cursor,
    encode_cursor,
    if_match,
    parse_body,
    query_limit,
)
from scaiflow_box.http.routes import Route
from scaiflow_box.keys import FLOWS
from scaiflow_box.services.flows import FlowDetail

NAME = Field(min_length=1, max_length=200)
DESCRIPTION_MAX = 10_000


class FlowCreate(RequestModel):
    name: str = NAME
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    content: dict[str, Any]


class FlowUpdate(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    content: dict[str, Any] | None = None


def detail_response(detail: FlowDetail, status: int = 200) -> web.Response:
    return web.Response(body=detail.body, status=status, content_type="application/json",
                        headers={"ETag": detail.etag})


def _flow_id(request: web.Request) -> str:
    return request.match_info["flow_id"]


async def list_flows(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_view()
    limit = query_limit(request, 100)
    cursor = decode_cursor(request, 2)
    search = request.query.get("search") or None
    if search is not None and len(search) > 200:
        raise ApiError(400, "search_too_long", "search is limited to 200 characters")
    page = await request.app[FLOWS].list_visible(
        principal, search=search, limit=limit,
        after=(str(cursor[0]), str(cursor[1])) if cursor else None,
    )
    if page["next_cursor"] is not None:
        page["next_cursor"] = encode_cursor(*page["next_cursor"])
    return json_response(page)


async def create_flow(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_manage()
    body = await parse_body(request, FlowCreate, limit=FLOW_BODY_LIMIT)
    detail = await request.app[FLOWS].create(
        principal, name=body.name, description=body.description, content=body.content,
        request_id=request_id_of(request),
    )
    return detail_response(detail, status=201)


async def get_flow(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_view()
    return detail_response(request.app[FLOWS].get(principal, _flow_id(request)))


async def update_flow(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_manage()
    body = await parse_body(request, FlowUpdate, limit=FLOW_BODY_LIMIT)
    detail = await request.app[FLOWS].update(
        principal, _flow_id(request), name=body.name, description=body.description,
        content=body.content, expected_version=if_match(request),
        request_id=request_id_of(request),
    )
    return detail_response(detail)


async def delete_flow(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_manage()
    await request.app[FLOWS].delete(principal, _flow_id(request),
                                    expected_version=if_match(request),
                                    request_id=request_id_of(request))
    return web.Response(status=204)


async def restore_flow(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_manage()
    detail = await request.app[FLOWS].restore(principal, _flow_id(request),
                                              request_id=request_id_of(request))
    return detail_response(detail)


async def list_versions(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_view()
    limit = query_limit(request, 100)
    cursor = decode_cursor(request, 1)
    before = cursor[0] if cursor else None
    if before is not None and not isinstance(before, int):
        raise ApiError(400, "invalid_cursor", "the cursor is not one this endpoint issued")
    items, next_seq = request.app[FLOWS].versions(principal, _flow_id(request),
                                                  before_seq=before, limit=limit)
    return json_response({"items": items,
                          "next_cursor": encode_cursor(next_seq) if next_seq else None})


async def get_version(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_view()
    body = request.app[FLOWS].version(principal, _flow_id(request),
                                      request.match_info["version"])
    return web.Response(body=body, content_type="application/json")


async def diff_version(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_view()
    return json_response(request.app[FLOWS].diff(
        principal, _flow_id(request), request.match_info["version"],
        request.query.get("against") or None,
    ))


async def restore_version(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_manage()
    detail = await request.app[FLOWS].restore_version(
        principal, _flow_id(request), request.match_info["version"],
        request_id=request_id_of(request),
    )
    return detail_response(detail)


async def list_deployments(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_view()
    limit = query_limit(request, 100)
    cursor = decode_cursor(request, 2)
    page = request.app[FLOWS].deployments(
        principal, _flow_id(request), limit=limit,
        before=(str(cursor[0]), str(cursor[1])) if cursor else None,
    )
    if page["next_cursor"] is not None:
        page["next_cursor"] = encode_cursor(*page["next_cursor"])
    return json_response(page)


BASE = "/api/v1/flows"
ROUTES = [
    Route("GET", BASE, list_flows, "List the flows the caller can view", needs="scaicore:view"),
    Route("POST", BASE, create_flow, "Create a flow (caller becomes owner)",
          needs="scaicore:manage"),
    Route("GET", BASE + "/{flow_id}", get_flow, "Get a flow with its content and ETag",
          needs="view ACL"),
    Route("PUT", BASE + "/{flow_id}", update_flow,
          "Partial update; new content stores a new patch version", needs="edit ACL"),
    Route("DELETE", BASE + "/{flow_id}", delete_flow, "Soft-delete a flow", needs="admin ACL"),
    Route("POST", BASE + "/{flow_id}/restore", restore_flow, "Undo a soft delete",
          needs="tenant_admin or super_admin"),
    Route("GET", BASE + "/{flow_id}/versions", list_versions, "List versions, newest first",
          needs="view ACL"),
    Route("GET", BASE + "/{flow_id}/versions/{version}", get_version,
          "Get one version's content", needs="view ACL"),
    Route("GET", BASE + "/{flow_id}/versions/{version}/diff", diff_version,
          "Structured diff against another version (default: the previous)",
          needs="view ACL"),
    Route("POST", BASE + "/{flow_id}/versions/{version}/restore", restore_version,
          "Save an old version's content as a new patch version", needs="edit ACL"),
    Route("GET", BASE + "/{flow_id}/deployments", list_deployments,
          "List deployments, newest first", needs="view ACL"),
]
