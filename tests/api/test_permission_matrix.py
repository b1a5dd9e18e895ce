"""The permission matrix over every flow-scoped endpoint: no token, malformed token, other
tenant, missing permission, each ACL level, owner, tenant admin and super admin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.test_acls import RANK
from tests.api.test_flows import FLOWS, create
from tests.conftest import Appliance, hello_content


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {id} = the flow, {acl} = an ACL on it
    level: str  # lowest ACL level that may call it
    manage: bool  # needs scaicore:manage
    body: Any = None
    ok: int = 200


ENDPOINTS = [
    Endpoint("GET", "/{id}", "view", False),
    Endpoint("PUT", "/{id}", "edit", True, {"content": hello_content()}),
    Endpoint("DELETE", "/{id}", "admin", True, ok=204),
    Endpoint("GET", "/{id}/versions", "view", False),
    Endpoint("GET", "/{id}/versions/1.0.0", "view", False),
    Endpoint("GET", "/{id}/versions/1.0.0/diff", "view", False),
    Endpoint("POST", "/{id}/versions/1.0.0/restore", "edit", True),
    Endpoint("GET", "/{id}/deployments", "view", False),
    Endpoint("GET", "/{id}/acls", "admin", False),
    Endpoint("POST", "/{id}/acls", "admin", True,
             {"principal_type": "user", "principal_id": "usr_third", "level": "view"}, ok=201),
    Endpoint("PATCH", "/{id}/acls/{acl}", "admin", True, {"level": "edit"}),
    Endpoint("DELETE", "/{id}/acls/{acl}", "admin", True, ok=204),
    Endpoint("POST", "/{id}/run-tests", "deploy", True, {}),
]


async def _setup(app: Appliance) -> tuple[dict[str, str], str, str]:
    owner = await app.headers("usr_owner", "tnt_a")
    await app.user("usr_third", "tnt_a")
    await app.user("usr_member", "tnt_a")
    await app.user("usr_fourth", "tnt_a")
    flow = await create(app, owner)
    # An existing grant (for PATCH/DELETE); usr_third stays ungranted for the POST case.
    resp = await app.client.post(f"{FLOWS}/{flow['id']}/acls", headers=owner, json={
        "principal_type": "user", "principal_id": "usr_fourth", "level": "view"})
    acl = (await resp.json())["id"]
    return owner, flow["id"], acl


async def _call(app: Appliance, ep: Endpoint, headers: dict[str, str], flow_id: str,
                acl: str) -> tuple[int, Any]:
    url = FLOWS + ep.path.format(id=flow_id, acl=acl)
    resp = await app.client.request(ep.method, url, headers=headers,
                                    json=ep.body if ep.body is not None else None)
    body = await resp.json() if resp.status != 204 else None
    return resp.status, body


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_unauthenticated_and_other_tenant(appliance: Appliance, ep: Endpoint) -> None:
    _, flow_id, acl = await _setup(appliance)
    other = await appliance.headers("usr_eve", "tnt_b", role="super_admin")
    before = _stored_state(appliance)
    for headers, expected in (({}, {"detail": "Not authenticated"}),
                              ({"Authorization": "Bearer abc.def.ghi"},
                               {"detail": "invalid token: malformed"})):
        status, body = await _call(appliance, ep, headers, flow_id, acl)
        assert (status, body) == (401, expected)
    status, body = await _call(appliance, ep, other, flow_id, acl)
    assert (status, body) == (404, {"detail": "Flow not found"})
    assert _stored_state(appliance) == before  # nothing was changed


def _stored_state(app: Appliance) -> tuple[object, ...]:
    flows = [tuple(r) for r in app.sql(
        "SELECT id, name, owner_id, version, deleted_at FROM flows ORDER BY id")]
    versions = app.sql("SELECT count(*) AS n FROM flow_versions")[0]["n"]
    acls = [tuple(r) for r in app.sql("SELECT id, principal_id, level FROM flow_acls ORDER BY id")]
    audit = app.sql("SELECT count(*) AS n FROM audit_log")[0]["n"]
    return flows, versions, acls, audit


@pytest.mark.parametrize("ep", [e for e in ENDPOINTS if e.manage],
                         ids=lambda e: f"{e.method} {e.path}")
async def test_missing_manage_permission(appliance: Appliance, ep: Endpoint) -> None:
    _, flow_id, acl = await _setup(appliance)
    viewer_owner = await appliance.headers("usr_owner", "tnt_a", scope="scaicore:view")
    status, body = await _call(appliance, ep, viewer_owner, flow_id, acl)
    assert status == 403
    assert body["detail"]["error"] == "missing_permission"


@pytest.mark.parametrize("who", ["none", "view", "edit", "deploy", "admin", "owner",
                                 "tenant_admin", "super_admin"])
@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
async def test_levels(appliance: Appliance, ep: Endpoint, who: str) -> None:
    owner, flow_id, acl = await _setup(appliance)
    if who == "owner":
        headers = owner
    elif who in ("tenant_admin", "super_admin"):
        headers = await appliance.headers(f"usr_{who}", "tnt_a", role=who)
    else:
        headers = await appliance.headers("usr_member", "tnt_a")
        if who != "none":
            resp = await appliance.client.post(f"{FLOWS}/{flow_id}/acls", headers=owner, json={
                "principal_type": "user", "principal_id": "usr_member", "level": who})
            assert resp.status == 201
    status, body = await _call(appliance, ep, headers, flow_id, acl)
    implicit_admin = who in ("owner", "tenant_admin", "super_admin")
    if implicit_admin or (who != "none" and RANK.index(who) >= RANK.index(ep.level)):
        assert status == ep.ok, (who, body)
    elif who == "none":
        assert (status, body) == (404, {"detail": "Flow not found"})
    else:
        assert status == 403, body
        assert body["detail"]["error"] == "forbidden"
