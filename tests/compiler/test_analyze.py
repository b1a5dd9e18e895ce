"""One test per analyzer rule: message, path and ids (docs/compiler.md, "Diagnostics")."""

from __future__ import annotations

from typing import Any

import pytest

from scaiflow_box.compiler.analyze import is_valid, validate_flow
from scaiflow_box.compiler.diagnostics import Diagnostic
from tests.compiler.builders import (
    EXAMPLE_NAMES,
    PRIMARY,
    chain,
    edge,
    entry,
    flow,
    from_entry,
    load_example,
    node,
)


def only(diagnostics: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, (code, [d.to_dict() for d in diagnostics])
    return found[0]


def codes(diagnostics: list[Diagnostic]) -> set[str]:
    return {d.code for d in diagnostics}


def assert_diag(
    d: Diagnostic,
    message: str,
    path: str | None,
    node_id: str | None = None,
    edge_id: str | None = None,
    severity: str = "error",
) -> None:
    assert d.to_dict() == {
        "severity": severity,
        "message": message,
        "path": path,
        "node_id": node_id,
        "edge_id": edge_id,
    }


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_examples_have_no_diagnostics(name: str) -> None:
    assert validate_flow(load_example(name)) == []


# -- schema ------------------------------------------------------------------------------


def test_schema_error_has_json_path_and_node_id() -> None:
    content = chain(
        ("llm_rigid", {"template": "a"}),
        ("llm_rigid", {"template": "b"}),
        ("llm_rigid", {"template": "c"}),
    )
    content["nodes"][3]["position"]["x"] = "12"
    diagnostics = validate_flow(content)
    assert [d.to_dict() for d in diagnostics] == [
        {
            "severity": "error",
            "message": "$.nodes[3].position.x: Input should be a valid number",
            "path": "$.nodes[3].position.x",
            "node_id": "node_3",
            "edge_id": None,
        }
    ]


def test_schema_errors_stop_analysis_and_carry_edge_ids() -> None:
    content = chain(("llm_rigid", {"template": "a"}))
    content["edges"][0]["type"] = "magic"
    del content["nodes"][0]["label"]
    diagnostics = validate_flow(content)
    assert {(d.path, d.node_id, d.edge_id) for d in diagnostics} == {
        ("$.nodes[0].label", "node_start", None),
        ("$.edges[0].type", None, "edge_1"),
    }
    assert all(d.code.startswith("schema.") for d in diagnostics)


def test_schema_missing_condition_on_conditional_edge() -> None:
    content = chain(("llm_rigid", {"template": "a"}))
    content["edges"][0]["type"] = "conditional"
    d = only(validate_flow(content), "schema.missing")
    assert_diag(
        d,
        "$.edges[0].condition: Field required when type is 'conditional'",
        "$.edges[0].condition",
        edge_id="edge_1",
    )


def test_not_an_object() -> None:
    d = only(validate_flow(["nodes"]), "schema.model_type")
    assert_diag(d, "$: Input should be a JSON object", "$")


# -- ids ---------------------------------------------------------------------------------


def test_duplicate_node_and_edge_ids() -> None:
    content = chain(("llm_rigid", {"template": "a"}), ("llm_rigid", {"template": "b"}))
    content["nodes"][2]["id"] = "node_1"
    content["edges"][1]["id"] = "edge_1"
    content["edges"][1]["target"]["node"] = "node_1"
    diagnostics = validate_flow(content)
    assert_diag(
        only(diagnostics, "node_id_duplicate"),
        "duplicate node id 'node_1'",
        "$.nodes[2].id",
        node_id="node_1",
    )
    assert_diag(
        only(diagnostics, "edge_id_duplicate"),
        "duplicate edge id 'edge_1'",
        "$.edges[1].id",
        edge_id="edge_1",
    )


def test_empty_id() -> None:
    content = chain(("llm_rigid", {"template": "a"}))
    content["nodes"].append(node(" ", "llm_rigid", {"template": "x"}))
    d = only(validate_flow(content), "id_empty")
    assert_diag(d, "node at $.nodes[2] has an empty id", "$.nodes[2].id")


# -- edges and ports ---------------------------------------------------------------------


def test_dangling_source_port_upstream_message() -> None:
    content = flow(
        [
            entry(),
            node("node_abc", "llm_rigid", {"template": "x"}),
            node("node_end", "llm_rigid", {"template": "y"}),
        ],
        [
            from_entry("edge_1", "node_abc"),
            edge("edge_xyz", "node_abc", "node_end", source_port="out_typo"),
        ],
    )
    d = only(validate_flow(content), "edge_port_unknown")
    assert_diag(
        d,
        "edge 'edge_xyz': source node 'node_abc' has no output port 'out_typo'",
        "$.edges[1].source.port",
        node_id="node_abc",
        edge_id="edge_xyz",
    )


def test_dangling_target_port_and_declared_ports() -> None:
    content = flow(
        [entry(), node("node_abc", "llm_rigid", {"template": "x"}, inputs=["in_main"])],
        [from_entry("edge_1", "node_abc")],
    )
    d = only(validate_flow(content), "edge_port_unknown")
    assert_diag(
        d,
        "edge 'edge_1': target node 'node_abc' has no input port 'in'",
        "$.edges[0].target.port",
        node_id="node_abc",
        edge_id="edge_1",
    )


def test_edge_to_missing_node() -> None:
    content = flow([entry()], [from_entry("edge_1", "node_ghost")])
    d = only(validate_flow(content), "edge_node_unknown")
    assert_diag(
        d,
        "edge 'edge_1': target node 'node_ghost' does not exist",
        "$.edges[0].target.node",
        edge_id="edge_1",
    )


def test_entry_nodes_have_no_input_port() -> None:
    content = flow([entry(), entry("node_b", "/b")], [from_entry("edge_1", "node_b")])
    d = only(validate_flow(content), "edge_port_unknown")
    assert d.message == "edge 'edge_1': target node 'node_b' has no input port 'in'"


def test_conditional_edge_with_empty_condition() -> None:
    content = chain(("llm_rigid", {"template": "a"}))
    content["edges"][0].update(type="conditional", condition="  ")
    d = only(validate_flow(content), "edge_condition_missing")
    assert_diag(
        d,
        "edge 'edge_1': conditional edge has no condition",
        "$.edges[0].condition",
        edge_id="edge_1",
    )


def test_condition_that_does_not_parse() -> None:
    content = chain(("llm_rigid", {"template": "a"}))
    content["edges"][0].update(type="conditional", condition="intent = 'x'")
    d = only(validate_flow(content), "edge_condition_invalid")
    assert_diag(
        d,
        "edge 'edge_1': condition does not parse: unexpected '=' at position 7 "
        "(use '==' to compare)",
        "$.edges[0].condition",
        edge_id="edge_1",
    )


def test_condition_on_sequential_edge_is_a_warning() -> None:
    content = chain(("llm_rigid", {"template": "a"}))
    content["edges"][0]["condition"] = "true"
    d = only(validate_flow(content), "edge_condition_ignored")
    assert_diag(
        d,
        "edge 'edge_1': condition is ignored on a sequential edge",
        "$.edges[0].condition",
        edge_id="edge_1",
        severity="warning",
    )


# -- entries and cycles ------------------------------------------------------------------


def test_no_entry_point_upstream_message() -> None:
    content = flow([node("node_a", "llm_rigid", {"template": "a"})], [])
    d = only(validate_flow(content), "entry_missing")
    assert_diag(d, "flow has no entry-point node", "$.nodes")


def test_empty_flow_has_no_entry() -> None:
    diagnostics = validate_flow({"id": "f", "name": "n", "version": "1.0.0"})
    assert [d.message for d in diagnostics] == ["flow has no entry-point node"]


def test_cycle_upstream_message() -> None:
    content = flow(
        [
            entry(),
            node("node_a", "llm_rigid", {"template": "a"}),
            node("node_b", "llm_rigid", {"template": "b"}),
        ],
        [
            from_entry("edge_0", "node_a"),
            edge("edge_1", "node_a", "node_b"),
            edge("edge_2", "node_b", "node_a"),
        ],
    )
    d = only(validate_flow(content), "cycle")
    assert_diag(d, "cycle detected: node_a -> node_b -> node_a", "$.nodes[1]", node_id="node_a")


def test_self_loop_is_a_cycle() -> None:
    content = chain(("llm_rigid", {"template": "a"}))
    content["edges"].append(edge("edge_self", "node_1", "node_1"))
    assert only(validate_flow(content), "cycle").message == "cycle detected: node_1 -> node_1"


def test_loop_through_logic_loop_body_is_allowed() -> None:
    content = flow(
        [
            entry(),
            node("node_loop", "logic_loop", {"items": "input.items", "max_iterations": 5}),
            node("node_body", "llm_rigid", {"template": "{{item}}"}),
            node("node_after", "llm_rigid", {"template": "done"}),
        ],
        [
            from_entry("edge_0", "node_loop"),
            edge("edge_body", "node_loop", "node_body", source_port="out_body"),
            edge("edge_back", "node_body", "node_loop"),
            edge("edge_done", "node_loop", "node_after", source_port="out_done"),
        ],
    )
    assert validate_flow(content) == []


def test_cycle_through_a_loop_done_port_is_not_a_loop() -> None:
    content = flow(
        [
            entry(),
            node("node_loop", "logic_loop", {"items": "xs"}),
            node("node_after", "llm_rigid", {"template": "done"}),
        ],
        [
            from_entry("edge_0", "node_loop"),
            edge("edge_done", "node_loop", "node_after", source_port="out_done"),
            edge("edge_again", "node_after", "node_loop"),
        ],
    )
    d = only(validate_flow(content), "cycle")
    assert d.message == "cycle detected: node_loop -> node_after -> node_loop"


# -- models and llm roles ----------------------------------------------------------------


def test_undeclared_llm_role_upstream_message() -> None:
    content = flow(
        [entry(), node("node_xyz", "llm_flexible", {"goal": "g", "llm_role": "fastt"})],
        [from_entry("edge_0", "node_xyz")],
    )
    d = only(validate_flow(content), "llm_role_undeclared")
    assert_diag(
        d,
        "llm_role validation failed: node 'node_xyz': llm_role='fastt' is not declared",
        "$.nodes[1].config.llm_role",
        node_id="node_xyz",
    )


def test_legacy_model_alias_is_checked_as_a_role() -> None:
    content = chain(("llm_guarded", {"goal": "g", "model": "fastt"}))
    d = only(validate_flow(content), "llm_role_undeclared")
    assert d.path == "$.nodes[1].config.model"
    assert "llm_role='fastt' is not declared" in d.message
    ok = chain(
        ("llm_guarded", {"goal": "g", "model": "fast"}),
        models=[PRIMARY, {"role": "fast", "ref": "scaigrid", "model": "m"}],
    )
    assert validate_flow(ok) == []


def test_primary_always_names_the_first_model() -> None:
    models = [{"role": "main", "ref": "scaigrid", "model": "m"}]
    assert (
        validate_flow(chain(("llm_flexible", {"goal": "g", "llm_role": "primary"}), models=models))
        == []
    )


def test_llm_node_without_any_model() -> None:
    content = chain(("llm_flexible", {"goal": "g"}))
    del content["config"]["core_identity"]
    d = only(validate_flow(content), "llm_no_models")
    assert_diag(
        d,
        "llm_role validation failed: node 'node_1': no model is declared in "
        "config.core_identity.models",
        "$.nodes[1].config",
        node_id="node_1",
    )


def test_model_registry_needs_one_model() -> None:
    content = chain(("llm_rigid", {"template": "t"}), models=[])
    content["config"]["core_identity"]["models"] = []
    d = only(validate_flow(content), "models_empty")
    assert_diag(
        d,
        "config.core_identity.models must declare at least one model",
        "$.config.core_identity.models",
    )


def test_model_role_pattern_uniqueness_and_primary_first() -> None:
    models = [
        {"role": "fast", "ref": "scaigrid", "model": "a"},
        {"role": "Fast-2", "ref": "scaigrid", "model": "b"},
        {"role": "fast", "ref": "scaigrid", "model": "c"},
        {"role": "primary", "ref": "scaigrid", "model": "d"},
        {"role": "spare", "ref": " ", "model": "e"},
    ]
    diagnostics = validate_flow(chain(("llm_rigid", {"template": "t"}), models=models))
    base = "$.config.core_identity.models"
    assert_diag(
        only(diagnostics, "model_role_invalid"),
        "model role 'Fast-2' must match ^[a-z][a-z0-9_]*$",
        f"{base}[1].role",
    )
    assert_diag(
        only(diagnostics, "model_role_duplicate"),
        "duplicate model role 'fast' in config.core_identity.models",
        f"{base}[2].role",
    )
    assert_diag(
        only(diagnostics, "model_primary_not_first"),
        "model role 'primary' must be the first entry of config.core_identity.models",
        f"{base}[3].role",
    )
    assert_diag(
        only(diagnostics, "model_field_empty"),
        "model 'spare': ref must not be empty",
        f"{base}[4].ref",
    )


# -- loops -------------------------------------------------------------------------------


def test_while_without_max_iterations_upstream_message() -> None:
    content = chain(("logic_loop", {"style": "while", "condition": "true"}))
    content["edges"][0]["source"]["port"] = "out_request"
    d = only(validate_flow(content), "loop_missing_max_iterations")
    assert_diag(
        d, "while loop missing max_iterations", "$.nodes[1].config.max_iterations", node_id="node_1"
    )


def test_max_iterations_must_be_a_positive_integer() -> None:
    content = chain(("logic_loop", {"style": "while", "max_iterations": 0}))
    d = only(validate_flow(content), "config_invalid")
    assert_diag(
        d,
        "node 'node_1': config.max_iterations: Input should be greater than or equal to 1",
        "$.nodes[1].config.max_iterations",
        node_id="node_1",
    )
    content["nodes"][1]["config"]["max_iterations"] = "3"
    d = only(validate_flow(content), "config_invalid")
    assert d.message == "node 'node_1': config.max_iterations: Input should be a valid integer"


def test_foreach_without_items_is_a_warning_and_bad_items_an_error() -> None:
    d = only(validate_flow(chain(("logic_loop", {"max_iterations": 2}))), "loop_missing_items")
    assert d.severity == "warning" and d.path == "$.nodes[1].config.items"
    d = only(validate_flow(chain(("logic_loop", {"items": "a.("}))), "expression_invalid")
    assert d.message.startswith("node 'node_1': config.items expression does not parse: ")


# -- plugins -----------------------------------------------------------------------------


def test_plugin_missing_required_arg_upstream_message() -> None:
    content = chain(
        ("tool_plugin", {"plugin": "scaidrive", "method": "search", "args": {"query": "q"}})
    )
    d = only(validate_flow(content), "plugin_missing_arg")
    assert_diag(
        d,
        "plugin call 'scaidrive.search': missing required arg 'path'",
        "$.nodes[1].config.args",
        node_id="node_1",
    )


def test_null_arg_counts_as_missing_and_unknown_plugins_are_not_checked() -> None:
    content = chain(
        (
            "tool_plugin",
            {"plugin": "scaidrive", "method": "search", "args": {"query": "q", "path": None}},
        ),
        ("tool_plugin", {"plugin": "acme", "method": "anything"}),
    )
    assert codes(validate_flow(content)) == {"plugin_missing_arg"}


def test_unknown_method_of_known_plugin_is_a_warning() -> None:
    content = chain(("tool_plugin", {"plugin": "scaidrive", "method": "serch", "args": {}}))
    d = only(validate_flow(content), "plugin_unknown_method")
    assert_diag(
        d,
        "plugin call 'scaidrive.serch': plugin 'scaidrive' has no known method 'serch'",
        "$.nodes[1].config.method",
        node_id="node_1",
        severity="warning",
    )


def test_tool_plugin_needs_plugin_and_method() -> None:
    d = only(validate_flow(chain(("tool_plugin", {"method": "x"}))), "config_required")
    assert_diag(
        d,
        "node 'node_1': tool_plugin requires config.plugin",
        "$.nodes[1].config.plugin",
        node_id="node_1",
    )


def test_compute_nodes_are_scaibunker_calls() -> None:
    content = chain(("compute_provision", {}), ("compute_exec", {"timeout": 5}))
    d = only(validate_flow(content), "plugin_missing_arg")
    assert_diag(
        d,
        "plugin call 'scaibunker.exec': missing required arg 'command'",
        "$.nodes[2].config",
        node_id="node_2",
    )


def test_compute_without_provision_is_a_warning() -> None:
    d = only(validate_flow(chain(("compute_exec", {"command": "ls"}))), "compute_without_provision")
    assert d.severity == "warning" and d.node_id == "node_1"


# -- queues and HITL ---------------------------------------------------------------------


def test_hitl_review_without_queue() -> None:
    content = chain(("hitl_review", {}), scaiqueue={"scope": "support", "queues": []})
    d = only(validate_flow(content), "config_required")
    assert_diag(
        d,
        "node 'node_1': hitl_review requires config.queue",
        "$.nodes[1].config.queue",
        node_id="node_1",
    )


def test_hitl_review_without_a_scope_to_inherit() -> None:
    d = only(validate_flow(chain(("hitl_review", {"queue": "review"}))), "scope_missing")
    assert_diag(
        d,
        "node 'node_1': hitl_review has no scope: set config.scope on the node or "
        "config.scaiqueue.scope on the flow",
        "$.nodes[1].config.scope",
        node_id="node_1",
    )


def test_scope_is_inherited_from_the_flow_or_set_on_the_node() -> None:
    queues = {"scope": "support", "queues": [{"slug": "review"}]}
    assert validate_flow(chain(("hitl_review", {"queue": "review"}), scaiqueue=queues)) == []
    assert validate_flow(chain(("hitl_review", {"queue": "review", "scope": "other"}))) == []


def test_queue_not_declared_in_flow_scope_is_a_warning() -> None:
    content = chain(("queue_publish", {"queue": "outbox"}), scaiqueue={"scope": "support"})
    d = only(validate_flow(content), "queue_undeclared")
    assert d.severity == "warning" and d.path == "$.nodes[1].config.queue"
    assert d.message == (
        "node 'node_1': queue 'outbox' is not declared in config.scaiqueue.queues "
        "(deploy provisions only declared queues)"
    )


def test_queue_nodes_need_a_scope_too() -> None:
    d = only(validate_flow(chain(("queue_consume", {"queue": "inbox"}))), "scope_missing")
    assert d.message.startswith("node 'node_1': queue_consume has no scope")


# -- node config -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "config", "code", "message", "path"),
    [
        (
            "llm_rigid",
            {},
            "config_required",
            "node 'node_1': llm_rigid requires config.template",
            "$.nodes[1].config.template",
        ),
        (
            "llm_rigid",
            {"template": "{{ a. }}"},
            "template_invalid",
            "node 'node_1': config.template: placeholder {{a.}}: unexpected end of expression at "
            "position 2 (expected an attribute name after '.')",
            "$.nodes[1].config.template",
        ),
        (
            "llm_flexible",
            {"llm_role": "primary"},
            "config_required",
            "node 'node_1': llm_flexible requires config.goal",
            "$.nodes[1].config.goal",
        ),
        (
            "tool_http",
            {"method": "GET"},
            "config_required",
            "node 'node_1': tool_http requires config.url",
            "$.nodes[1].config.url",
        ),
        (
            "tool_http",
            {"url": "https://x", "method": "FETCH"},
            "config_invalid",
            "node 'node_1': config.method 'FETCH' is not an HTTP method",
            "$.nodes[1].config.method",
        ),
        (
            "subflow_call",
            {"target": "acme/other"},
            "subflow_target_invalid",
            "node 'node_1': config.target 'acme/other' must look like core://{tenant_slug}/{slug}",
            "$.nodes[1].config.target",
        ),
        (
            "data_variable_set",
            {"assignments": [{"name": "x", "value": 1, "expr": "y"}]},
            "assignment_invalid",
            "node 'node_1': assignment 'x' needs exactly one of 'value' or 'expr'",
            "$.nodes[1].config.assignments[0]",
        ),
        (
            "data_variable_set",
            {"assignments": [{"name": "input", "value": 1}]},
            "variable_name_invalid",
            "node 'node_1': 'input' is not a valid variable name (letters, "
            "digits, '_'; not 'input' or 'nodes')",
            "$.nodes[1].config.assignments[0].name",
        ),
        (
            "data_variable_set",
            {"assignments": [{"name": "x", "expr": "a b"}]},
            "expression_invalid",
            "node 'node_1': assignment 'x': expr does not parse: unexpected 'b' at position 2",
            "$.nodes[1].config.assignments[0].expr",
        ),
        (
            "logic_parallel",
            {"join": "node_nowhere"},
            "parallel_join_unknown",
            "node 'node_1': config.join names no node ('node_nowhere')",
            "$.nodes[1].config.join",
        ),
        (
            "tool_plugin",
            {"plugin": "p", "method": "m", "args": []},
            "config_invalid",
            "node 'node_1': config.args: Input should be a JSON object",
            "$.nodes[1].config.args",
        ),
    ],
)
def test_node_config_rules(
    kind: str, config: dict[str, Any], code: str, message: str, path: str
) -> None:
    d = only(validate_flow(chain((kind, config))), code)
    assert_diag(d, message, path, node_id="node_1")


