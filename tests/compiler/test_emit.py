"""compile_flow: golden manifests, formats, determinism and the step mapping.

Golden files live in tests/compiler/golden/. After an intended change to the
manifest, regenerate them and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/compiler/test_emit.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from scaiflow_box.compiler.emit_yaml import compile_flow
from scaiflow_box.compiler.errors import UnsupportedFormat
from scaiflow_box.compiler.kinds import NODE_KINDS
from tests.compiler.builders import (
    EXAMPLE_NAMES,
    chain,
    edge,
    entry,
    flow,
    from_entry,
    load_example,
    node,
)

GOLDEN = Path(__file__).parent / "golden"


def manifest(content: dict[str, Any]) -> dict[str, Any]:
    result = compile_flow(content)
    assert result.errors == [], result.errors
    assert result.body is not None
    loaded: dict[str, Any] = yaml.safe_load(result.body)
    return loaded


def steps(content: dict[str, Any]) -> list[dict[str, Any]]:
    return list(manifest(content)["core"]["flows"][0]["steps"])


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_golden_manifests(name: str) -> None:
    body = compile_flow(load_example(name)).body
    assert body is not None
    golden = GOLDEN / f"{name}.yaml"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(body, encoding="utf-8")
    assert golden.exists(), f"missing {golden}; run with UPDATE_GOLDEN=1"
    assert body == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_output_is_deterministic(name: str) -> None:
    first = compile_flow(load_example(name), "yaml").body
    assert all(compile_flow(load_example(name), "yaml").body == first for _ in range(3))
    json_body = compile_flow(load_example(name), "json").body
    assert json_body == compile_flow(load_example(name), "json").body


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_json_is_the_same_manifest(name: str) -> None:
    yaml_body = compile_flow(load_example(name), "yaml").body
    json_body = compile_flow(load_example(name), "json").body
    assert yaml_body is not None and json_body is not None
    assert json.loads(json_body) == yaml.safe_load(yaml_body)


def test_json_falls_back_for_values_orjson_refuses() -> None:
    content = chain(("llm_rigid", {"template": "t", "big": 2**80}))
    body = compile_flow(content, "json").body
    assert body is not None
    assert json.loads(body)["core"]["flows"][0]["steps"][1]["meta"]["node_config"]["big"] == 2**80


@pytest.mark.parametrize("fmt", ["ir", "scai", "IR"])
def test_proprietary_formats_raise_unsupported_format(fmt: str) -> None:
    with pytest.raises(UnsupportedFormat) as info:
        compile_flow(load_example("hello-world"), fmt)
    detail = info.value.to_detail()
    assert detail["error"] == "unsupported_format"
    assert "proprietary" in detail["message"] and "'yaml', 'json'" in detail["message"]
    assert detail["fix"].startswith("Compile with format 'yaml'")


def test_unknown_format_names_the_supported_ones() -> None:
    with pytest.raises(UnsupportedFormat) as info:
        compile_flow(load_example("hello-world"), "toml")
    assert isinstance(info.value, ValueError)
    assert info.value.message == "unknown format 'toml'; supported formats are 'yaml', 'json'"


def test_format_is_normalized() -> None:
    assert compile_flow(load_example("hello-world"), " YAML ").format == "yaml"


def test_compile_errors_are_data_and_body_is_null() -> None:
    content = load_example("hello-world")
    content["nodes"][0]["type"] = "llm_flexible"
    result = compile_flow(content)
    assert result.body is None
    assert result.to_dict()["body"] is None
    assert {
        "severity": "error",
        "message": "flow has no entry-point node",
        "path": "$.nodes",
        "node_id": None,
        "edge_id": None,
    } in result.errors
    assert all(e["severity"] == "error" for e in result.errors)


def test_warnings_do_not_block_compilation() -> None:
    content = chain(("llm_rigid", {"template": "t"}))
    content["nodes"].append(node("node_island", "llm_rigid", {"template": "i"}))
    result = compile_flow(content)
    assert result.body is not None and result.errors == []
    assert [w["node_id"] for w in result.warnings] == ["node_island"]


def test_core_header() -> None:
    core = manifest(load_example("customer-support"))["core"]
    assert core["name"] == "customer-support-agent"
    assert core["mode"] == "stateless"
    assert core["runtime_version"] == "0.2"
    assert core["identity"] == {"provider": "scaikey", "persona": "Customer Support Agent"}
    assert core["model"] == "scaigrid/openai/gpt-4o"
    assert core["plugins"] == [{"alias": "scaidrive", "endpoint": "plugin://scaidrive"}]
    assert core["scaiqueue"]["scope"] == "support"
    meta = core["scaiflow_meta"]
    assert meta["source_id"] == "flow_support0000000000"
    assert meta["source_version"] == "1.0.0"
    assert meta["publish_as_model"] is False
    assert [m["role"] for m in meta["models"]] == ["primary", "fast"]
    assert "nodes" not in meta["graph"] and meta["graph"]["edges"]


def test_every_node_kind_maps_to_a_step_with_meta() -> None:
    configs: dict[str, dict[str, Any]] = {
        "entry_api": {"method": "POST", "path": "/a"},
        "entry_webhook": {"method": "POST", "path": "/b", "auth": "hmac"},
        "entry_schedule": {"cron": "0 * * * *"},
        "llm_rigid": {"template": "t"},
        "llm_guarded": {"goal": "g", "guard": "ok"},
        "llm_flexible": {"goal": "g"},
        "logic_loop": {"items": "xs"},
        "tool_plugin": {"plugin": "acme", "method": "m"},
        "tool_http": {"url": "https://x"},
        "data_variable_set": {"assignments": [{"name": "v", "value": 1}]},
        "queue_publish": {"queue": "q"},
        "queue_consume": {"queue": "q"},
        "hitl_review": {"queue": "q"},
        "queue_escalation": {"queue": "q"},
        "compute_exec": {"command": "ls"},
        "compute_file_upload": {"path": "/a", "content": "x"},
        "compute_file_download": {"path": "/a"},
        "subflow_call": {"target": "core://acme/x"},
    }
    nodes = [node(f"n_{kind}", kind, configs.get(kind, {})) for kind in NODE_KINDS]
    content = flow(nodes, [], scaiqueue={"scope": "s", "queues": [{"slug": "q"}]})
    all_steps = steps(content)
    assert len(all_steps) == len(NODE_KINDS)
    by_kind = {s["meta"]["node_kind"]: s for s in all_steps}
    assert set(by_kind) == set(NODE_KINDS)
    expected_key = {
        "entry_api": "entry",
        "entry_webhook": "entry",
        "entry_schedule": "entry",
        "llm_rigid": "llm_turn",
        "llm_guarded": "llm_turn",
        "llm_flexible": "llm_turn",
        "logic_decision": "decision",
        "logic_loop": "loop",
        "logic_parallel": "parallel",
        "tool_plugin": "plugin_call",
        "tool_http": "http_call",
        "data_variable_set": "set_variables",
        "checkpoint": "checkpoint",
        "queue_publish": "queue_publish",
        "queue_consume": "queue_consume",
        "hitl_review": "checkpoint",
        "hitl_decision": "checkpoint",
        "queue_escalation": "queue_escalate",
        "compute_provision": "plugin_call",
        "compute_exec": "plugin_call",
        "compute_file_upload": "plugin_call",
        "compute_file_download": "plugin_call",
        "compute_destroy": "plugin_call",
        "subflow_call": "subflow",
    }
    for kind, step in by_kind.items():
        assert next(iter(step)) == expected_key[kind], kind
        meta = step["meta"]
        assert meta["node_id"] == f"n_{kind}"
        assert meta["node_label"] == f"n {kind}".replace("_", " ")
        assert meta["node_config"] == configs.get(kind, {})
        assert meta["position"] == {"x": 0, "y": 0}
        assert "next" in step
    methods = {k: s["plugin_call"]["method"] for k, s in by_kind.items() if "compute" in k}
    assert methods == {
        "compute_provision": "create",
        "compute_exec": "exec",
        "compute_file_upload": "write_file",
        "compute_file_download": "read_file",
        "compute_destroy": "destroy",
    }
    assert by_kind["hitl_review"]["checkpoint"] == {
        "type": "hitl_review",
        "queue": "q",
        "scope": "s",
    }
    assert by_kind["checkpoint"]["checkpoint"] == {"type": "approval"}
    assert by_kind["llm_rigid"]["rigid"] is True
    assert by_kind["llm_guarded"]["guarded"] is True and by_kind["llm_guarded"]["guard"] == "ok"


def test_multi_entry_triggers() -> None:
    content = flow(
        [
            entry("node_api", "/a"),
            node("node_cron", "entry_schedule", {"cron": "0 9 * * 1"}),
            node("node_work", "llm_rigid", {"template": "t"}),
        ],
        [
            from_entry("edge_1", "node_work", source="node_api"),
            edge("edge_2", "node_cron", "node_work", source_port="out_tick"),
        ],
    )
    flow_out = manifest(content)["core"]["flows"][0]
    assert flow_out["trigger"] == {
        "type": "api",
        "method": "POST",
        "path": "/a",
        "entry_node": "node_api",
    }
    assert flow_out["additional_triggers"] == [
        {"type": "schedule", "cron": "0 9 * * 1", "entry_node": "node_cron"}
    ]


def test_compute_nodes_default_the_bunker() -> None:
    content = load_example("compute")
    core = manifest(content)["core"]
    default = {"lifecycle": "ephemeral", "image": "python-3.12"}
    assert core["capabilities"] == [{"bunker": default}]
    assert {"alias": "scaibunker", "endpoint": "plugin://scaibunker"} in core["plugins"]
    compute_steps = [s for s in core["flows"][0]["steps"] if "compute" in s["meta"]["node_kind"]]
    assert compute_steps and all(s["bunker"] == default for s in compute_steps)
    assert compute_steps[0]["plugin_call"]["args"] == default


def test_flow_bunker_fills_missing_defaults_and_node_bunker_wins() -> None:
    content = chain(
        ("compute_provision", {"bunker": {"image": "python-3.11", "gpu_count": 1}}),
        bunker={"lifecycle": "session", "memory_mb": 2048},
    )
    core = manifest(content)["core"]
    assert core["capabilities"] == [
        {"bunker": {"lifecycle": "session", "image": "python-3.12", "memory_mb": 2048}}
    ]
    provision = core["flows"][0]["steps"][1]
    assert provision["bunker"] == {
        "lifecycle": "session",
        "image": "python-3.11",
        "memory_mb": 2048,
        "gpu_count": 1,
    }


def test_scope_inheritance_for_queue_and_hitl_nodes() -> None:
    queues = {"scope": "support", "queues": [{"slug": "q"}, {"slug": "r"}]}
    content = chain(
        ("queue_publish", {"queue": "q"}),
        ("hitl_review", {"queue": "r"}),
        ("queue_escalation", {"queue": "x", "scope": "other"}),
        scaiqueue=queues,
    )
    out = steps(content)
    assert out[1]["queue_publish"] == {"queue": "q", "scope": "support"}
    assert out[2]["checkpoint"]["scope"] == "support"
    assert out[3]["queue_escalate"] == {"queue": "x", "scope": "other"}


def test_routing_is_explicit_on_every_step() -> None:
    out = steps(load_example("customer-support"))
    route = next(s for s in out if s["meta"]["node_id"] == "node_route")
    assert route["next"] == [
        {"to": "node_kb", "edge": "edge_route_kb", "when": "intent == 'question'"},
        {"to": "node_escalate", "edge": "edge_route_escalate", "when": "intent == 'complaint'"},
        {"to": "node_other", "edge": "edge_route_other"},
    ]
    assert out[0]["meta"]["node_id"] == "node_start"
    terminal = next(s for s in out if s["meta"]["node_id"] == "node_other")
    assert terminal["next"] == []


def test_loop_and_parallel_payloads() -> None:
    content = flow(
        [
            entry(),
            node("node_loop", "logic_loop", {"items": "xs", "max_iterations": 4}),
            node("node_body", "llm_rigid", {"template": "b"}),
            node("node_par", "logic_parallel", {"join": "node_join"}),
            node("node_a", "llm_rigid", {"template": "a"}),
            node("node_b", "llm_rigid", {"template": "b"}),
            node("node_join", "llm_rigid", {"template": "j"}),
        ],
        [
            from_entry("e0", "node_loop"),
            edge("e1", "node_loop", "node_body", source_port="out_body"),
            edge("e2", "node_body", "node_loop"),
            edge("e3", "node_loop", "node_par", source_port="out_done"),
            edge("e4", "node_par", "node_a"),
            edge("e5", "node_par", "node_b"),
            edge("e6", "node_a", "node_join"),
            edge("e7", "node_b", "node_join"),
        ],
    )
    by_id = {s["meta"]["node_id"]: s for s in steps(content)}
    assert by_id["node_loop"]["loop"] == {
        "items": "xs",
        "max_iterations": 4,
        "style": "foreach",
        "body": "node_body",
        "done": "node_par",
    }
    assert by_id["node_par"]["parallel"] == {"join": "node_join", "branches": ["node_a", "node_b"]}


def test_step_order_follows_control_flow_then_unreachable_nodes() -> None:
    content = flow(
        [
            node("node_island", "llm_rigid", {"template": "i"}),
            node("node_c", "llm_rigid", {"template": "c"}),
            node("node_b", "llm_rigid", {"template": "b"}),
            entry(),
        ],
        [from_entry("e0", "node_b"), edge("e1", "node_b", "node_c")],
    )
    order = [s["meta"]["node_id"] for s in steps(content)]
    assert order == ["node_start", "node_b", "node_c", "node_island"]
    assert [s["meta"]["node_index"] for s in steps(content)] == [3, 2, 1, 0]


def test_llm_steps_resolve_roles_to_models() -> None:
    models = [
        {"role": "primary", "ref": "scaigrid", "model": "a"},
        {"role": "fast", "ref": "local", "model": "b", "fallback": [{"ref": "x", "model": "y"}]},
    ]
    content = chain(
        ("llm_flexible", {"goal": "g", "llm_role": "fast", "budget": {"tokens": 10}}),
        ("llm_guarded", {"goal": "h", "model": "primary"}),
        models=models,
    )
    out = steps(content)
    assert out[1] == {
        **out[1],
        "llm_turn": "g",
        "role": "fast",
        "model": "local/b",
        "fallback": ["x/y"],
        "budget": {"tokens": 10},
    }
    assert out[2]["role"] == "primary" and out[2]["model"] == "scaigrid/a"


def test_absurdly_deep_content_is_a_compile_error_not_a_crash() -> None:
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(3000):
        cursor["a"] = {}
        cursor = cursor["a"]
    content = chain(("llm_rigid", {"template": "t", "deep": deep}))
    for fmt in ("yaml", "json"):
        result = compile_flow(content, fmt)
        assert result.body is None
        assert [e["message"] for e in result.errors] == [
            "flow content is nested too deeply to compile"
        ]
