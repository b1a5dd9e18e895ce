"""Preview and compiler services (SPEC §5.2, §6): validate, compile, import, run-tests.

validate/compile/import need `scaicore:view` and store nothing; run-tests needs
`scaicore:manage` and the flow's `deploy` level. Compiling a big flow is CPU work, so every
compiler call runs in an executor thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from scaiflow_box.auth.principal import Principal
from scaiflow_box.compiler.analyze import validate_flow
from scaiflow_box.compiler.diagnostics import Diagnostic
from scaiflow_box.compiler.emit_yaml import CompileResult, compile_flow
from scaiflow_box.compiler.errors import FlowInvalid, ImportFailed, UnsupportedFormat
from scaiflow_box.compiler.importer import import_manifest
from scaiflow_box.errors import InvalidInput
from scaiflow_box.gc_pause import gc_paused
from scaiflow_box.services.flows import FlowService
from scaiflow_box.services.testrunner import run_tests

T = TypeVar("T")


async def _off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _import_paused(yaml_text: str) -> tuple[dict[str, Any], list[str]]:
    """Import with the cyclic GC paused: loading a big manifest builds many objects at once
    (the importer leaves that choice to its caller; see gc_pause.py)."""
    with gc_paused():
        return import_manifest(yaml_text)


# Compiler jobs (validate, compile, import, run-tests) at once. They are pure Python and share
# one interpreter lock, so side by side they finish no sooner: they only trade the lock every
# 5 ms (each trade costing cache misses) and hold their parse trees at the same time (a
# 500-node import holds ~15 MB; peak RSS with 8 imports at once: 190 MB). Waiting ones wait
# on the event loop, where waiting costs nothing (docs/performance.md).
COMPILER_JOBS_AT_ONCE = 1


def _validate_request(request: Callable[[], Any]) -> list[Diagnostic]:
    return validate_flow(request())


def _compile_request(request: Callable[[], tuple[Any, str]]) -> CompileResult:
    return compile_flow(*request())


class PreviewService:
    def __init__(self, flows: FlowService) -> None:
        self.flows = flows
        self._jobs = asyncio.Semaphore(COMPILER_JOBS_AT_ONCE)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        async with self._jobs:
            return await _off_loop(fn, *args)

    async def validate(self, principal: Principal,
                       request: Callable[[], Any]) -> list[dict[str, Any]]:
        """`request()` gives the content to validate (see `compile`)."""
        principal.require_view()
        diagnostics = await self._run(_validate_request, request)
        return [d.to_dict() for d in diagnostics]

    async def compile(self, principal: Principal,
                      request: Callable[[], tuple[Any, str]]) -> CompileResult:
        """`request()` gives (content, format): it parses the request body (raising its
        422s) in the compiler's thread, when the job's turn comes. A waiting request holds
        its body's bytes, not its parsed tree, and the tree is built just before the compiler
        walks it, still in the CPU's caches (docs/performance.md, "Compile")."""
        principal.require_view()
        try:
            return await self._run(_compile_request, request)
        except UnsupportedFormat as exc:
            raise InvalidInput(exc.message, code=exc.error, fix=exc.fix) from None

    async def import_yaml(self, principal: Principal,
                          yaml_text: str) -> tuple[dict[str, Any], list[str]]:
        principal.require_view()
        try:
            return await self._run(_import_paused, yaml_text)
        except ImportFailed as exc:
            raise InvalidInput(
                str(exc), code="import_failed",
                fix="Pass a ScaiCore YAML manifest (a mapping with a `core` key).") from None

    async def run_tests(self, principal: Principal, flow_id: str, version: str | None,
                        tests: list[dict[str, Any]] | None) -> dict[str, Any]:
        principal.require_manage()
        chosen, raw = await self.flows.content_for(principal, flow_id, version, "deploy")
        try:
            report = await self._run(run_tests, orjson.loads(raw), tests)
        except FlowInvalid as exc:
            raise InvalidInput(
                f"flow version {chosen} does not validate", code=exc.error,
                fix="Fix the errors listed (POST /api/v1/flows/validate shows them).",
                errors=exc.errors) from None
        return {**report, "version": chosen}