def test_entry_config_rules() -> None:
    content = flow(
        [
            node("node_a", "entry_api", {"method": "YEET", "path": "x"}),
            node("node_s", "entry_schedule", {"cron": "* * * *"}),
            node("node_w", "entry_webhook", {"path": "/hook"}),
            node("node_w2", "entry_webhook", {"method": "post", "path": "/hook"}),
        ],
        [],
    )
    diagnostics = validate_flow(content)
    messages = {d.message for d in diagnostics}
    assert "node 'node_a': config.method 'YEET' is not an HTTP method" in messages
    assert "node 'node_a': config.path must start with '/'" in messages
    assert (
        "node 'node_s': config.cron must be a cron expression of 5 fields (minute hour day month "
        "weekday), got 4 field(s)" in messages
    )
    assert "entry nodes 'node_w' and 'node_w2' both listen on POST /hook" in messages
    assert only(diagnostics, "entry_path_duplicate").path == "$.nodes[3].config.path"


def test_schedule_needs_cron_and_accepts_ranges_steps_and_names() -> None:
    ok = flow(
        [
            node("node_s", "entry_schedule", {"cron": "*/5 9-17 * JAN-MAR mon,wed"}),
            node("node_1", "llm_rigid", {"template": "t"}),
        ],
        [edge("edge_1", "node_s", "node_1", source_port="out_tick")],
    )
    assert validate_flow(ok) == []
    bad = flow([node("node_s", "entry_schedule", {})], [])
    d = only(validate_flow(bad), "config_required")
    assert d.message == "node 'node_s': entry_schedule requires config.cron"


