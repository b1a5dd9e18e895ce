"""Hypothesis strategies: valid FlowGraphs with canvas-style unknown keys everywhere."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from scaiflow_box.compiler.kinds import ENTRY_OUTPUT_PORT, NODE_KINDS
from scaiflow_box.compiler.node_config import CONFIG_SPECS

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)

FLOW_KEYS = {
    "id",
    "name",
    "version",
    "scaicore_target",
    "metadata",
    "nodes",
    "edges",
    "variables",
    "config",
    "tests",
}
NODE_KEYS = {"id", "type", "label", "position", "config", "inputs", "outputs"}
EDGE_KEYS = {"id", "type", "source", "target", "condition"}
CONFIG_KEYS = {
    "core_identity",
    "plugins",
    "capabilities",
    "bunker",
    "scaiqueue",
    "publish_as_model",
    "model_visibility_group_ids",
}


def extras(reserved: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = text.filter(lambda k: k not in reserved)
    return st.dictionaries(keys, json_values, max_size=2)


SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda s: s.strip() != "" and "{{" not in s
)

CONFIGS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "entry_api": st.just({"method": "POST", "path": "/run"}),
    "entry_webhook": st.just({"method": "POST", "path": "/hook", "auth": {"type": "hmac"}}),
    "entry_schedule": st.just({"cron": "*/5 * * * *", "timezone": "Europe/Zurich"}),
    "llm_rigid": st.builds(lambda t: {"template": t + " {{ input }}"}, SAFE_TEXT),
    "llm_guarded": st.builds(
        lambda g: {"goal": g, "llm_role": "primary", "guard": "score > 1"}, SAFE_TEXT
    ),
    "llm_flexible": st.builds(
        lambda g, r: {"goal": g, "llm_role": r}, SAFE_TEXT, st.sampled_from(["primary", "fast"])
    ),
    "logic_decision": st.just({}),
    "logic_loop": st.just({"style": "foreach", "items": "input.items", "max_iterations": 3}),
    "logic_parallel": st.just({}),
    "tool_plugin": st.one_of(
        st.builds(
            lambda q: {
                "plugin": "scaidrive",
                "method": "search",
                "args": {"path": "/kb", "query": q},
            },
            SAFE_TEXT,
        ),
        st.just({"plugin": "acme", "method": "do", "args": {}}),
    ),
    "tool_http": st.just({"method": "GET", "url": "https://example.org/x", "timeout": 2.5}),
    "data_variable_set": st.builds(
        lambda v: {"assignments": [{"name": "v1", "value": v}, {"name": "v2", "expr": "v1"}]},
        json_values,
    ),
    "checkpoint": st.just({"type": "approval", "prompt": "ok?", "breakpoint": False}),
    "queue_publish": st.just({"queue": "q1", "scope": "s1", "message": "m"}),
    "queue_consume": st.just({"queue": "q1", "scope": "s1"}),
    "hitl_review": st.just({"queue": "review"}),
    "hitl_decision": st.just({"type": "choice", "options": ["a", "b"]}),
    "queue_escalation": st.just({"queue": "q2", "scope": "s1"}),
    "compute_provision": st.just({"bunker": {"lifecycle": "session", "image": "python-3.12"}}),
    "compute_exec": st.just({"command": ["python", "-V"]}),
    "compute_file_upload": st.just({"path": "/w/a", "content": "x"}),
    "compute_file_download": st.just({"path": "/w/a"}),
    "compute_destroy": st.just({}),
    "subflow_call": st.just({"target": "core://acme/child", "is_async": True}),
}


@st.composite
def node_config(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    config = dict(draw(CONFIGS[kind]))
    typed = {f.name for f in CONFIG_SPECS[kind].fields}
    config.update(draw(extras(typed | set(config) | {"command", "bunker", "join"})))
    return config


def _ports(ids: list[str], draw: st.DrawFn) -> list[dict[str, Any]]:
    ports = []
    for port_id in ids:
        port: dict[str, Any] = {"id": port_id}
        if draw(st.booleans()):
            port.update(
                label=port_id.upper(), type=draw(st.sampled_from(["any", "string", "object"]))
            )
        port.update(draw(extras({"id", "label", "type"})))
        ports.append(port)
    return ports


@st.composite
def valid_flows(draw: st.DrawFn) -> dict[str, Any]:
    """An entry followed by a chain of 1-8 nodes of any kind, plus optional extras."""
    entry_kind = draw(st.sampled_from(sorted(ENTRY_OUTPUT_PORT)))
    others = [k for k in NODE_KINDS if not k.startswith("entry_")]
    kinds = [entry_kind, *draw(st.lists(st.sampled_from(others), min_size=1, max_size=8))]
    nodes: list[dict[str, Any]] = []
    out_ports: list[str] = []
    for i, kind in enumerate(kinds):
        node_id = f"node_{i}"
        out_port = ENTRY_OUTPUT_PORT.get(kind, "out_body" if kind == "logic_loop" else "out")
        node: dict[str, Any] = {
            "id": node_id,
            "type": kind,
            "label": draw(text),
            "position": {
                "x": draw(st.integers(-5000, 5000)),
                "y": draw(st.floats(-1e4, 1e4, allow_nan=False)),
            },
        }
        node["position"].update(draw(extras({"x", "y"})))
        if draw(st.integers(0, 4)) > 0:
            node["config"] = draw(node_config(kind))
        elif kind in (
            "llm_rigid",
            "llm_guarded",
            "llm_flexible",
            "tool_plugin",
            "tool_http",
            "hitl_review",
            "queue_publish",
            "queue_consume",
            "queue_escalation",
            "compute_exec",
            "compute_file_upload",
            "compute_file_download",
            "subflow_call",
            "entry_schedule",
        ):
            node["config"] = draw(node_config(kind))  # these kinds need config
        if draw(st.booleans()):
            node["outputs"] = _ports([out_port], draw)
            if i > 0:
                node["inputs"] = _ports(["in"], draw)
        node.update(draw(extras(NODE_KEYS)))
        nodes.append(node)
        out_ports.append(out_port)
    edges = []
    for i in range(len(nodes) - 1):
        edge: dict[str, Any] = {
            "id": f"edge_{i}",
            "type": "sequential",
            "source": {"node": nodes[i]["id"], "port": out_ports[i]},
            "target": {"node": nodes[i + 1]["id"], "port": "in"},
        }
        if draw(st.booleans()):
            edge["type"] = "conditional"
            edge["condition"] = draw(
                st.sampled_from(
                    ["true", "input.n > 2 and not done", "'x' in tags", "a.b[0] == null"]
                )
            )
        edge["source"].update(draw(extras({"node", "port"})))
        edge.update(draw(extras(EDGE_KEYS)))
        edges.append(edge)
    content: dict[str, Any] = {
        "id": "flow_" + draw(st.text("abcdefgh234567", min_size=1, max_size=16)),
        "name": draw(SAFE_TEXT.filter(lambda s: any(c.isalnum() and c.isascii() for c in s))),
        "version": f"1.0.{draw(st.integers(0, 99))}",
    }
    if draw(st.booleans()):
        content["scaicore_target"] = "0.2"
    if draw(st.booleans()):
        content["metadata"] = {
            "author": draw(text),
            "description": draw(text),
            **draw(extras({"author", "created", "description", "unknown_steps"})),
        }
    content["nodes"] = nodes
    content["edges"] = edges
    if draw(st.booleans()):
        content["variables"] = draw(st.lists(json_values, max_size=3))
    config: dict[str, Any] = {
        "core_identity": {
            "name": draw(text),
            "models": [
                {"role": "primary", "ref": "scaigrid", "model": "openai/gpt-4o"},
                {
                    "role": "fast",
                    "ref": "scaigrid",
                    "model": "openai/gpt-4o-mini",
                    "temperature": 0.1,
                    "fallback": [{"ref": "local", "model": "llama"}],
                },
            ],
        },
        "scaiqueue": {"scope": "support", "queues": [{"slug": "review", "purpose": "review"}]},
    }
    for key, value in (
        ("plugins", ["scaidrive", {"alias": "acme", "endpoint": "plugin://acme"}]),
        ("capabilities", [{"network": "lan"}]),
        ("publish_as_model", True),
        ("model_visibility_group_ids", ["grp_1"]),
        ("bunker", {"lifecycle": "persistent", "cpu_millicores": 500}),
    ):
        if draw(st.booleans()):
            config[key] = value
    config.update(draw(extras(CONFIG_KEYS)))
    content["config"] = config
    if draw(st.booleans()):
        content["tests"] = [{"name": "t", "input": draw(json_values), **draw(extras({"name"}))}]
    content.update(draw(extras(FLOW_KEYS)))
    return content
