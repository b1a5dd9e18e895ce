"""Small builders for flow content used across the compiler tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_NAMES = ("hello-world", "customer-support", "compute")
PRIMARY = {"role": "primary", "ref": "scaigrid", "model": "openai/gpt-4o"}


def load_example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.flow.json").read_text(encoding="utf-8"))


def node(
    node_id: str,
    kind: str,
    config: dict[str, Any] | None = None,
    *,
    outputs: list[str] | None = None,
    inputs: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": node_id,
        "type": kind,
        "label": node_id.replace("_", " "),
        "position": {"x": 0, "y": 0},
        "config": config or {},
    }
    if outputs is not None:
        item["outputs"] = [{"id": p, "label": p, "type": "any"} for p in outputs]
    if inputs is not None:
        item["inputs"] = [{"id": p, "label": p, "type": "any"} for p in inputs]
    item.update(extra)
    return item


def edge(
    edge_id: str,
    source: str,
    target: str,
    *,
    source_port: str = "out",
    target_port: str = "in",
    condition: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": edge_id,
        "type": kind or ("conditional" if condition is not None else "sequential"),
        "source": {"node": source, "port": source_port},
        "target": {"node": target, "port": target_port},
    }
    if condition is not None:
        item["condition"] = condition
    return item


def entry(node_id: str = "node_start", path: str = "/run") -> dict[str, Any]:
    return node(node_id, "entry_api", {"method": "POST", "path": path})


def from_entry(edge_id: str, target: str, source: str = "node_start") -> dict[str, Any]:
    return edge(edge_id, source, target, source_port="out_request")


def flow(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    *,
    models: list[dict[str, Any]] | None = None,
    **config: Any,
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "id": "flow_test",
        "name": "Test Flow",
        "version": "1.0.0",
        "nodes": nodes,
        "edges": edges,
        "config": {"core_identity": {"name": "Tester", "models": models or [dict(PRIMARY)]}},
    }
    content["config"].update(config)
    return content


def chain(*kinds_and_configs: tuple[str, dict[str, Any]], **config: Any) -> dict[str, Any]:
    """An entry followed by one node per (kind, config), wired in sequence."""
    nodes = [entry()]
    edges = []
    previous, port = "node_start", "out_request"
    for i, (kind, cfg) in enumerate(kinds_and_configs, start=1):
        node_id = f"node_{i}"
        nodes.append(node(node_id, kind, cfg))
        edges.append(edge(f"edge_{i}", previous, node_id, source_port=port))
        previous, port = node_id, "out"
    return flow(nodes, edges, **config)


def clone(content: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(content)
