"""Deploy (SPEC §7): `POST /api/v1/flows/{flow_id}/deploy` and the deprecated
`POST /api/v1/dev/deploy` (dev token only)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from scaiflow_box.api.error_codes import (
    COMPILE_ERROR,
    CREDENTIALS_UNREADABLE,
    DEV_TOKEN_NOT_CONFIGURED,
    FORBIDDEN,
    MISSING_PERMISSION,
    MISSING_SCAIGRID_CREDENTIALS,
    SCAICORE_CREATE_FAILED,
    SCAICORE_PUBLISH_FAILED,
    SCAIGRID_NOT_CONFIGURED,
    SCAIQUEUE_AUTH,
    SCAIQUEUE_PROVISION_FAILED,
)
from scaiflow_box.api.examples import deploy_example, flow_content_example
from scaiflow_box.api.fields import FlowId, Version
from scaiflow_box.api.flows import Deployment
from scaiflow_box.http.call import Call, Reply, created, ok
from scaiflow_box.http.errors import NOT_AUTHENTICATED
from scaiflow_box.http.route import FLOW_BODY_LIMIT, RequestModel, Response, Route
from scaiflow_box.keys import DEPLOY

TAG = "deploy"
DEPLOY_STEPS = (SCAIQUEUE_AUTH, SCAIQUEUE_PROVISION_FAILED, SCAICORE_CREATE_FAILED,
                SCAICORE_PUBLISH_FAILED)


class DeployRequest(RequestModel):
    publish_as_model: bool | None = Field(
        default=None, description="Default: the flow's `config.publish_as_model`")
    version: Version | None = Field(default=None, max_length=32,
                                    description="Default: the flow's current version")


class DevDeployRequest(RequestModel):
    content: dict[str, Any] = Field(description="FlowGraph JSON (not stored)")
    publish_as_model: bool | None = None


class DevDeployResult(BaseModel):
    core_id: str
    published_slug: str | None


async def deploy_flow(call: Call[DeployRequest, None], flow_id: FlowId) -> Reply:
    record = await call.app[DEPLOY].deploy(
        call.principal, flow_id, version=call.body.version,
        publish_as_model=call.body.publish_as_model, request_id=call.request_id)
    return created(Deployment(**record))


async def dev_deploy(call: Call[DevDeployRequest, None]) -> Reply:
    result = await call.app[DEPLOY].dev_deploy(
        call.body.content, publish_as_model=call.body.publish_as_model, request_id=call.request_id)
    return ok(DevDeployResult(core_id=result.core_id, published_slug=result.published_slug),
              headers={"Deprecation": "true"})


DEPLOY_DESCRIPTION = (
    "Compiles the chosen version, provisions its ScaiQueue scope and queues, creates the core "
    "on ScaiGrid and publishes it when asked. Failures after ScaiGrid was reached are "
    "recorded as a `failed` Deployment and answered 502 with the step's code "
    "(`scaiqueue_auth`, `scaiqueue_provision_failed`, `scaicore_create_failed`, "
    "`scaicore_publish_failed`) and `deployment_id`.")

ROUTES = [
    Route("POST", "/api/v1/flows/{flow_id}/deploy", deploy_flow,
          "Deploy a version of the flow to ScaiGrid", TAG,
          (Response(201, Deployment, "Deployed (and recorded)"),),
          errors=(COMPILE_ERROR, MISSING_PERMISSION, FORBIDDEN, MISSING_SCAIGRID_CREDENTIALS,
                  *DEPLOY_STEPS, CREDENTIALS_UNREADABLE, SCAIGRID_NOT_CONFIGURED),
          needs="deploy ACL", body=DeployRequest,
          body_example=deploy_example,
          description=DEPLOY_DESCRIPTION, acting_tenant=True),
    Route("POST", "/api/v1/dev/deploy", dev_deploy,
          "Deprecated: compile and deploy content without saving it", TAG,
          (Response(200, DevDeployResult, "Deployed; the answer carries `Deprecation: true`"),),
          errors=(COMPILE_ERROR, NOT_AUTHENTICATED, MISSING_SCAIGRID_CREDENTIALS, *DEPLOY_STEPS,
                  SCAIGRID_NOT_CONFIGURED, DEV_TOKEN_NOT_CONFIGURED),
          auth="dev_token", body=DevDeployRequest,
          body_limit=FLOW_BODY_LIMIT, body_example=flow_content_example,
          description="Authenticated by the dev token (`SCAIFLOW_API_TOKEN`) only; deploys "
                      "with `SCAIGRID_API_KEY`."),
]
