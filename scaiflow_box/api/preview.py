"""Preview and compiler endpoints (SPEC §5.2, §6): validate, compile, import, run-tests.

Registered before `/flows/{flow_id}` so `compile`, `validate` and `import` are never read as
ids. Compile errors come back inside a 200 so the canvas can show them while the user types.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from scaiflow_box.api.error_codes import (
    COMPILE_ERROR,
    FORBIDDEN,
    IMPORT_FAILED,
    MISSING_PERMISSION,
    UNSUPPORTED_FORMAT,
)
from scaiflow_box.api.examples import flow_content_example, import_example, run_tests_example
from scaiflow_box.api.fields import Diagnostic, FlowId, Version
from scaiflow_box.compiler.errors import SUPPORTED_FORMATS
from scaiflow_box.http.call import Call, RawJson, Reply, ok
from scaiflow_box.http.parsing import RawBody
from scaiflow_box.http.route import FLOW_BODY_LIMIT, RequestModel, Response, Route
from scaiflow_box.keys import PREVIEW

TAG = "preview"


# validate and compile exist to report what is wrong with content, so any JSON object is
# accepted and its problems come back as diagnostics in a 200, never as a 4xx.
ContentToCheck = dict[str, Any]
CONTENT_DOC = "FlowGraph JSON (schema: FlowGraph); problems come back as diagnostics"


class ValidateRequest(RequestModel):
    content: ContentToCheck = Field(description=CONTENT_DOC)


class CompileRequest(RequestModel):
    content: ContentToCheck = Field(description=CONTENT_DOC)
    # A plain string on the wire so any other format is the documented 400
    # `unsupported_format` (SPEC §5.2); the document lists the two that compile.
    format: str = Field(default="yaml", max_length=16,
                        json_schema_extra={"enum": list(SUPPORTED_FORMATS)},
                        description="`yaml` (the deploy artifact) or `json`; `ir` and `scai` "
                                    "are answered 400 `unsupported_format`")


class ImportRequest(RequestModel):
    yaml: str = Field(max_length=FLOW_BODY_LIMIT, description="A ScaiCore YAML manifest")


class RunTestsRequest(RequestModel):
    version: str | None = Field(default=None, max_length=32,
                                description="Default: the flow's current version")
    tests: list[dict[str, Any]] | None = Field(
        default=None, description="TestCases to run instead of the version's own `tests`")


class ValidationReport(BaseModel):
    valid: bool = Field(description="True when no diagnostic is an error")
    diagnostics: list[Diagnostic]


class CompileOutput(BaseModel):
    format: str
    body: str | None = Field(description="The manifest; null when `errors` is not empty")
    errors: list[Diagnostic]


class ImportOutput(BaseModel):
    content: dict[str, Any] = Field(description="The FlowGraph (best effort for hand-written "
                                                "YAML; see `warnings`)")
    warnings: list[str]


class TestResult(BaseModel):
    name: str
    status: Literal["passed", "failed", "error"]
    duration_ms: float
    visits: list[str]
    output: Any
    failures: list[str]
    error: str | None


class TestReport(BaseModel):
    version: Version
    passed: int
    failed: int
    errors: int
    duration_ms: float
    results: list[TestResult]


# validate and compile read their bodies as bytes (`raw_body`) and parse them in the compiler's
# thread when their turn comes (services/preview.py): the same checks and 422s as any JSON body.
async def validate(call: Call[RawBody[ValidateRequest], None]) -> Reply:
    body = call.body
    diagnostics = await call.app[PREVIEW].validate(call.principal,
                                                   lambda: body.parse().content)
    return ok(ValidationReport(
        valid=not any(d["severity"] == "error" for d in diagnostics),
        diagnostics=[Diagnostic(**d) for d in diagnostics]))


def _diagnostic(item: dict[str, Any]) -> dict[str, Any]:
    return {key: item.get(key) for key in Diagnostic.model_fields}


def _json(value: dict[str, Any], model: type[BaseModel]) -> RawJson:
    try:
        return RawJson(orjson.dumps(value), model)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits (YAML has them): pydantic
        return RawJson(model.model_validate(value).model_dump_json().encode(), model)


# A manifest (compile) and a FlowGraph (import) are large plain JSON values: serialized once
# by orjson, not copied into a model first (a 500-node graph as `dict[str, Any]` costs
# pydantic ~10 ms to serialize).
async def compile_preview(call: Call[RawBody[CompileRequest], None]) -> Reply:
    body = call.body

    def request() -> tuple[Any, str]:
        parsed = body.parse()
        return parsed.content, parsed.format

    result = await call.app[PREVIEW].compile(call.principal, request)
    return ok(_json({"format": result.format, "body": result.body,
                     "errors": [_diagnostic(d) for d in result.errors]}, CompileOutput))


async def import_yaml(call: Call[ImportRequest, None]) -> Reply:
    content, warnings = await call.app[PREVIEW].import_yaml(call.principal, call.body.yaml)
    return ok(_json({"content": content, "warnings": warnings}, ImportOutput))


async def run_flow_tests(call: Call[RunTestsRequest, None], flow_id: FlowId) -> Reply:
    report = await call.app[PREVIEW].run_tests(call.principal, flow_id,
                                               call.body.version, call.body.tests)
    return ok(TestReport.model_validate(report))


ROUTES = [
    Route("POST", "/api/v1/flows/validate", validate,
          "Schema validation plus the analyze stage (nothing is stored)", TAG,
          (Response(200, ValidationReport, "Diagnostics; `valid` when none is an error"),),
          errors=(MISSING_PERMISSION,), needs="scaicore:view", body=ValidateRequest,
          raw_body=True, body_limit=FLOW_BODY_LIMIT, body_example=flow_content_example),
    Route("POST", "/api/v1/flows/compile", compile_preview,
          "Compile to the ScaiCore manifest (errors inside a 200)", TAG,
          (Response(200, CompileOutput, "The manifest, or the errors that prevent it"),),
          errors=(UNSUPPORTED_FORMAT, MISSING_PERMISSION), needs="scaicore:view",
          body=CompileRequest, raw_body=True,
          body_limit=FLOW_BODY_LIMIT, body_example=flow_content_example),
    Route("POST", "/api/v1/flows/import", import_yaml, "ScaiCore YAML manifest to a FlowGraph",
          TAG, (Response(200, ImportOutput, "The FlowGraph and what the import had to guess"),),
          errors=(IMPORT_FAILED, MISSING_PERMISSION), needs="scaicore:view",
          body=ImportRequest,
          body_limit=FLOW_BODY_LIMIT + 64 * 1024, body_example=import_example),
    Route("POST", "/api/v1/flows/{flow_id}/run-tests", run_flow_tests,
          "Run the flow's tests locally and deterministically", TAG,
          (Response(200, TestReport, "One result per test case"),),
          errors=(COMPILE_ERROR, MISSING_PERMISSION, FORBIDDEN), needs="deploy ACL",
          body=RunTestsRequest,
          body_example=run_tests_example,
          body_limit=FLOW_BODY_LIMIT),
]
