"""Making a package out of a FlowGraph: check its structure, compile it (a flow that does not
compile gives no package), then write the deterministic archive. CPU work: the service runs
it in an executor, never on the event loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from scaiflow_box.compiler.emit_yaml import compile_flow
from scaiflow_box.compiler.schema import structural_errors
from scaiflow_box.errors import InvalidFields, InvalidInput
from scaiflow_box.packages.scaipkg import PackageInfo, flow_json_bytes, write_package


@dataclass(frozen=True)
class PackedPackage:
    info: PackageInfo
    data: bytes
    sha256: str
    readme: str | None


def packed_content(content: dict[str, Any], info: PackageInfo) -> dict[str, Any]:
    """The FlowGraph as a package holds it: `id` is the package id and `version` the
    package's version (the source flow's id would make the same flow give other bytes on
    another box; installing gives it a fresh flow id anyway)."""
    return {**content, "id": info.package_id, "version": info.version}


def pack_flow(info: PackageInfo, content: dict[str, Any], readme: str | None, *,
              loc: Sequence[str]) -> PackedPackage:
    """The package's bytes, or: 422 (not a structurally valid FlowGraph; `loc` prefixes the
    paths), 400 `compile_error` (with the compiler's `errors`), 413 `archive_too_large`."""
    flow = packed_content(content, info)
    problems = structural_errors(flow)
    if problems:
        raise InvalidFields([{**p, "loc": [*loc, *p["loc"]]} for p in problems])
    flow_json = flow_json_bytes(flow)
    # Compiled from flow.json as packed (sorted keys), so the manifest does not depend on the
    # key order a client sent, and an import of this package regenerates the same manifest.
    result = compile_flow(orjson.loads(flow_json), "yaml")
    if result.body is None:
        raise InvalidInput("the flow does not compile, so no package was made",
                           code="compile_error",
                           fix="Fix the errors listed (POST /api/v1/flows/validate shows them).",
                           errors=result.errors)
    readme_bytes: bytes | None = None
    if readme is not None:
        try:
            readme_bytes = readme.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidFields([{"loc": ["body", "readme"], "msg": "must be valid Unicode text",
                                  "type": "string_unicode"}]) from None
    data = write_package(info, flow_json, result.body.encode("utf-8"), readme_bytes)
    return PackedPackage(info, data, hashlib.sha256(data).hexdigest(), readme)
