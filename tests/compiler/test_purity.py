"""The compiler is a pure library: no module opens files, reads stdin, prints or pauses the
garbage collector (DESIGN.md; the CLI side is scaiflow_box/commands/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import scaiflow_box.compiler

PACKAGE = Path(scaiflow_box.compiler.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))

FORBIDDEN_MODULES = {"gc", "os", "sys", "io", "tempfile", "pathlib", "shutil", "subprocess",
                     "socket", "argparse"}
FORBIDDEN_CALLS = {"open", "print", "input", "breakpoint"}
FORBIDDEN_ATTRIBUTES = {"stdin", "stdout", "stderr", "read_text", "write_text", "read_bytes",
                        "write_bytes"}


def problems_in(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names
                      if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in FORBIDDEN_CALLS:
                found.append(f"{where} calls {node.func.id}()")
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f"{where} uses .{node.attr}")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_io_in_the_compiler(path: Path) -> None:
    assert problems_in(path) == []


def test_the_check_sees_io() -> None:
    sample = PACKAGE.parent / "commands" / "flow_files.py"
    assert problems_in(sample)  # reads files and stdin, prints: the check would catch it
    assert len(MODULES) > 20
