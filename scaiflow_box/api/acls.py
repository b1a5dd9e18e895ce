"""`/api/v1/flows/{flow_id}/acls` [upstream]: explicit grants; all need the admin level."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from scaiflow_box.http.errors import json_response
from scaiflow_box.http.middlewares import principal_of, request_id_of
from scaiflow_box.http.parsing import RequestModel, if_match, parse_body
from scaiflow_box.http.routes import Route
from scaiflow_box.keys import DB
from scaiflow_box.services import acls as acl_service


class AclCreate(RequestModel):
    # Plain strings (not enums) so a bad level/principal_type is the documented 400.
    principal_type: str = Field(max_length=16)
    principal_id: str = Field(min_length=1, max_length=200)
    level: str = Field(max_length=16)


class AclPatch(RequestModel):
    level: str = Field(max_length=16)


async def list_acls(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_view()
    acls = await acl_service.list_acls(request.app[DB], principal, request.match_info["flow_id"])
    return json_response(acls)


async def create_acl(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_manage()
    body = await parse_body(request, AclCreate)
    acl = await acl_service.create_acl(
        request.app[DB], principal, request.match_info["flow_id"],
        principal_type=body.principal_type, principal_id=body.principal_id, level=body.level,
        expected_version=if_match(request), request_id=request_id_of(request),
    )
    return json_response(acl, status=201)


async def patch_acl(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_manage()
    body = await parse_body(request, AclPatch)
    acl = await acl_service.change_acl_level(
        request.app[DB], principal, request.match_info["flow_id"], request.match_info["acl_id"],
        level=body.level, expected_version=if_match(request), request_id=request_id_of(request),
    )
    return json_response(acl)


async def delete_acl(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_manage()
    await acl_service.delete_acl(
        request.app[DB], principal, request.match_info["flow_id"], request.match_info["acl_id"],
        expected_version=if_match(request), request_id=request_id_of(request),
    )
    return web.Response(status=204)


BASE = "/api/v1/flows/{flow_id}/acls"
ROUTES = [
    Route("GET", BASE, list_acls, "List explicit grants", needs="admin ACL"),
    Route("POST", BASE, create_acl, "Grant a user or group a level", needs="admin ACL"),
    Route("PATCH", BASE + "/{acl_id}", patch_acl, "Change a grant's level", needs="admin ACL"),
    Route("DELETE", BASE + "/{acl_id}", delete_acl, "Revoke a grant", needs="admin ACL"),
]