# -- flow-level --------------------------------------------------------------------------


def test_flow_name_must_make_a_slug() -> None:
    content = chain(("llm_rigid", {"template": "t"}))
    content["name"] = "!!!"
    d = only(validate_flow(content), "flow_name_invalid")
    assert_diag(d, "flow name must contain at least one letter or digit", "$.name")


def test_unknown_scaicore_target_is_a_warning() -> None:
    content = chain(("llm_rigid", {"template": "t"}))
    content["scaicore_target"] = "9.9"
    d = only(validate_flow(content), "scaicore_target_unknown")
    assert d.severity == "warning" and d.path == "$.scaicore_target"


# -- reachability and ports --------------------------------------------------------------


def test_unused_output_port_upstream_message() -> None:
    content = flow(
        [
            entry(),
            node(
                "node_review",
                "hitl_review",
                {"queue": "r", "scope": "s"},
                outputs=["out_ok", "out_aux"],
            ),
            node("node_done", "llm_rigid", {"template": "t"}),
        ],
        [
            from_entry("edge_0", "node_review"),
            edge("edge_1", "node_review", "node_done", source_port="out_ok"),
        ],
    )
    d = only(validate_flow(content), "output_port_unused")
    assert_diag(
        d,
        "node 'node_review' has an unused output port 'out_aux'",
        "$.nodes[1].outputs[1]",
        node_id="node_review",
        severity="warning",
    )


