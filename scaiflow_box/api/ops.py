"""Operations endpoints [box]: liveness, readiness, the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, RootModel

from scaiflow_box.api.fields import CONTENT_SHAPES, NAMED_SCHEMAS
from scaiflow_box.http.call import Call, RawJson, Reply, ok
from scaiflow_box.http.openapi import build_openapi
from scaiflow_box.http.openapi_values import with_value_rules
from scaiflow_box.http.route import Response, Route
from scaiflow_box.keys import READINESS
from scaiflow_box.keys import ROUTES as ROUTE_TABLE

TAG = "operations"


class Health(BaseModel):
    status: Literal["ok"]


class IssuerStatus(BaseModel):
    issuer: str | None
    key_ids: list[str]
    age_seconds: float | None
    source: str


class ReadinessReport(BaseModel):
    status: Literal["ready", "not_ready"]
    reasons: list[str]
    issuers: list[IssuerStatus]


class OpenApiDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document."""


async def healthz(call: Call[None, None]) -> Reply:
    return ok(Health(status="ok"))


async def readyz(call: Call[None, None]) -> Reply:
    report = ReadinessReport.model_validate(await call.app[READINESS].report())
    return Reply(200 if report.status == "ready" else 503, report)


async def openapi(call: Call[None, None]) -> Reply:
    table = call.app[ROUTE_TABLE]
    if table.document is None:  # built once: the routes do not change while serving
        table.document = orjson.dumps(with_value_rules(build_openapi(
            table.routes, NAMED_SCHEMAS, CONTENT_SHAPES)))
    return ok(RawJson(table.document, OpenApiDocument))


ROUTES = [
    Route("GET", "/healthz", healthz, "Process alive", TAG,
          (Response(200, Health, "Alive"),), auth="public"),
    Route("GET", "/readyz", readyz, "Database writable and keys loaded", TAG,
          (Response(200, ReadinessReport, "Ready"),
           Response(503, ReadinessReport, "Not ready; `reasons` says why (coarse)")),
          auth="public"),
    Route("GET", "/api/v1/openapi.json", openapi, "This API's OpenAPI 3.1 document", TAG,
          (Response(200, OpenApiDocument, "Generated from the route table"),), auth="public"),
]
