"""The flows calls of `AdminClient` (SPEC §3-§7): a tenant's flows, one flow's content,
versions, diffs and grants, validate and compile, deployments and deploy.

The flows API answers for the token's tenant. `tenant_id` is sent only when the operator
switched to another tenant, and the screens switch only where the appliance declares the
parameter (its OpenAPI document: see `Capabilities`), so it is never silently ignored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tui.client_base import ClientBase, params_of, segment
from tui.flow_models import (
    Acl,
    Compiled,
    FlowDetail,
    FlowDiff,
    TenantFlowPage,
    Validation,
    VersionContent,
    VersionPage,
    acl_list,
)
from tui.models import Deployment, DeploymentPage, FlowPage
from tui.system_models import TENANT_FLOWS

# A deploy makes several ScaiGrid calls, each bounded by the appliance's upstream timeout
# (10 s by default): waiting less would call a deploy that is still running "unreachable".
DEPLOY_TIMEOUT_SECONDS = 120.0
# Validate and compile of a big flow run in the appliance's compiler thread.
COMPILE_TIMEOUT_SECONDS = 30.0


def _flow(flow_id: str) -> str:
    return f"/api/v1/flows/{segment(flow_id)}"


class FlowCalls(ClientBase):
    async def list_flows(self, *, cursor: str | None = None, limit: int = 100,
                         search: str | None = None) -> FlowPage:
        """The flows the session may view (`GET /api/v1/flows`)."""
        return await self._get("/api/v1/flows", FlowPage.from_json,
                               params=params_of(limit=limit, cursor=cursor, search=search))

    async def list_tenant_flows(self, *, cursor: str | None = None, limit: int = 100,
                                search: str | None = None, include_deleted: bool = True,
                                tenant_id: str | None = None) -> TenantFlowPage:
        """Every flow of the tenant with its owner, soft-deleted ones included unless told
        (`GET /api/v1/admin/tenant/flows`, tenant or super admin)."""
        params = params_of(limit=limit, cursor=cursor, search=search,
                           include_deleted=include_deleted, tenant_id=tenant_id)
        return await self._get(TENANT_FLOWS, TenantFlowPage.from_json, params=params)

    async def get_flow(self, flow_id: str, *, tenant_id: str | None = None) -> FlowDetail:
        return await self._get(_flow(flow_id), FlowDetail.from_json,
                               params=params_of(tenant_id=tenant_id))

    async def delete_flow(self, flow_id: str, *, tenant_id: str | None = None) -> None:
        """Soft delete (versions are kept)."""
        await self._request("DELETE", _flow(flow_id), params=params_of(tenant_id=tenant_id))

    async def restore_flow(self, flow_id: str, *, tenant_id: str | None = None) -> None:
        """Undo a soft delete."""
        await self._request("POST", _flow(flow_id) + "/restore",
                            params=params_of(tenant_id=tenant_id))

    # -- versions ---------------------------------------------------------------------------
    async def list_versions(self, flow_id: str, *, cursor: str | None = None,
                            limit: int = 100, tenant_id: str | None = None) -> VersionPage:
        return await self._get(_flow(flow_id) + "/versions", VersionPage.from_json,
                               params=params_of(limit=limit, cursor=cursor,
                                                tenant_id=tenant_id))

    async def get_version(self, flow_id: str, version: str, *,
                          tenant_id: str | None = None) -> VersionContent:
        return await self._get(f"{_flow(flow_id)}/versions/{segment(version)}",
                               VersionContent.from_json, params=params_of(tenant_id=tenant_id))

    async def diff_versions(self, flow_id: str, version: str, *, against: str | None = None,
                            tenant_id: str | None = None) -> FlowDiff:
        """What changed from `against` (default: the previous version) to `version`."""
        return await self._get(f"{_flow(flow_id)}/versions/{segment(version)}/diff",
                               FlowDiff.from_json,
                               params=params_of(against=against, tenant_id=tenant_id))

    async def restore_version(self, flow_id: str, version: str, *,
                              tenant_id: str | None = None) -> FlowDetail:
        """The old content saved as a new patch version."""
        reply = await self._request("POST",
                                    f"{_flow(flow_id)}/versions/{segment(version)}/restore",
                                    params=params_of(tenant_id=tenant_id))
        return self._parsed(FlowDetail.from_json, reply.body)

    # -- grants -------------------------------------------------------------------------------
    async def list_acls(self, flow_id: str, *, tenant_id: str | None = None) -> list[Acl]:
        return await self._get(_flow(flow_id) + "/acls", acl_list,
                               params=params_of(tenant_id=tenant_id))

    async def create_acl(self, flow_id: str, *, principal_type: str, principal_id: str,
                         level: str, tenant_id: str | None = None) -> Acl:
        reply = await self._request("POST", _flow(flow_id) + "/acls", json={
            "principal_type": principal_type, "principal_id": principal_id, "level": level},
            params=params_of(tenant_id=tenant_id))
        return self._parsed(Acl.from_json, reply.body)

    async def change_acl(self, flow_id: str, acl_id: str, *, level: str,
                         tenant_id: str | None = None) -> Acl:
        reply = await self._request("PATCH", f"{_flow(flow_id)}/acls/{segment(acl_id)}",
                                    json={"level": level},
                                    params=params_of(tenant_id=tenant_id))
        return self._parsed(Acl.from_json, reply.body)

    async def delete_acl(self, flow_id: str, acl_id: str, *,
                         tenant_id: str | None = None) -> None:
        await self._request("DELETE", f"{_flow(flow_id)}/acls/{segment(acl_id)}",
                            params=params_of(tenant_id=tenant_id))

    # -- validate and compile (nothing is stored) ---------------------------------------------
    async def validate_content(self, content: Mapping[str, Any]) -> Validation:
        reply = await self._request("POST", "/api/v1/flows/validate", json={"content": content},
                                    timeout_seconds=COMPILE_TIMEOUT_SECONDS)
        return self._parsed(Validation.from_json, reply.body)

    async def compile_content(self, content: Mapping[str, Any], *,
                              format: str = "yaml") -> Compiled:
        reply = await self._request("POST", "/api/v1/flows/compile",
                                    json={"content": content, "format": format},
                                    timeout_seconds=COMPILE_TIMEOUT_SECONDS)
        return self._parsed(Compiled.from_json, reply.body)

    # -- deployments --------------------------------------------------------------------------
    async def list_deployments(self, flow_id: str, *, cursor: str | None = None,
                               limit: int = 50, tenant_id: str | None = None
                               ) -> DeploymentPage:
        return await self._get(_flow(flow_id) + "/deployments", DeploymentPage.from_json,
                               params=params_of(limit=limit, cursor=cursor,
                                                tenant_id=tenant_id))

    async def deploy_flow(self, flow_id: str, *, version: str | None = None,
                          tenant_id: str | None = None) -> Deployment:
        """201 Deployment; a failed deploy raises ApiError (a 502 names the recorded
        `deployment_id` in `extra`)."""
        payload: dict[str, Any] = {}
        if version:
            payload["version"] = version
        reply = await self._request("POST", _flow(flow_id) + "/deploy", json=payload,
                                    params=params_of(tenant_id=tenant_id),
                                    timeout_seconds=DEPLOY_TIMEOUT_SECONDS)
        return self._parsed(Deployment.from_json, reply.body)