def test_terminal_node_ports_are_not_unused() -> None:
    content = flow(
        [entry(), node("node_end", "llm_rigid", {"template": "t"}, outputs=["out"])],
        [from_entry("edge_0", "node_end")],
    )
    assert validate_flow(content) == []


def test_unreachable_node_is_a_warning() -> None:
    content = chain(("llm_rigid", {"template": "t"}))
    content["nodes"].append(node("node_island", "llm_rigid", {"template": "t"}))
    diagnostics = validate_flow(content)
    assert is_valid(diagnostics)
    d = only(diagnostics, "node_unreachable")
    assert_diag(
        d,
        "node 'node_island' is not reachable from any entry-point node",
        "$.nodes[2]",
        node_id="node_island",
        severity="warning",
    )


def test_unconnected_entry_is_a_warning() -> None:
    d = only(validate_flow(flow([entry()], [])), "entry_unconnected")
    assert_diag(
        d,
        "entry-point node 'node_start' is not connected to any node",
        "$.nodes[0]",
        node_id="node_start",
        severity="warning",
    )


def test_two_unconditional_edges_warn_and_decision_without_condition_warns() -> None:
    content = flow(
        [
            entry(),
            node("node_d", "logic_decision"),
            node("node_a", "llm_rigid", {"template": "a"}),
            node("node_b", "llm_rigid", {"template": "b"}),
        ],
        [
            from_entry("edge_0", "node_d"),
            edge("edge_a", "node_d", "node_a"),
            edge("edge_b", "node_d", "node_b"),
        ],
    )
    diagnostics = validate_flow(content)
    assert only(diagnostics, "edges_ambiguous").message == (
        "node 'node_d' has 2 unconditional outgoing edges; only the first ('edge_a') is followed "
        "(use logic_parallel to run branches)"
    )
    assert only(diagnostics, "decision_without_condition").severity == "warning"


