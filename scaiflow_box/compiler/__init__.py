"""The flow compiler: a pure library with no I/O (SPEC §5, §6).

- ``schema``: FlowGraph v2 models and ``structural_errors`` (the 422 check);
- ``analyze``: ``validate_flow`` -> diagnostics;
- ``emit_yaml``: ``compile_flow`` -> the ScaiCore manifest (YAML or JSON);
- ``importer``: ``import_manifest`` (YAML -> FlowGraph);
- ``expr``: the safe expression language; ``simulate``: the local test runner engine.

Nothing here opens files, reads stdin, prints or touches process-wide state (such as the
garbage collector): the CLI's ``validate`` / ``compile`` live in
``scaiflow_box.commands.flow_files``.

docs/compiler.md documents the node-kind mapping, config shapes, diagnostics,
the expression grammar and the runner's semantics.
"""

from scaiflow_box.compiler.analyze import validate_flow
from scaiflow_box.compiler.diagnostics import Diagnostic
from scaiflow_box.compiler.emit_yaml import CompileResult, compile_flow
from scaiflow_box.compiler.errors import FlowInvalid, ImportFailed, UnsupportedFormat
from scaiflow_box.compiler.importer import import_manifest
from scaiflow_box.compiler.schema import FlowGraph, structural_errors

__all__ = [
    "CompileResult",
    "Diagnostic",
    "FlowGraph",
    "FlowInvalid",
    "ImportFailed",
    "UnsupportedFormat",
    "compile_flow",
    "import_manifest",
    "structural_errors",
    "validate_flow",
]
