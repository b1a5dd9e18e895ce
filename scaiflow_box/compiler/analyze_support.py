"""Shared pieces of the per-node analyzer rules."""

from __future__ import annotations

from typing import Any

from scaiflow_box.compiler import expr
from scaiflow_box.compiler.diagnostics import Diagnostic, error
from scaiflow_box.compiler.graph import FlowIndex
from scaiflow_box.compiler.naming import RESERVED_VARIABLES, VARIABLE_PATTERN
from scaiflow_box.compiler.schema import NodeDict

Out = list[Diagnostic]


class NodeContext:
    """What node rules need to know about the flow, computed once."""

    def __init__(self, index: FlowIndex) -> None:
        self.index = index
        config = index.content.get("config") or {}
        identity = config.get("core_identity") or {}
        self.models: list[dict[str, Any]] = identity.get("models") or []
        self.roles = {m["role"] for m in self.models}
        scaiqueue = config.get("scaiqueue") or {}
        self.flow_scope: str | None = scaiqueue.get("scope")
        self.queue_slugs = {q["slug"] for q in scaiqueue.get("queues") or []}
        self.has_provision = any(n["type"] == "compute_provision" for n in index.nodes)


def config_loc(i: int, *rest: str | int) -> list[str | int]:
    return ["nodes", i, "config", *rest]


def require(node: NodeDict, i: int, keys: tuple[str, ...], out: Out) -> bool:
    config = node.get("config") or {}
    ok = True
    for key in keys:
        value = config.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            out.append(
                error(
                    "config_required",
                    f"node {node['id']!r}: {node['type']} requires config.{key}",
                    config_loc(i, key),
                    node_id=node["id"],
                )
            )
            ok = False
    return ok


def check_expression(node: NodeDict, i: int, key: str, out: Out, what: str = "expression") -> None:
    text = (node.get("config") or {}).get(key)
    if isinstance(text, str):
        problem = expr.check_syntax(text)
        if problem is not None:
            out.append(
                error(
                    "expression_invalid",
                    f"node {node['id']!r}: config.{key} {what} does not parse: {problem}",
                    config_loc(i, key),
                    node_id=node["id"],
                )
            )


def check_template(node: NodeDict, i: int, key: str, out: Out) -> None:
    text = (node.get("config") or {}).get(key)
    if isinstance(text, str):
        for problem in expr.template_errors(text):
            out.append(
                error(
                    "template_invalid",
                    f"node {node['id']!r}: config.{key}: {problem}",
                    config_loc(i, key),
                    node_id=node["id"],
                )
            )


def variable_name_ok(name: str) -> bool:
    return (
        bool(VARIABLE_PATTERN.match(name))
        and name not in RESERVED_VARIABLES
        and name not in expr.KEYWORDS
    )
