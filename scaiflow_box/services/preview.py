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


# Imports at once: a 500-node manifest holds ~15 MB of parser objects while it loads, and
# threads sharing one interpreter lock finish no sooner side by side (peak RSS with 8 at once:
# 190 MB; docs/performance.md).
IMPORTS_AT_ONCE = 2


class PreviewService:
    def __init__(self, flows: FlowService) -> None:
        self.flows = flows
        self._imports = asyncio.Semaphore(IMPORTS_AT_ONCE)

    async def validate(self, principal: Principal, content: Any) -> list[dict[str, Any]]:
        principal.require_view()
        diagnostics = await _off_loop(validate_flow, content)
        return [d.to_dict() for d in diagnostics]

    async def compile(self, principal: Principal, content: Any, fmt: str) -> CompileResult:
        principal.require_view()
        try:
            return await _off_loop(compile_flow, content, fmt)
        except UnsupportedFormat as exc:
            raise InvalidInput(exc.message, code=exc.error, fix=exc.fix) from None

    async def import_yaml(self, principal: Principal,
                          yaml_text: str) -> tuple[dict[str, Any], list[str]]:
        principal.require_view()
        try:
            async with self._imports:
                return await _off_loop(_import_paused, yaml_text)
        except ImportFailed as exc:
            raise InvalidInput(
                str(exc), code="import_failed",
                fix="Pass a ScaiCore YAML manifest (a mapping with a `core` key).") from None

    async def run_tests(self, principal: Principal, flow_id: str, version: str | None,
                        tests: list[dict[str, Any]] | None) -> dict[str, Any]:
        principal.require_manage()
        chosen, raw = self.flows.content_for(principal, flow_id, version, "deploy")
        try:
            report = await _off_loop(run_tests, orjson.loads(raw), tests)
        except FlowInvalid as exc:
            raise InvalidInput(
                f"flow version {chosen} does not validate", code=exc.error,
                fix="Fix the errors listed (POST /api/v1/flows/validate shows them).",
                errors=exc.errors) from None
        return {**report, "version": chosen}
