"""Deploy (SPEC §7): `POST /api/v1/flows/{flow_id}/deploy` and the deprecated
`POST /api/v1/dev/deploy` (dev token only)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from scaiflow_box.api.examples import deploy_example, flow_content_example
from scaiflow_box.api.fields import FlowId, Version
from scaiflow_box.api.flows import Deployment
from scaiflow_box.http.call import Call, Reply, created, ok
from scaiflow_box.http.route import FLOW_BODY_LIMIT, RequestModel, Response, Route
from scaiflow_box.keys import DEPLOY

TAG = "deploy"


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
          errors=(400, 403, 404, 412, 502, 503), needs="deploy ACL", body=DeployRequest,
          body_example=deploy_example,
          description=DEPLOY_DESCRIPTION),
    Route("POST", "/api/v1/dev/deploy", dev_deploy,
          "Deprecated: compile and deploy content without saving it", TAG,
          (Response(200, DevDeployResult, "Deployed; the answer carries `Deprecation: true`"),),
          errors=(400, 401, 412, 502, 503), auth="dev_token", body=DevDeployRequest,
          body_limit=FLOW_BODY_LIMIT, body_example=flow_content_example,
          description="Authenticated by the dev token (`SCAIFLOW_API_TOKEN`) only; deploys "
                      "with `SCAIGRID_API_KEY`."),
]
