"""import_manifest: best effort for hand-written YAML, and safe on hostile input."""

from __future__ import annotations

import time

import pytest
import yaml

from scaiflow_box.compiler.analyze import validate_flow
from scaiflow_box.compiler.emit_yaml import compile_flow
from scaiflow_box.compiler.errors import ImportFailed
from scaiflow_box.compiler.importer import import_manifest
from scaiflow_box.compiler.schema import structural_errors
from scaiflow_box.compiler.yaml_writer import dump_yaml
from tests.compiler.builders import load_example

HAND_WRITTEN = """\
core:
  name: customer-support-agent
  mode: stateless
  runtime_version: "0.2"
  description: Written by hand.
  identity: {provider: scaikey, persona: "Customer Support Agent"}
  model: scaigrid/openai/gpt-4o
  plugins: [{alias: scaidrive, endpoint: plugin://scaidrive}]
  capabilities: [{bunker: {lifecycle: ephemeral, image: python-3.12}}, {network: lan}]
  scaiqueue: {scope: support, queues: [{slug: review, purpose: review}]}
  flows:
    - name: customer-support-agent
      trigger: {type: api, method: POST, path: /support}
      steps:
        - llm_turn: "Classify the customer intent."
        - plugin_call:
            {alias: scaidrive, method: search, args: {path: /kb, query: "{{input.message}}"}}
        - llm_turn: "Answer from the results."
          guarded: true
          guard: "confidence > 0.7"
        - send_email: {to: ops@example.org}
        - checkpoint: {type: hitl_review, scope: support, queue: review}
        - plugin_call: {alias: scaibunker, method: exec, args: {command: ls}}
"""


def test_hand_written_manifest_best_effort() -> None:
    content, warnings = import_manifest(HAND_WRITTEN)
    assert structural_errors(content) == []
    kinds = [(n["id"], n["type"]) for n in content["nodes"]]
    assert kinds == [
        ("node_1", "entry_api"),
        ("node_2", "llm_flexible"),
        ("node_3", "tool_plugin"),
        ("node_4", "llm_guarded"),
        ("node_5", "hitl_review"),
        ("node_6", "compute_exec"),
    ]
    # auto-layout: one column, 120 px apart
    assert [n["position"] for n in content["nodes"]] == [{"x": 0, "y": 120 * i} for i in range(6)]
    assert content["nodes"][0]["config"] == {"method": "POST", "path": "/support"}
    assert content["nodes"][3]["config"] == {
        "goal": "Answer from the results.",
        "guard": "confidence > 0.7",
    }
    assert content["nodes"][4]["config"] == {"scope": "support", "queue": "review"}
    # sequential chain from the trigger through the known steps
    pairs = [
        (e["source"]["node"], e["source"]["port"], e["target"]["node"]) for e in content["edges"]
    ]
    assert pairs == [
        ("node_1", "out_request", "node_2"),
        ("node_2", "out", "node_3"),
        ("node_3", "out", "node_4"),
        ("node_4", "out", "node_5"),
        ("node_5", "out", "node_6"),
    ]
    assert content["metadata"] == {
        "description": "Written by hand.",
        "unknown_steps": [{"send_email": {"to": "ops@example.org"}}],
    }
    config = content["config"]
    assert config["core_identity"] == {
        "name": "Customer Support Agent",
        "models": [{"role": "primary", "ref": "scaigrid", "model": "openai/gpt-4o"}],
    }
    assert config["bunker"] == {"lifecycle": "ephemeral", "image": "python-3.12"}
    assert config["capabilities"] == [{"network": "lan"}]
    assert config["scaiqueue"]["scope"] == "support"
    assert content["name"] == "customer-support-agent" and content["scaicore_target"] == "0.2"
    assert any("not written by ScaiFlow" in w for w in warnings)
    assert "step 4: unknown step 'send_email' kept in metadata.unknown_steps" in warnings
    # the imported flow is a usable flow: it validates (warnings only) and compiles
    assert not [d for d in validate_flow(content) if d.is_error]
    assert compile_flow(content).body is not None


def test_explicit_next_ids_and_decisions() -> None:
    content, warnings = import_manifest("""
core:
  name: router
  flows:
    - name: router
      steps:
        - id: start
          entry: {type: webhook, path: /hook}
        - id: decide
          decision: {}
          next:
            - {to: yes_path, when: "ok == true"}
            - {to: no_path}
            - {to: nowhere}
        - {id: yes_path, llm_turn: "Yes", rigid: true, next: []}
        - {id: no_path, llm_turn: "No", rigid: true}
""")
    assert [n["type"] for n in content["nodes"]] == [
        "entry_webhook",
        "logic_decision",
        "llm_rigid",
        "llm_rigid",
    ]
    edges = [
        (e["source"]["node"], e["target"]["node"], e.get("condition")) for e in content["edges"]
    ]
    assert edges == [
        ("start", "decide", None),
        ("decide", "yes_path", "ok == true"),
        ("decide", "no_path", None),
    ]
    assert "step 'decide': 'next' names no step ('nowhere'); edge dropped" in warnings
    assert content["edges"][1]["type"] == "conditional"