def test_errors_come_before_warnings() -> None:
    content = chain(("hitl_review", {"queue": "r"}))
    content["nodes"].append(node("node_island", "llm_rigid", {"template": "t"}))
    severities = [d.severity for d in validate_flow(content)]
    assert severities == sorted(severities)  # "error" < "warning"
    assert severities[0] == "error" and severities[-1] == "warning"


def test_large_generated_flow_is_valid() -> None:
    from bench.compiler_bench import make_flow  # the benchmark's generator

    content = make_flow(2000)
    assert [d for d in validate_flow(content) if d.is_error] == []


def test_remaining_node_rules() -> None:
    diagnostics = validate_flow(chain(("data_variable_set", {})))
    assert_diag(
        only(diagnostics, "assignments_empty"),
        "node 'node_1': data_variable_set has no assignments",
        "$.nodes[1].config.assignments",
        node_id="node_1",
        severity="warning",
    )
    bad_cron = flow([node("node_s", "entry_schedule", {"cron": "61x * * * *"})], [])
    assert_diag(
        only(validate_flow(bad_cron), "cron_invalid"),
        "node 'node_s': config.cron has an invalid minute field '61x' (allowed 0-59)",
        "$.nodes[0].config.cron",
        node_id="node_s",
    )
    bad_command = chain(("compute_provision", {}), ("compute_exec", {"command": ["ls", 1]}))
    assert_diag(
        only(validate_flow(bad_command), "config_invalid"),
        "node 'node_2': config.command must be a string or a list of strings",
        "$.nodes[2].config.command",
        node_id="node_2",
    )


