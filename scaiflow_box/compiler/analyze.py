"""The analyze stage: schema validation plus the semantic rules of SPEC §5.2.

``validate_flow`` returns diagnostics, errors first, each group in a stable
order (flow, models, ids, edges, entries, cycles, nodes, then reachability and
port usage). When the content is not a structurally valid FlowGraph only the
schema errors are reported: the other rules need the structure. Every rule is
linear in the size of the flow (nodes and edges are indexed by id once).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, cast

from scaiflow_box.compiler import expr
from scaiflow_box.compiler.analyze_models import check_model_registry
from scaiflow_box.compiler.analyze_nodes import check_nodes
from scaiflow_box.compiler.analyze_support import NodeContext
from scaiflow_box.compiler.diagnostics import Diagnostic, error, json_path, warning
from scaiflow_box.compiler.graph import (
    FlowIndex,
    build_index,
    illegal_cycles,
    input_ports,
    output_ports,
    reachable,
)
from scaiflow_box.compiler.kinds import ENTRY_KINDS
from scaiflow_box.compiler.naming import slugify
from scaiflow_box.compiler.schema import FlowDict, structural_errors

Out = list[Diagnostic]
KNOWN_TARGETS = ("0.2",)


def schema_diagnostics(content: object, items: list[dict[str, Any]]) -> list[Diagnostic]:
    """Schema error items as diagnostics, with node/edge ids when resolvable."""
    diagnostics = []
    for item in items:
        loc = item["loc"]
        path = json_path(loc)
        node_id = edge_id = None
        if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(content, dict):
            seq = content.get(loc[0]) if loc[0] in ("nodes", "edges") else None
            if isinstance(seq, list) and loc[1] < len(seq) and isinstance(seq[loc[1]], dict):
                found = seq[loc[1]].get("id")
                if isinstance(found, str):
                    node_id, edge_id = (found, None) if loc[0] == "nodes" else (None, found)
        diagnostics.append(
            Diagnostic(
                "error", f"schema.{item['type']}", f"{path}: {item['msg']}", path, node_id, edge_id
            )
        )
    return diagnostics


def _flow_level(content: FlowDict, out: Out) -> None:
    if not slugify(content["name"]):
        out.append(
            error(
                "flow_name_invalid", "flow name must contain at least one letter or digit", ["name"]
            )
        )
    target = content.get("scaicore_target")
    if target is not None and target not in KNOWN_TARGETS:
        out.append(
            warning(
                "scaicore_target_unknown",
                f"scaicore_target {target!r} is not known to this compiler (it targets "
                f"{', '.join(KNOWN_TARGETS)}); the manifest may not deploy",
                ["scaicore_target"],
            )
        )


def _ids(index: FlowIndex, out: Out) -> None:
    for i, node in enumerate(index.nodes):
        node_id = node["id"]
        if not node_id.strip():
            out.append(
                error(
                    "id_empty",
                    f"node at {json_path(['nodes', i])} has an empty id",
                    ["nodes", i, "id"],
                )
            )
        elif index.node_pos[node_id] != i:
            out.append(
                error(
                    "node_id_duplicate",
                    f"duplicate node id {node_id!r}",
                    ["nodes", i, "id"],
                    node_id=node_id,
                )
            )
    for i, edge in enumerate(index.edges):
        edge_id = edge["id"]
        if not edge_id.strip():
            out.append(
                error(
                    "id_empty",
                    f"edge at {json_path(['edges', i])} has an empty id",
                    ["edges", i, "id"],
                )
            )
        elif index.edge_pos[edge_id] != i:
            out.append(
                error(
                    "edge_id_duplicate",
                    f"duplicate edge id {edge_id!r}",
                    ["edges", i, "id"],
                    edge_id=edge_id,
                )
            )


def _edges(index: FlowIndex, out: Out) -> set[tuple[str, str]]:
    """Port wiring and conditions; returns the used (node, output port) pairs."""
    used: set[tuple[str, str]] = set()
    port_cache: dict[tuple[str, bool], tuple[str, ...]] = {}

    def ports(node_id: str, outgoing: bool) -> tuple[str, ...]:
        key = (node_id, outgoing)
        if key not in port_cache:
            node = index.node(node_id)
            port_cache[key] = output_ports(node) if outgoing else input_ports(node)
        return port_cache[key]

    for i, edge in enumerate(index.edges):
        edge_id = edge["id"]
        for end, endpoint, outgoing in (
            ("source", edge["source"], True),
            ("target", edge["target"], False),
        ):
            node_id, port = endpoint["node"], endpoint["port"]
            if node_id not in index.node_pos:
                out.append(
                    error(
                        "edge_node_unknown",
                        f"edge {edge_id!r}: {end} node {node_id!r} does not exist",
                        ["edges", i, end, "node"],
                        edge_id=edge_id,
                    )
                )
            elif port not in ports(node_id, outgoing):
                direction = "output" if outgoing else "input"
                message = (
                    f"edge {edge_id!r}: {end} node {node_id!r} has no {direction} port {port!r}"
                )
                out.append(
                    error(
                        "edge_port_unknown",
                        message,
                        ["edges", i, end, "port"],
                        node_id=node_id,
                        edge_id=edge_id,
                    )
                )
            elif outgoing:
                used.add((node_id, port))
        condition = edge.get("condition")
        if edge["type"] == "conditional":
            if condition is None or not condition.strip():
                out.append(
                    error(
                        "edge_condition_missing",
                        f"edge {edge_id!r}: conditional edge has no condition",
                        ["edges", i, "condition"],
                        edge_id=edge_id,
                    )
                )
            else:
                problem = expr.check_syntax(condition)
                if problem is not None:
                    out.append(
                        error(
                            "edge_condition_invalid",
                            f"edge {edge_id!r}: condition does not parse: {problem}",
                            ["edges", i, "condition"],
                            edge_id=edge_id,
                        )
                    )
        elif condition is not None:
            out.append(
                warning(
                    "edge_condition_ignored",
                    f"edge {edge_id!r}: condition is ignored on a {edge['type']} edge",
                    ["edges", i, "condition"],
                    edge_id=edge_id,
                )
            )
    return used


def _entries(index: FlowIndex, out: Out) -> None:
    if not index.entries:
        out.append(error("entry_missing", "flow has no entry-point node", ["nodes"]))
        return
    listeners: dict[tuple[str, str], str] = {}
    for node_id in index.entries:
        node = index.node(node_id)
        config = node.get("config") or {}
        method, path = config.get("method"), config.get("path")
        if node["type"] == "entry_schedule" or not isinstance(path, str):
            continue
        key = (str(method or "POST").upper(), path)
        if key in listeners:
            out.append(
                warning(
                    "entry_path_duplicate",
                    f"entry nodes {listeners[key]!r} and {node_id!r} both "
                    f"listen on {key[0]} {key[1]}",
                    ["nodes", index.node_pos[node_id], "config", "path"],
                    node_id=node_id,
                )
            )
        else:
            listeners[key] = node_id


def _cycles(index: FlowIndex, out: Out) -> None:
    for path in illegal_cycles(index):
        out.append(
            error(
                "cycle",
                f"cycle detected: {' -> '.join(path)}",
                ["nodes", index.node_pos[path[0]]],
                node_id=path[0],
            )
        )


def _routing(index: FlowIndex, out: Out) -> None:
    edges = index.edges
    for node_id, edge_ids in index.control_out.items():
        node = index.node(node_id)
        kind = node["type"]
        if kind in ("logic_parallel", "logic_loop"):
            continue
        defaults = [edges[i]["id"] for i in edge_ids if edges[i]["type"] == "sequential"]
        loc: list[str | int] = ["nodes", index.node_pos[node_id]]
        if len(defaults) > 1:
            out.append(
                warning(
                    "edges_ambiguous",
                    f"node {node_id!r} has {len(defaults)} unconditional outgoing "
                    f"edges; only the first ({defaults[0]!r}) is followed (use logic_parallel to "
                    "run branches)",
                    loc,
                    node_id=node_id,
                )
            )
        if kind == "logic_decision" and len(defaults) == len(edge_ids):
            out.append(
                warning(
                    "decision_without_condition",
                    f"decision node {node_id!r} has no conditional outgoing edge",
                    loc,
                    node_id=node_id,
                )
            )


def _usage(index: FlowIndex, used: set[tuple[str, str]], out: Out) -> None:
    live = reachable(index, index.entries) if index.entries else set()
    wired: defaultdict[str, int] = defaultdict(int)
    for node_id, _port in used:
        wired[node_id] += 1
    for i, node in enumerate(index.nodes):
        node_id = node["id"]
        if index.node_pos.get(node_id) != i:
            continue
        if index.entries and node_id not in live:
            out.append(
                warning(
                    "node_unreachable",
                    f"node {node_id!r} is not reachable from any entry-point node",
                    ["nodes", i],
                    node_id=node_id,
                )
            )
        if node["type"] in ENTRY_KINDS and node_id not in index.control_out:
            out.append(
                warning(
                    "entry_unconnected",
                    f"entry-point node {node_id!r} is not connected to any node",
                    ["nodes", i],
                    node_id=node_id,
                )
            )
        declared = node.get("outputs")
        # A node with no wired output is a terminal node, not one with unused ports.
        if declared and wired[node_id]:
            for j, port in enumerate(declared):
                if (node_id, port["id"]) not in used:
                    out.append(
                        warning(
                            "output_port_unused",
                            f"node {node_id!r} has an unused output port {port['id']!r}",
                            ["nodes", i, "outputs", j],
                            node_id=node_id,
                        )
                    )


def analyze(content: FlowDict) -> list[Diagnostic]:
    """The semantic rules, on content that passed ``structural_errors``."""
    out: Out = []
    index = build_index(content)
    _flow_level(content, out)
    check_model_registry(cast(dict[str, Any], content), out)
    _ids(index, out)
    used = _edges(index, out)
    _entries(index, out)
    _cycles(index, out)
    check_nodes(NodeContext(index), out)
    _routing(index, out)
    _usage(index, used, out)
    errors = [d for d in out if d.is_error]
    return errors + [d for d in out if not d.is_error]


def validate_flow(content: object) -> list[Diagnostic]:
    """Schema validation plus the analyze stage; the flow is valid when no
    diagnostic has severity ``error``."""
    items = structural_errors(content)
    if items:
        return schema_diagnostics(content, items)
    return analyze(cast(FlowDict, content))


def is_valid(diagnostics: list[Diagnostic]) -> bool:
    return not any(d.is_error for d in diagnostics)
