"""`/api/v1/flows/{flow_id}/acls` [upstream]: explicit grants; all need the admin level."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, RootModel

from scaiflow_box.api.error_codes import (
    ACL_EXISTS,
    FORBIDDEN,
    INVALID_LEVEL,
    INVALID_PRINCIPAL_TYPE,
    MISSING_PERMISSION,
    OWNER_IS_IMPLICIT_ADMIN,
    PRINCIPAL_NOT_FOUND,
    VERSION_CONFLICT,
)
from scaiflow_box.api.examples import acl_create_example, acl_patch_example
from scaiflow_box.api.fields import AclId, FlowId, PrincipalId, Timestamp
from scaiflow_box.api.flows import IF_MATCH
from scaiflow_box.http.call import NO_CONTENT, Call, Reply, created, ok
from scaiflow_box.http.parsing import parse_if_match
from scaiflow_box.http.route import Link, RequestModel, Response, Route
from scaiflow_box.keys import ACLS
from scaiflow_box.services.access import LEVELS
from scaiflow_box.services.acls import PRINCIPAL_TYPES

TAG = "acls"
# Plain strings on the wire so a bad level or principal type is the documented 400 (SPEC §4);
# the document lists the values.
LEVEL_FIELD = Field(max_length=16, json_schema_extra={"enum": list(LEVELS)})


class AclCreate(RequestModel):
    principal_type: str = Field(max_length=16, json_schema_extra={"enum": list(PRINCIPAL_TYPES)})
    principal_id: PrincipalId
    level: str = LEVEL_FIELD


class AclPatch(RequestModel):
    level: str = LEVEL_FIELD


class Acl(BaseModel):
    id: str
    flow_id: str
    principal_type: Literal["user", "group"]
    principal_id: str
    level: Literal["view", "edit", "deploy", "admin"]
    granted_by: str
    granted_at: Timestamp


class AclList(RootModel[list[Acl]]):
    """A bare array of the explicit grants [upstream]."""


ACL_LINKS = (
    Link("ChangeAcl", "change_acl", {"flow_id": "$response.body#/flow_id",
                                     "acl_id": "$response.body#/id"}),
    Link("DeleteAcl", "delete_acl", {"flow_id": "$response.body#/flow_id",
                                     "acl_id": "$response.body#/id"}),
)


async def list_acls(call: Call[None, None], flow_id: FlowId) -> Reply:
    acls = await call.app[ACLS].list(call.principal, flow_id)
    return ok(AclList([Acl(**acl) for acl in acls]))


async def create_acl(call: Call[AclCreate, None], flow_id: FlowId) -> Reply:
    body = call.body
    acl = await call.app[ACLS].grant(
        call.principal, flow_id, principal_type=body.principal_type,
        principal_id=body.principal_id, level=body.level,
        if_match=parse_if_match(call.header("If-Match")), request_id=call.request_id)
    return created(Acl(**acl))


async def change_acl(call: Call[AclPatch, None], flow_id: FlowId, acl_id: AclId) -> Reply:
    acl = await call.app[ACLS].change_level(
        call.principal, flow_id, acl_id, level=call.body.level,
        if_match=parse_if_match(call.header("If-Match")), request_id=call.request_id)
    return ok(Acl(**acl))


async def delete_acl(call: Call[None, None], flow_id: FlowId, acl_id: AclId) -> Reply:
    await call.app[ACLS].revoke(call.principal, flow_id, acl_id,
                                if_match=parse_if_match(call.header("If-Match")),
                                request_id=call.request_id)
    return NO_CONTENT


BASE = "/api/v1/flows/{flow_id}/acls"
ONE = BASE + "/{acl_id}"
ROUTES = [
    Route("GET", BASE, list_acls, "List explicit grants", TAG,
          (Response(200, AclList, "Explicit grants only (owner and admins are implicit)"),),
          errors=(MISSING_PERMISSION, FORBIDDEN), needs="admin ACL", acting_tenant=True),
    Route("POST", BASE, create_acl, "Grant a user or group a level", TAG,
          (Response(201, Acl, "The grant", links=ACL_LINKS),),
          errors=(INVALID_LEVEL, INVALID_PRINCIPAL_TYPE, OWNER_IS_IMPLICIT_ADMIN,
                  MISSING_PERMISSION, FORBIDDEN, PRINCIPAL_NOT_FOUND, ACL_EXISTS,
                  VERSION_CONFLICT), needs="admin ACL", body=AclCreate,
          body_example=acl_create_example,
          headers=(IF_MATCH,), acting_tenant=True),
    Route("PATCH", ONE, change_acl, "Change a grant's level", TAG,
          (Response(200, Acl, "The updated grant", links=ACL_LINKS),),
          errors=(INVALID_LEVEL, MISSING_PERMISSION, FORBIDDEN, VERSION_CONFLICT),
          needs="admin ACL", body=AclPatch,
          body_example=acl_patch_example,
          headers=(IF_MATCH,), acting_tenant=True),
    Route("DELETE", ONE, delete_acl, "Revoke a grant", TAG, (Response(204, None, "Revoked"),),
          errors=(MISSING_PERMISSION, FORBIDDEN, VERSION_CONFLICT), needs="admin ACL",
          headers=(IF_MATCH,), acting_tenant=True),
]
