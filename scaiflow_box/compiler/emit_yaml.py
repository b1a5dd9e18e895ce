"""``compile_flow``: FlowGraph content -> the ScaiCore manifest as YAML or JSON.

Compile errors are data, not exceptions (the live preview shows them while the
user types): the result carries the error-severity diagnostics and no body. Only
an unsupported format raises (``UnsupportedFormat``; the endpoint answers 400).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from scaiflow_box.compiler.analyze import validate_flow
from scaiflow_box.compiler.diagnostics import error
from scaiflow_box.compiler.errors import SUPPORTED_FORMATS, UnsupportedFormat
from scaiflow_box.compiler.manifest import build_manifest
from scaiflow_box.compiler.schema import FlowDict
from scaiflow_box.compiler.yaml_writer import dump_yaml


@dataclass(frozen=True, slots=True)
class CompileResult:
    format: str
    body: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.body is not None

    def to_dict(self) -> dict[str, Any]:
        """The ``POST /flows/compile`` response body."""
        return {"format": self.format, "body": self.body, "errors": self.errors}


def check_format(fmt: str) -> str:
    """The normalized format name; raises ``UnsupportedFormat`` for others."""
    normalized = fmt.strip().lower() if isinstance(fmt, str) else fmt
    if normalized not in SUPPORTED_FORMATS:
        raise UnsupportedFormat(str(fmt))
    return normalized


def dump_json(manifest: dict[str, Any]) -> str:
    """Indented JSON, deterministic. orjson for speed; the stdlib for what orjson
    refuses (integers beyond 64 bits, lone surrogates)."""
    try:
        return orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode() + "\n"
    except TypeError:
        return json.dumps(manifest, indent=2, ensure_ascii=True) + "\n"


def compile_flow(content: object, fmt: str = "yaml") -> CompileResult:
    fmt = check_format(fmt)
    diagnostics = validate_flow(content)
    errors = [d.to_dict() for d in diagnostics if d.is_error]
    warnings = [d.to_dict() for d in diagnostics if not d.is_error]
    if errors:
        return CompileResult(fmt, None, errors, warnings)
    manifest = build_manifest(cast(FlowDict, content))
    try:
        body = dump_yaml(manifest) if fmt == "yaml" else dump_json(manifest)
    except RecursionError:
        # Only reachable from callers that bypass the API's JSON depth limit (64).
        too_deep = error("content_too_deep", "flow content is nested too deeply to compile")
        return CompileResult(fmt, None, [too_deep.to_dict()], warnings)
    return CompileResult(fmt, body, [], warnings)
