"""``scaiflow-box validate`` and ``scaiflow-box compile`` (SPEC §20): the file, stdin and
stdout side of the compiler, which itself stays a pure library.

Both work offline: no server, no data directory, no network. Exit codes: 0
success, 1 failure (invalid flow, unreadable file, compile errors), 2 usage
(an unsupported ``--format``). Script output goes to stdout; messages to stderr.
The flow file holds FlowGraph JSON, or a FlowDetail (``{"content": …}``) as
``GET /api/v1/flows/{id}`` returns it.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from scaiflow_box.compiler.analyze import validate_flow
from scaiflow_box.compiler.diagnostics import Diagnostic
from scaiflow_box.compiler.emit_yaml import compile_flow
from scaiflow_box.compiler.errors import UnsupportedFormat

MAX_FLOW_FILE_BYTES = 64 * 1024 * 1024


class FlowFileError(Exception):
    """The flow file cannot be read or is not JSON."""


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def read_flow_file(path: str) -> Any:
    """The FlowGraph content in ``path`` (``-`` reads stdin)."""
    try:
        if path == "-":
            text = sys.stdin.read(MAX_FLOW_FILE_BYTES + 1)
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(MAX_FLOW_FILE_BYTES + 1)
    except OSError as exc:
        raise FlowFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise FlowFileError(f"cannot read {path}: not UTF-8 text") from None
    if len(text) > MAX_FLOW_FILE_BYTES:
        raise FlowFileError(f"{path} is larger than {MAX_FLOW_FILE_BYTES} bytes")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlowFileError(
            f"{path} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise FlowFileError(f"{path} is nested too deeply") from None
    if (
        isinstance(document, dict)
        and isinstance(document.get("content"), dict)
        and "nodes" not in document
    ):
        return document["content"]  # a FlowDetail
    return document


def format_diagnostic(diagnostic: Diagnostic) -> str:
    where = f" ({diagnostic.path})" if diagnostic.path else ""
    return f"{diagnostic.severity}: {diagnostic.message}{where}"


def validate_command(path: str, as_json: bool) -> int:
    """Exit 0 when the flow is valid (warnings allowed), 1 when it is invalid or
    unreadable. Stdout carries only the result: the verdict line, or with ``--json``
    the ``{"valid", "diagnostics"}`` document; each diagnostic goes to stderr."""
    try:
        content = read_flow_file(path)
    except FlowFileError as exc:
        if as_json:
            unreadable = {
                "severity": "error",
                "message": str(exc),
                "path": None,
                "node_id": None,
                "edge_id": None,
            }
            print(json.dumps({"valid": False, "diagnostics": [unreadable]}, ensure_ascii=False))
        _err(f"error: {exc}")
        return 1
    diagnostics = validate_flow(content)
    valid = not any(d.is_error for d in diagnostics)
    if as_json:
        body = {"valid": valid, "diagnostics": [d.to_dict() for d in diagnostics]}
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0 if valid else 1
    for diagnostic in diagnostics:
        _err(format_diagnostic(diagnostic))
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    verdict = "valid" if valid else "invalid"
    print(f"{path}: {verdict} ({errors} error(s), {warnings} warning(s))")
    return 0 if valid else 1


def _write_atomically(target: str, body: str) -> None:
    """Write a sibling temporary file and rename it over ``target``. The temporary file is
    created like any new file (0666 less the umask), not private like mkstemp's 0600."""
    directory, name = os.path.split(os.path.abspath(target))
    while True:
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def compile_command(path: str, fmt: str, out: str | None) -> int:
    """Print the manifest (or write it to ``out``). Exit 1 on compile errors or
    unreadable input (errors on stderr), 2 on an unsupported format."""
    try:
        content = read_flow_file(path)
        result = compile_flow(content, fmt)
    except UnsupportedFormat as exc:
        _err(f"error: {exc.message}")
        _err(f"fix: {exc.fix}")
        return 2
    except FlowFileError as exc:
        _err(f"error: {exc}")
        return 1
    for warning in result.warnings:
        _err(f"warning: {warning['message']}")
    if result.body is None:
        for item in result.errors:
            where = f" ({item['path']})" if item.get("path") else ""
            _err(f"error: {item['message']}{where}")
        _err(f"{path}: {len(result.errors)} compile error(s); nothing written")
        return 1
    if out is None:
        sys.stdout.write(result.body)
        sys.stdout.flush()
        return 0
    try:
        _write_atomically(out, result.body)
    except OSError as exc:
        _err(f"error: cannot write {out}: {exc.strerror or exc}")
        return 1
    _err(f"wrote {out}")
    return 0
