"""The diagnostic record produced by schema validation and the analyze stage."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]
Loc = Sequence[str | int]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def json_path(loc: Iterable[str | int]) -> str:
    """Render a location inside the flow content as ``$.nodes[3].position.x``."""
    parts = ["$"]
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif _IDENT.fullmatch(item):
            parts.append(f".{item}")
        else:
            parts.append(f"[{json.dumps(item, ensure_ascii=False)}]")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding. ``code`` is a stable machine name (documented in docs/compiler.md);
    the public wire shape is ``to_dict()``."""

    severity: Severity
    code: str
    message: str
    path: str | None = None
    node_id: str | None = None
    edge_id: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "severity": self.severity,
            "message": self.message,
            "path": self.path,
            "node_id": self.node_id,
            "edge_id": self.edge_id,
        }


def error(
    code: str,
    message: str,
    loc: Loc | None = None,
    *,
    node_id: str | None = None,
    edge_id: str | None = None,
) -> Diagnostic:
    return Diagnostic(
        "error", code, message, json_path(loc) if loc is not None else None, node_id, edge_id
    )


def warning(
    code: str,
    message: str,
    loc: Loc | None = None,
    *,
    node_id: str | None = None,
    edge_id: str | None = None,
) -> Diagnostic:
    return Diagnostic(
        "warning", code, message, json_path(loc) if loc is not None else None, node_id, edge_id
    )


def errors_only(diagnostics: Iterable[Diagnostic]) -> list[dict[str, str | None]]:
    return [d.to_dict() for d in diagnostics if d.is_error]
