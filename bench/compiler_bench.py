"""Compiler scale benchmark: structural check, validate and compile at 50 .. 5,000 nodes.

    .venv/bin/python bench/compiler_bench.py [--repeat N] [--sizes 50,500,2000,5000]

Flows are realistic mixes (LLM turns, decisions with merging branches, plugin and
HTTP calls, HITL reviews, variables, subflows) with declared ports on every node,
so every analyzer rule and every step mapping runs. Times are medians of N runs
with the garbage collector enabled, as in the server. Budgets (DESIGN.md):
compile of 500 nodes < 50 ms, validate of 2,000 nodes < 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scaiflow_box.compiler.analyze import validate_flow
from scaiflow_box.compiler.emit_yaml import compile_flow
from scaiflow_box.compiler.importer import import_manifest
from scaiflow_box.compiler.schema import structural_errors
from scaiflow_box.gc_pause import gc_paused

BLOCK = 10  # nodes per repeated block


def _ports(names: list[str]) -> list[dict[str, str]]:
    return [{"id": n, "label": n.replace("_", " "), "type": "any"} for n in names]


def _node(node_id: str, kind: str, config: dict[str, Any], y: int) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": kind,
        "label": f"{kind} {node_id}",
        "position": {"x": (y % 7) * 160, "y": y * 120},
        "config": config,
        "inputs": _ports(["in"]),
        "outputs": _ports(["out"]),
    }


def _edge(
    edge_id: str, source: str, target: str, condition: str | None = None, source_port: str = "out"
) -> dict[str, Any]:
    edge: dict[str, Any] = {
        "id": edge_id,
        "type": "conditional" if condition else "sequential",
        "source": {"node": source, "port": source_port},
        "target": {"node": target, "port": "in"},
    }
    if condition:
        edge["condition"] = condition
    return edge


def make_flow(n_nodes: int) -> dict[str, Any]:
    """A valid flow of about ``n_nodes`` nodes (an entry plus blocks of 10)."""
    start = _node("node_start", "entry_api", {"method": "POST", "path": "/bench"}, 0)
    start["inputs"], start["outputs"] = [], _ports(["out_request"])
    nodes, edges = [start], []
    previous, port = "node_start", "out_request"
    for b in range(max(1, round((n_nodes - 1) / BLOCK))):
        p = f"b{b}_"
        y = 1 + b * BLOCK
        block = [
            _node(
                p + "classify",
                "llm_flexible",
                {
                    "goal": "Classify the request.",
                    "llm_role": "fast",
                    "input_bindings": {"text": "{{input.message}}"},
                },
                y,
            ),
            _node(p + "route", "logic_decision", {}, y + 1),
            _node(
                p + "search",
                "tool_plugin",
                {
                    "plugin": "scaidrive",
                    "method": "search",
                    "args": {"path": "/kb", "query": "{{input.message}}", "limit": 5},
                },
                y + 2,
            ),
            _node(
                p + "answer",
                "llm_guarded",
                {
                    "goal": "Answer from the results.",
                    "llm_role": "primary",
                    "guard": "confidence > 0.7",
                    "output_schema": {"type": "object"},
                },
                y + 3,
            ),
            _node(
                p + "remember",
                "data_variable_set",
                {
                    "assignments": [
                        {"name": "last_intent", "expr": "intent"},
                        {"name": "seen", "value": True},
                    ]
                },
                y + 4,
            ),
            _node(
                p + "draft", "llm_rigid", {"template": "Intent {{last_intent}}: {{answer}}"}, y + 5
            ),
            _node(p + "review", "hitl_review", {"queue": "review", "sections": ["answer"]}, y + 6),
            _node(
                p + "notify",
                "tool_http",
                {"method": "POST", "url": "https://hooks.example/x", "body": {"text": "{{text}}"}},
                y + 7,
            ),
            _node(
                p + "publish", "queue_publish", {"queue": "outbox", "message": "{{text}}"}, y + 8
            ),
            _node(
                p + "sub",
                "subflow_call",
                {
                    "target": "core://acme/summarize",
                    "input_bindings": {"text": "{{text}}"},
                    "timeout": 30,
                },
                y + 9,
            ),
        ]
        ids = [n["id"] for n in block]
        nodes.extend(block)
        edges.append(_edge(f"{p}e0", previous, ids[0], source_port=port))
        edges.append(_edge(f"{p}e1", ids[0], ids[1]))
        edges.append(_edge(f"{p}e2", ids[1], ids[2], condition="intent == 'question'"))
        edges.append(_edge(f"{p}e3", ids[1], ids[3]))
        edges.append(_edge(f"{p}e4", ids[2], ids[3]))
        for i in range(3, BLOCK - 1):
            edges.append(_edge(f"{p}e{i + 2}", ids[i], ids[i + 1]))
        previous, port = ids[-1], "out"
    return {
        "id": "flow_bench",
        "name": f"Bench {n_nodes}",
        "version": "1.0.0",
        "scaicore_target": "0.2",
        "nodes": nodes,
        "edges": edges,
        "variables": [{"name": "last_intent", "default": None}],
        "config": {
            "core_identity": {
                "name": "Bench",
                "models": [
                    {"role": "primary", "ref": "scaigrid", "model": "openai/gpt-4o"},
                    {"role": "fast", "ref": "scaigrid", "model": "openai/gpt-4o-mini"},
                ],
            },
            "plugins": [{"alias": "scaidrive"}],
            "scaiqueue": {"scope": "bench", "queues": [{"slug": "review"}, {"slug": "outbox"}]},
        },
    }


def _import_as_the_endpoint_does(body: str) -> object:
    """POST /flows/import pauses the collector around the import (scaiflow_box/gc_pause.py)."""
    with gc_paused():
        return import_manifest(body)


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--sizes", default="50,500,2000,5000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    header = (
        f"{'nodes':>6} {'edges':>6} {'struct ms':>10} {'validate ms':>12} {'compile yaml ms':>16} "
        f"{'compile json ms':>16} {'import ms':>10} {'yaml KiB':>9} {'ms/node (val)':>14}"
    )
    print(header)
    print("-" * len(header))
    for size in sizes:
        content = make_flow(size)
        n, e = len(content["nodes"]), len(content["edges"])
        yaml_result = compile_flow(content, "yaml")
        assert yaml_result.body is not None, yaml_result.errors
        repeat = max(3, args.repeat // (1 + size // 2000))
        body = yaml_result.body
        struct = _median_ms(partial(structural_errors, content), repeat)
        validate = _median_ms(partial(validate_flow, content), repeat)
        comp_yaml = _median_ms(partial(compile_flow, content, "yaml"), repeat)
        comp_json = _median_ms(partial(compile_flow, content, "json"), repeat)
        imported = _median_ms(partial(_import_as_the_endpoint_does, body), max(3, repeat // 3))
        print(
            f"{n:>6} {e:>6} {struct:>10.2f} {validate:>12.2f} {comp_yaml:>16.2f} "
            f"{comp_json:>16.2f} {imported:>10.2f} {len(body) / 1024:>9.0f} "
            f"{validate / n:>14.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
