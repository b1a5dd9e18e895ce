"""The flow content the benchmarks store: a structurally valid FlowGraph (SPEC §5.1).

Sized so that `GET /api/v1/flows/{id}` answers with a ~1.8 KB document, the size the
performance budgets in DESIGN.md are stated for.
"""

from __future__ import annotations

from typing import Any

BENCH_MARKER = "@@N@@"


def bench_content(marker: str = "seed") -> dict[str, Any]:
    """Three nodes, two edges; `marker` lands in `canvas_extra` so each version can differ."""

    def port(port_id: str, label: str) -> dict[str, str]:
        return {"id": port_id, "label": label, "type": "object"}

    return {
        "id": "ignored", "name": "bench", "version": "0.0.0", "scaicore_target": "0.2",
        "metadata": {"description": "Benchmark flow: an API entry point, a classifier and a"
                                    " reply step. Its size is chosen so the flow document is"
                                    " about 1.8 KB, like a small flow saved from the canvas.",
                     "tags": ["bench", "support", "triage"]},
        "variables": [], "tests": [],
        "nodes": [
            {"id": "node_entry", "type": "entry_api", "label": "Entry",
             "position": {"x": 0, "y": 0}, "config": {"method": "POST", "path": "/bench"},
             "inputs": [], "outputs": [port("out_request", "request")]},
            {"id": "node_classify", "type": "llm_rigid", "label": "Classify",
             "position": {"x": 180, "y": 0},
             "config": {"template": "Classify the request {{request.body}} into one of:"
                                    " question, complaint, praise, other. Answer with one word."},
             "inputs": [port("in", "in")], "outputs": [port("out", "out")]},
            {"id": "node_reply", "type": "llm_rigid", "label": "Reply",
             "position": {"x": 360, "y": 0},
             "config": {"template": "Write a short, friendly reply to a {{classify.out}}."},
             "inputs": [port("in", "in")], "outputs": []},
        ],
        "edges": [
            {"id": "edge_1", "type": "sequential",
             "source": {"node": "node_entry", "port": "out_request"},
             "target": {"node": "node_classify", "port": "in"}},
            {"id": "edge_2", "type": "sequential",
             "source": {"node": "node_classify", "port": "out"},
             "target": {"node": "node_reply", "port": "in"}},
        ],
        "config": {"core_identity": {"name": "Bench", "models": [
            {"role": "primary", "ref": "scaigrid", "model": "openai/gpt-4o"}]}},
        "canvas_extra": {"zoom": 1.0, "marker": marker},
    }
