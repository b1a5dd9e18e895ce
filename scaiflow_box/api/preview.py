"""Preview and compiler endpoints (SPEC §5.2, §6): validate, compile, import, run-tests.

validate/compile/import need `scaicore:view` only and store nothing. Compile errors come
back inside a 200 so the canvas can show them while the user types.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from pydantic import Field

from scaiflow_box.compiler.analyze import validate_flow
from scaiflow_box.compiler.emit_yaml import compile_flow
from scaiflow_box.compiler.errors import FlowInvalid, ImportFailed, UnsupportedFormat
from scaiflow_box.compiler.importer import import_manifest
from scaiflow_box.http.errors import ApiError, json_response
from scaiflow_box.http.middlewares import principal_of
from scaiflow_box.http.parsing import FLOW_BODY_LIMIT, RequestModel, parse_body
from scaiflow_box.http.routes import Route
from scaiflow_box.keys import FLOWS
from scaiflow_box.services.testrunner import run_tests


class ValidateRequest(RequestModel):
    content: Any


class CompileRequest(RequestModel):
    content: Any
    format: str = Field(default="yaml", max_length=16)


class ImportRequest(RequestModel):
    yaml: str = Field(max_length=FLOW_BODY_LIMIT)


class RunTestsRequest(RequestModel):
    version: str | None = Field(default=None, max_length=32)
    tests: list[dict[str, Any]] | None = None


def _diagnostic_dicts(items: list[Any]) -> list[dict[str, Any]]:
    return [d.to_dict() if hasattr(d, "to_dict") else dict(d) for d in items]


async def _off_loop(fn: Any, *args: Any) -> Any:
    """Compiling a big flow is CPU work: keep it off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


async def validate(request: web.Request) -> web.Response:
    principal_of(request).require_view()
    body = await parse_body(request, ValidateRequest, limit=FLOW_BODY_LIMIT)
    diagnostics = _diagnostic_dicts(await _off_loop(validate_flow, body.content))
    valid = not any(d["severity"] == "error" for d in diagnostics)
    return json_response({"valid": valid, "diagnostics": diagnostics})


async def compile_preview(request: web.Request) -> web.Response:
    principal_of(request).require_view()
    body = await parse_body(request, CompileRequest, limit=FLOW_BODY_LIMIT)
    try:
        result = await _off_loop(compile_flow, body.content, body.format)
    except UnsupportedFormat as exc:
        raise ApiError(400, exc.error, exc.message, fix=exc.fix) from None
    return json_response({"format": result.format, "body": result.body,
                          "errors": list(result.errors)})


async def import_yaml(request: web.Request) -> web.Response:
    principal_of(request).require_view()
    body = await parse_body(request, ImportRequest, limit=FLOW_BODY_LIMIT)
    try:
        content, warnings = await _off_loop(import_manifest, body.yaml)
    except ImportFailed as exc:
        raise ApiError(400, "import_failed", str(exc),
                       fix="Pass a ScaiCore YAML manifest (a mapping with a `core` key).") from None
    return json_response({"content": content, "warnings": warnings})


async def run_flow_tests(request: web.Request) -> web.Response:
    principal = principal_of(request)
    principal.require_manage()
    body = await parse_body(request, RunTestsRequest, limit=FLOW_BODY_LIMIT)
    version, raw = request.app[FLOWS].content_for(principal, request.match_info["flow_id"],
                                                  body.version, "deploy")
    try:
        report: dict[str, Any] = await _off_loop(run_tests, orjson.loads(raw), body.tests)
    except FlowInvalid as exc:
        raise ApiError(400, exc.error, f"flow version {version} does not validate",
                       fix="Fix the errors listed (POST /api/v1/flows/validate shows them).",
                       errors=exc.errors) from None
    return json_response({**report, "version": version})


ROUTES = [
    Route("POST", "/api/v1/flows/validate", validate,
          "Schema validation plus the analyze stage", needs="scaicore:view"),
    Route("POST", "/api/v1/flows/compile", compile_preview,
          "Compile to the ScaiCore manifest (errors inside a 200)", needs="scaicore:view"),
    Route("POST", "/api/v1/flows/import", import_yaml, "ScaiCore YAML manifest to a FlowGraph",
          needs="scaicore:view"),
    Route("POST", "/api/v1/flows/{flow_id}/run-tests", run_flow_tests,
          "Run the flow's tests locally and deterministically", needs="deploy ACL"),
]
