"""Run-tests (SPEC §6): the deterministic local runner and its response shape."""

from __future__ import annotations

from typing import Any

import pytest

from scaiflow_box.compiler.errors import FlowInvalid
from scaiflow_box.services.testrunner import run_tests
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


def one(content: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    response = run_tests(content, [test])
    assert len(response["results"]) == 1
    result: dict[str, Any] = response["results"][0]
    return result


def strip_times(response: dict[str, Any]) -> dict[str, Any]:
    return {
        **response,
        "duration_ms": 0,
        "results": [{**r, "duration_ms": 0} for r in response["results"]],
    }


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_tests_pass(name: str) -> None:
    content = load_example(name)
    response = run_tests(content, None)
    assert response["failed"] == response["errors"] == 0, response
    assert response["passed"] == len(content["tests"]) > 0


def test_response_shape_and_determinism() -> None:
    content = load_example("customer-support")
    response = run_tests(content, None)
    assert set(response) == {"version", "passed", "failed", "errors", "duration_ms", "results"}
    assert response["version"] == "1.0.0"
    result = response["results"][0]
    assert set(result) == {"name", "status", "duration_ms", "visits", "output", "failures", "error"}
    assert result["name"] == "confident answer is sent directly"
    assert result["status"] == "passed" and result["failures"] == [] and result["error"] is None
    assert result["visits"] == [
        "node_start",
        "node_classify",
        "node_route",
        "node_kb",
        "node_answer",
        "node_reply",
    ]
    assert isinstance(result["duration_ms"], float)
    assert strip_times(run_tests(content, None)) == strip_times(response)


def test_failures_say_expected_and_got() -> None:
    content = load_example("customer-support")
    test = {
        "name": "wrong expectations",
        "input": {"message": "broken"},
        "mocks": {"node_classify": {"intent": "complaint"}},
        "expect": {
            "visits": ["node_escalate", "node_classify"],
            "not_visits": ["node_escalate"],
            "output": {"intent": "question", "missing": {"deep": 1}},
            "checkpoints": ["node_review"],
        },
    }
    result = one(content, test)
    assert result["status"] == "failed"
    visits = '["node_start", "node_classify", "node_route", "node_escalate"]'
    assert result["failures"] == [
        f'expected visits ["node_escalate", "node_classify"] (in order), got {visits}',
        f"expected node 'node_escalate' not to be visited, got visits {visits}",
        'expected checkpoints ["node_review"], got []',
        'expected output.intent = "question", got "complaint"',
        'expected output.missing = {"deep": 1}, got nothing',
    ]
    assert result["output"] == {"message": "broken", "intent": "complaint"}


def test_missing_mock_is_an_error_naming_the_node() -> None:
    content = load_example("customer-support")
    result = one(content, {"name": "no mocks", "input": {"message": "x"}})
    assert result["status"] == "error"
    assert result["failures"] == ["no mock for node 'node_classify' (llm_flexible)"]
    assert result["error"] == "no mock for node 'node_classify' (llm_flexible)"
    assert result["visits"] == ["node_start", "node_classify"]


def test_missing_checkpoint_response_is_an_error_even_when_an_error_is_expected() -> None:
    content = load_example("customer-support")
    test = {
        "name": "review without response",
        "input": {"message": "x"},
        "mocks": {
            "node_classify": {"intent": "question"},
            "node_kb": {},
            "node_answer": {"answer": "a", "confidence": 0.5},
        },
        "expect": {"error": "no checkpoint response"},
    }
    result = one(content, test)
    assert result["status"] == "error"
    assert result["failures"] == ["no checkpoint response for node 'node_review' (hitl_review)"]


@pytest.mark.parametrize(
    ("test", "failures"),
    [
        ("not a dict", ["invalid test case: a test case must be a JSON object"]),
        ({"input": {}}, ["invalid test case: $.name: Field required"]),
        ({"name": ""}, ["invalid test case: $.name: String should have at least 1 character"]),
        (
            {"name": "t", "mocks": []},
            ["invalid test case: $.mocks: Input should be a valid dictionary"],
        ),
        (
            {"name": "t", "expect": {"visit": ["a"]}},
            ["invalid test case: $.expect.visit: Extra inputs are not permitted"],
        ),
        (
            {"name": "t", "expect": {"visits": "node_a"}},
            ["invalid test case: $.expect.visits: Input should be a valid list"],
        ),
        ({"name": "t", "mock": {}}, ["invalid test case: unknown field 'mock'"]),
        (
            {"name": "t", "max_steps": 0},
            ["invalid test case: $.max_steps: Input should be greater than or equal to 1"],
        ),
        (
            {"name": "t", "mocks": {"node_ghost": 1}, "expect": {"not_visits": ["node_gost"]}},
            [
                "test references unknown node 'node_ghost' in mocks",
                "test references unknown node 'node_gost' in expect.not_visits",
            ],
        ),
        (
            {"name": "t", "entry": "node_greet"},
            ["entry 'node_greet' is not an entry-point node of this flow"],
        ),
    ],
)
def test_bad_test_cases_are_error_results(test: Any, failures: list[str]) -> None:
    result = one(load_example("hello-world"), test)
    assert result["status"] == "error"
    assert result["failures"] == failures
    assert result["visits"] == [] and result["output"] is None
    if isinstance(test, dict) and test.get("name"):
        assert result["name"] == test["name"]
    else:
        assert result["name"] == "test 1"


def test_annotation_keys_are_allowed_and_counts_add_up() -> None:
    tests = [
        {"name": "ok", "id": "t1", "description": "d", "tags": ["x"], "input": {"name": "B"}},
        {"name": "bad", "expect": {"output": {"text": "nope"}}},
        {"oops": True},
    ]
    response = run_tests(load_example("hello-world"), tests)
    assert [r["status"] for r in response["results"]] == ["passed", "failed", "error"]
    assert (response["passed"], response["failed"], response["errors"]) == (1, 1, 1)


def test_empty_and_default_test_lists() -> None:
    content = load_example("hello-world")
    assert run_tests(content, [])["results"] == []
    del content["tests"]
    assert run_tests(content, None)["results"] == []


def test_invalid_flow_raises_flow_invalid() -> None:
    content = load_example("hello-world")
    content["nodes"][0]["type"] = "llm_rigid"
    with pytest.raises(FlowInvalid) as info:
        run_tests(content, None)
    assert info.value.error == "compile_error"
    assert {
        "severity": "error",
        "message": "flow has no entry-point node",
        "path": "$.nodes",
        "node_id": None,
        "edge_id": None,
    } in info.value.errors
    with pytest.raises(FlowInvalid):
        run_tests({"nodes": 3}, None)  # type: ignore[dict-item]


def loop_flow(loop_config: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    return flow(
        [
            entry(),
            node("node_loop", "logic_loop", loop_config),
            node("node_body", "data_variable_set", body),
            node("node_after", "llm_rigid", {"template": "last={{ last }}"}),
        ],
        [
            from_entry("e0", "node_loop"),
            edge("e1", "node_loop", "node_body", source_port="out_body"),
            edge("e2", "node_body", "node_loop"),
            edge("e3", "node_loop", "node_after", source_port="out_done"),
        ],
    )


def test_foreach_loop_runs_once_per_item() -> None:
    content = loop_flow(
        {"items": "input.items", "item_var": "it"},
        {"assignments": [{"name": "last", "expr": "it"}]},
    )
    result = one(content, {"name": "loop", "input": {"items": ["a", "b", "c"]}})
    assert result["status"] == "passed"
    assert result["visits"] == ["node_start"] + ["node_loop", "node_body"] * 3 + [
        "node_loop",
        "node_after",
    ]
    assert result["output"]["text"] == "last=c"


def test_loop_bounded_by_max_iterations_and_empty_items() -> None:
    content = loop_flow(
        {"items": "input.items", "max_iterations": 2},
        {"assignments": [{"name": "last", "expr": "item"}]},
    )
    result = one(content, {"name": "bounded", "input": {"items": [1, 2, 3, 4]}})
    assert result["visits"].count("node_body") == 2 and result["output"]["text"] == "last=2"
    result = one(
        content,
        {"name": "empty", "input": {"items": []}, "expect": {"error": "unknown name 'last'"}},
    )
    assert result["status"] == "passed"  # the template then fails, as expected


def test_loop_items_must_be_a_list() -> None:
    content = loop_flow({"items": "input.items"}, {"assignments": [{"name": "last", "value": 1}]})
    result = one(content, {"name": "bad items", "input": {"items": "abc"}})
    assert result["status"] == "error"
    assert result["error"] == "node 'node_loop': loop items must be a list, not string"


def test_while_loop_and_implicit_return_from_the_body() -> None:
    content = flow(
        [
            entry(),
            node(
                "node_loop",
                "logic_loop",
                {"style": "while", "condition": "not done", "max_iterations": 5},
            ),
            node(
                "node_body", "data_variable_set", {"assignments": [{"name": "done", "value": True}]}
            ),
            node("node_after", "llm_rigid", {"template": "done={{done}}"}),
        ],
        [
            from_entry("e0", "node_loop"),
            edge("e1", "node_loop", "node_body", source_port="out_body"),
            edge("e3", "node_loop", "node_after", source_port="out_done"),
        ],
    )
    result = one(content, {"name": "w", "input": {"done": False}})
    assert result["visits"] == ["node_start", "node_loop", "node_body", "node_loop", "node_after"]
    assert result["output"]["text"] == "done=true"
    bounded = one(
        content,
        {"name": "w", "input": {"done": False}, "mocks": {}, "expect": {"visits": ["node_after"]}},
    )
    assert bounded["status"] == "passed"


def test_step_limit_stops_runaway_flows() -> None:
    content = flow(
        [
            entry(),
            node("node_loop", "logic_loop", {"style": "while", "max_iterations": 10**9}),
            node("node_body", "llm_rigid", {"template": "again"}),
        ],
        [
            from_entry("e0", "node_loop"),
            edge("e1", "node_loop", "node_body", source_port="out_body"),
            edge("e2", "node_body", "node_loop"),
        ],
    )
    result = one(content, {"name": "runaway", "max_steps": 50})
    assert result["status"] == "error"
    assert result["error"] == "step limit of 50 node visits exceeded (does a loop never end?)"
    assert len(result["visits"]) == 50
    expected = one(content, {"name": "runaway", "expect": {"error": "step limit"}})
    assert expected["status"] == "passed" and len(expected["visits"]) == 10_000


def test_parallel_branches_run_in_edge_order_then_join() -> None:
    content = flow(
        [
            entry(),
            node("node_par", "logic_parallel", {"join": "node_join"}),
            node("node_a", "data_variable_set", {"assignments": [{"name": "a", "value": 1}]}),
            node("node_b", "data_variable_set", {"assignments": [{"name": "b", "value": 2}]}),
            node("node_join", "llm_rigid", {"template": "{{a}}+{{b}}"}),
        ],
        [
            from_entry("e0", "node_par"),
            edge("e1", "node_par", "node_a"),
            edge("e2", "node_par", "node_b"),
            edge("e3", "node_a", "node_join"),
            edge("e4", "node_b", "node_join"),
        ],
    )
    result = one(content, {"name": "par"})
    assert result["visits"] == ["node_start", "node_par", "node_a", "node_b", "node_join"]
    assert result["output"]["text"] == "1+2"
    del content["nodes"][1]["config"]["join"]  # without a join each branch runs to the end
    content["nodes"][4]["config"]["template"] = "{{a}}"
    result = one(content, {"name": "par"})
    assert result["visits"] == [
        "node_start",
        "node_par",
        "node_a",
        "node_join",
        "node_b",
        "node_join",
    ]


def test_conditional_routing_and_runtime_expression_errors() -> None:
    content = flow(
        [
            entry(),
            node("node_d", "logic_decision"),
            node("node_x", "llm_rigid", {"template": "x"}),
            node("node_y", "llm_rigid", {"template": "y"}),
        ],
        [
            from_entry("e0", "node_d"),
            edge("e1", "node_d", "node_x", condition="score > 5"),
            edge("e2", "node_d", "node_y"),
        ],
    )
    assert one(content, {"name": "high", "input": {"score": 9}})["output"]["text"] == "x"
    assert one(content, {"name": "low", "input": {"score": 1}})["output"]["text"] == "y"
    result = one(content, {"name": "bad", "input": {"score": "9"}})
    assert result["status"] == "error"
    assert (
        result["error"] == "edge 'e1': condition: cannot compare a string with a number using '>'"
    )


def test_checkpoints_send_only_nodes_breakpoints_and_entry_choice() -> None:
    content = flow(
        [
            entry("node_a", "/a"),
            entry("node_b", "/b"),
            node("node_bp", "checkpoint", {"breakpoint": True}),
            node("node_ok", "hitl_decision", {"type": "choice"}),
            node("node_pub", "queue_publish", {"queue": "q", "scope": "s"}),
        ],
        [
            from_entry("e0", "node_bp", source="node_a"),
            from_entry("e1", "node_ok", source="node_b"),
            edge("e2", "node_bp", "node_pub"),
            edge("e3", "node_ok", "node_pub"),
        ],
    )
    result = one(content, {"name": "a", "expect": {"checkpoints": ["node_bp"]}})
    assert result["status"] == "passed" and result["visits"][-1] == "node_pub"
    result = one(
        content,
        {"name": "b", "entry": "node_b", "checkpoint_responses": {"node_ok": {"choice": "x"}}},
    )
    assert result["visits"] == ["node_b", "node_ok", "node_pub"]
    assert result["output"]["response"] == {"choice": "x"}


def test_node_results_are_reachable_by_id_and_reserved_names_are_kept() -> None:
    content = chain(
        ("tool_http", {"url": "https://x"}),
        ("llm_rigid", {"template": "{{ nodes.node_1.status }} {{ input.q }}"}),
    )
    result = one(
        content,
        {
            "name": "ids",
            "input": {"q": "why"},
            "mocks": {"node_1": {"status": 200, "input": "spoof", "nodes": 1}},
        },
    )
    assert result["status"] == "passed"
    assert result["output"] == {"q": "why", "status": 200, "text": "200 why"}


def test_variables_give_initial_values() -> None:
    content = chain(("llm_rigid", {"template": "{{greeting}} {{who}}"}))
    content["variables"] = [{"name": "greeting", "default": "hi"}, "who", {"name": "input"}, 7]
    result = one(content, {"name": "vars", "input": {"who": "you"}})
    assert result["output"] == {"greeting": "hi", "who": "you", "text": "hi you"}


def test_expected_error_that_does_not_happen_fails() -> None:
    result = one(load_example("hello-world"), {"name": "t", "expect": {"error": "boom"}})
    assert result["status"] == "failed"
    assert result["failures"] == ["expected an error containing 'boom', got no error"]


def test_absurdly_deep_test_data_is_an_error_result() -> None:
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(3000):
        cursor["a"] = {}
        cursor = cursor["a"]
    result = one(
        load_example("hello-world"), {"name": "deep", "input": deep, "expect": {"output": deep}}
    )
    assert result["status"] == "error"
    assert result["failures"] == ["test case is nested too deeply to run"]