def test_missing_name_and_trigger_are_reported() -> None:
    content, warnings = import_manifest("core: {flows: [{steps: [{llm_turn: hi}]}]}")
    assert content["name"] == "imported-flow"
    assert "the manifest has no trigger; add an entry node before deploying" in warnings
    assert content["nodes"][0]["type"] == "llm_flexible"


def test_steps_added_by_hand_to_our_own_manifest() -> None:
    body = compile_flow(load_example("hello-world")).body
    assert body is not None
    document = yaml.safe_load(body)
    document["core"]["flows"][0]["steps"] += [
        {"llm_turn": "Added by hand.", "rigid": True},
        {"mystery": 1},
    ]
    content, warnings = import_manifest(dump_yaml(document))
    assert [n["id"] for n in content["nodes"]] == ["node_start", "node_greet", "node_1"]
    assert content["nodes"][2]["config"] == {"template": "Added by hand."}
    assert content["nodes"][2]["position"] == {"x": 0, "y": 240}
    assert content["metadata"]["unknown_steps"] == [{"mystery": 1}]
    assert "2 step(s) without meta were imported on a best-effort basis" in warnings


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("core: [unclosed", "invalid YAML: "),
        ("just a string", "not a ScaiCore manifest: expected a top-level 'core' mapping"),
        ("core: 5", "not a ScaiCore manifest"),
        ("- core: {}", "not a ScaiCore manifest"),
        ("a: 1\n---\nb: 2\n", "invalid YAML"),
        ("core: !!python/object:os.system {}", "invalid YAML"),
        ("core: {x: !!binary aGVsbG8=}", "binary YAML values are not supported"),
        ("core: {x: .inf}", "is not a JSON number"),
    ],
)
def test_unusable_input_raises_import_failed(text: str, message: str) -> None:
    with pytest.raises(ImportFailed) as info:
        import_manifest(text)
    assert message in info.value.message


def test_yaml_error_reports_line_and_column() -> None:
    with pytest.raises(ImportFailed) as info:
        import_manifest("core:\n  name: a\n   bad: [\n")
    assert "line" in info.value.message and "column" in info.value.message


def test_alias_bomb_fails_fast() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 12):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    lines.append("core: {flows: [{steps: *a11}]}")
    started = time.perf_counter()
    with pytest.raises(ImportFailed) as info:
        import_manifest("\n".join(lines))
    assert "too large once aliases are expanded" in info.value.message
    assert time.perf_counter() - started < 10


def test_recursive_alias_and_deep_nesting_fail_cleanly() -> None:
    with pytest.raises(ImportFailed):
        import_manifest("core: &c {self: *c}")
    with pytest.raises(ImportFailed) as info:
        import_manifest("core: " + "[" * 5000 + "]" * 5000)
    assert "nest" in info.value.message


def test_dates_and_odd_keys_become_json() -> None:
    content, _ = import_manifest("""
core:
  name: dated
  flows:
    - steps:
        - http_call: {url: "https://x", since: 2024-01-02, 2: two, true: yes, null: nothing}
""")
    assert content["nodes"][0]["config"] == {
        "url": "https://x",
        "since": "2024-01-02",
        "2": "two",
        "true": True,
        "null": "nothing",
    }


def test_size_limit_and_type_checks() -> None:
    with pytest.raises(ImportFailed):
        import_manifest(b"core: {}")  # type: ignore[arg-type]
    with pytest.raises(ImportFailed) as info:
        import_manifest("#" * (8 * 1024 * 1024 + 1))
    assert "larger than" in info.value.message


def test_loop_parallel_and_compute_steps_are_recognized() -> None:
    content, warnings = import_manifest("""
core:
  name: shapes
  flows:
    - trigger: {type: schedule, cron: "0 * * * *"}
      steps:
        - {id: l, loop: {style: foreach, items: xs, body: b, done: p}}
        - {id: b, set_variables: [{name: n, value: 1}], next: [{to: l}]}
        - {id: p, parallel: {branches: [q, s], join: null}}
        - {id: q, queue_publish: {queue: out, scope: s}}
        - {id: s, subflow: {target: "core://acme/x"}}
        - id: z
          plugin_call: {alias: scaibunker, method: create, args: {image: py}}
          bunker: {lifecycle: session}
""")
    types = {n["id"]: n["type"] for n in content["nodes"]}
    assert types == {
        "node_1": "entry_schedule",
        "l": "logic_loop",
        "b": "data_variable_set",
        "p": "logic_parallel",
        "q": "queue_publish",
        "s": "subflow_call",
        "z": "compute_provision",
    }
    ports = {
        (e["source"]["node"], e["source"]["port"], e["target"]["node"]) for e in content["edges"]
    }
    assert {
        ("node_1", "out_tick", "l"),
        ("l", "out_body", "b"),
        ("l", "out_done", "p"),
        ("b", "out", "l"),
        ("p", "out", "q"),
        ("p", "out", "s"),
    } <= ports
    z = next(n for n in content["nodes"] if n["id"] == "z")
    assert z["config"] == {"image": "py", "bunker": {"lifecycle": "session"}}
    assert not [d for d in validate_flow(content) if d.is_error], warnings
