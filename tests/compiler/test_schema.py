"""``structural_errors`` (the 422 check) and its agreement with the pydantic models."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from scaiflow_box.compiler.flow_table import FLOW
from scaiflow_box.compiler.schema import FlowGraph, structural_errors
from scaiflow_box.compiler.structure import ErrorItem, _check_obj, _validator, check_object
from tests.compiler.builders import EXAMPLE_NAMES, load_example


def reference_errors(content: object) -> list[tuple[tuple[Any, ...], str, str]]:
    """What the pydantic FlowGraph says, plus the conditional-edge rule."""
    items: list[tuple[tuple[Any, ...], str, str]] = []
    try:
        FlowGraph.model_validate(content)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False):
            msg = err["msg"]
            if err["type"] in ("model_type", "model_attributes_type", "dict_type"):
                msg = "Input should be a JSON object"
            items.append((tuple(err["loc"]), err["type"], msg))
    if isinstance(content, dict) and isinstance(content.get("edges"), list):
        for i, edge in enumerate(content["edges"]):
            if (
                isinstance(edge, dict)
                and edge.get("type") == "conditional"
                and edge.get("condition") is None
            ):
                items.append(
                    (
                        ("edges", i, "condition"),
                        "missing",
                        "Field required when type is 'conditional'",
                    )
                )
    return sorted(items, key=repr)


def fast_errors(content: object) -> list[tuple[tuple[Any, ...], str, str]]:
    return sorted(
        ((tuple(e["loc"]), e["type"], e["msg"]) for e in structural_errors(content)), key=repr
    )


def test_examples_are_structurally_valid() -> None:
    for name in EXAMPLE_NAMES:
        content = load_example(name)
        assert structural_errors(content) == []
        FlowGraph.model_validate(content)


def test_fastapi_item_shape() -> None:
    content = load_example("hello-world")
    content["nodes"][1]["position"] = {"x": True}
    assert structural_errors(content) == [
        {
            "loc": ["nodes", 1, "position", "x"],
            "msg": "Input should be a valid number",
            "type": "float_type",
        },
        {"loc": ["nodes", 1, "position", "y"], "msg": "Field required", "type": "missing"},
    ]


def test_required_fields_and_closed_enums() -> None:
    errors = structural_errors({"nodes": [{"type": "teleport"}], "edges": [{"type": "wormhole"}]})
    by_loc = {tuple(e["loc"]): e["type"] for e in errors}
    assert by_loc[("id",)] == by_loc[("name",)] == by_loc[("version",)] == "missing"
    assert by_loc[("nodes", 0, "type")] == "literal_error"
    assert by_loc[("edges", 0, "type")] == "literal_error"
    assert by_loc[("edges", 0, "source")] == "missing"


def test_config_enums_and_ranges() -> None:
    content = load_example("customer-support")
    content["config"]["scaiqueue"]["queues"][0].update(consumer_mode="lifo", max_retries=101)
    content["config"]["bunker"] = {"lifecycle": "forever", "gpu_count": -1}
    assert fast_errors(content) == reference_errors(content)
    types = {tuple(e["loc"][-1:]): e["type"] for e in structural_errors(content)}
    assert types == {
        ("consumer_mode",): "literal_error",
        ("max_retries",): "less_than_equal",
        ("lifecycle",): "literal_error",
        ("gpu_count",): "greater_than_equal",
    }


def test_strict_types_no_coercion() -> None:
    content = load_example("hello-world")
    content["config"]["publish_as_model"] = 1
    content["nodes"][0]["position"]["y"] = "0"
    assert {e["type"] for e in structural_errors(content)} == {"bool_type", "float_type"}


def test_unknown_keys_are_allowed_everywhere() -> None:
    content = load_example("customer-support")
    content["canvas"] = {"zoom": 2}
    content["nodes"][0]["selected"] = True
    content["nodes"][0]["position"]["z"] = 3
    content["edges"][0]["source"]["handle"] = "h"
    content["config"]["theme"] = "dark"
    content["metadata"]["tags"] = ["x"]
    assert structural_errors(content) == []


def test_condition_required_on_conditional_edges_even_with_other_errors() -> None:
    content = load_example("hello-world")
    content["edges"][0]["type"] = "conditional"
    content["name"] = 5
    assert [e["loc"] for e in structural_errors(content)] == [["name"], ["edges", 0, "condition"]]


def test_huge_integers_are_not_numbers_for_positions() -> None:
    content = load_example("hello-world")
    content["nodes"][0]["position"]["x"] = 10**400
    assert fast_errors(content) == reference_errors(content)
    assert structural_errors(content)[0]["type"] == "float_type"


# Differential test: the fast checker and the pydantic models agree --------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.sampled_from(["entry_api", "conditional", "fifo", "review"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated_flows(draw: st.DrawFn) -> Any:
    content = copy.deepcopy(load_example(draw(st.sampled_from(EXAMPLE_NAMES))))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(content)[1:]
        path = draw(st.sampled_from(paths))
        parent: Any = content
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "null"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "null":
            parent[path[-1]] = None
        else:
            parent[path[-1]] = draw(json_values)
    return content


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_flows())
def test_fast_checker_agrees_with_pydantic_models(content: Any) -> None:
    assert fast_errors(content) == reference_errors(content)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_flows())
def test_the_yes_no_check_agrees_with_the_walk_that_explains(content: Any) -> None:
    """The generated yes/no check (`structure._validator`) says True exactly when the walk
    that locates errors finds none: never a valid flow refused, never an invalid one let by."""
    walked: list[ErrorItem] = []
    _check_obj(content, FLOW, (), walked)
    assert _validator(FLOW)(content) is (not walked)
    assert check_object(content, FLOW, ()) == walked