def test_edge_from_missing_node() -> None:
    content = chain(("llm_rigid", {"template": "t"}))
    content["edges"].append(edge("edge_ghost", "node_ghost", "node_1"))
    assert_diag(
        only(validate_flow(content), "edge_node_unknown"),
        "edge 'edge_ghost': source node 'node_ghost' does not exist",
        "$.edges[1].source.node",
        edge_id="edge_ghost",
    )


@pytest.mark.parametrize(
    ("cron", "problem"),
    [
        ("* * * * *", None),
        ("0 0 1 1 0", None),
        ("59 23 31 12 7", None),
        ("*/15 0-6/2 * dec sun-sat", None),
        ("60 * * * *", "has an invalid minute field '60' (allowed 0-59)"),
        ("* 24 * * *", "has an invalid hour field '24' (allowed 0-23)"),
        ("* * 0 * *", "has an invalid day of month field '0' (allowed 1-31)"),
        ("* * * 13 *", "has an invalid month field '13' (allowed 1-12)"),
        ("* * * * mon-sun", "has an invalid day of week field 'mon-sun' (allowed 0-7)"),
        ("*/0 * * * *", "has an invalid minute field '*/0' (allowed 0-59)"),
        ("1,,2 * * * *", "has an invalid minute field '1,,2' (allowed 0-59)"),
        ("* * * jan *", None),
        (
            "@daily",
            "must be a cron expression of 5 fields (minute hour day month weekday), got 1 field(s)",
        ),
    ],
)
def test_cron_validation(cron: str, problem: str | None) -> None:
    from scaiflow_box.compiler.cron import cron_problem

    assert cron_problem(cron) == problem
