"""A super admin acting in another tenant: `?tenant_id=` on the routes that declare it.

Every flow route answers for the token's tenant. An operator's super admin token (the TUI's)
must also reach the flows of other tenants, to restore, re-grant or redeploy them; the route
then runs exactly as it would for a super admin of that tenant (its permission checks, its
audit rows, which name the tenant acted in and the super admin as the actor). Anyone else
naming another tenant than their own is refused with 403 `forbidden` whatever the tenant or
flow (so the answer says nothing about them); naming their own is the same as leaving it out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from scaiflow_box.errors import Forbidden, InvalidFields
from scaiflow_box.http.state import PRINCIPAL
from scaiflow_box.ids import PLAIN_ID

NAME = "tenant_id"
PARAMETER: dict[str, Any] = {
    "name": NAME, "in": "query", "required": False,
    "description": "[box] Super admins: act in this tenant instead of the token's (anyone "
                   "else naming another tenant than their own gets 403 `forbidden`).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200,
               "pattern": r"^[A-Za-z0-9._:@-]+$"}}


def act_in_named_tenant(request: web.Request) -> None:
    """Re-scope the request's principal to `?tenant_id=` when a super admin names one."""
    if not request.query_string:  # most requests: no query to parse
        return
    values = request.query.getall(NAME, [])
    if not values:
        return
    loc = ["query", NAME]
    if len(values) > 1:
        raise InvalidFields([{"loc": loc, "type": "repeated_parameter",
                              "msg": "Query parameter given more than once; it takes one "
                                     "value"}])
    tenant_id = values[0]
    if PLAIN_ID.match(tenant_id) is None:
        raise InvalidFields([{"loc": loc, "type": "string_pattern_mismatch",
                              "msg": "A tenant id: 1-200 of A-Z a-z 0-9 . _ : @ -"}])
    principal = request[PRINCIPAL]
    if tenant_id == principal.tenant_id:
        return
    if not principal.is_super_admin:
        raise Forbidden("only super admins name another tenant than their own (tenant_id)",
                        fix="Leave tenant_id out: the token's tenant is the default.")
    request[PRINCIPAL] = dataclasses.replace(principal, tenant_id=tenant_id)
