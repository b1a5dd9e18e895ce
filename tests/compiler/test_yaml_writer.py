"""The YAML writer: every JSON value reads back identically, with libyaml, pure Python and
the importer's own reader of this dialect (compiler/yaml_reader.py)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scaiflow_box.compiler.yaml_reader import NotOurDialect, read_yaml
from scaiflow_box.compiler.yaml_writer import dump_yaml

TRICKY = [
    "",
    " ",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "null",
    "Null",
    "~",
    "true",
    "False",
    "1",
    "1.0",
    "-1",
    "+1",
    "0x1F",
    "0o17",
    "0b101",
    "1_000",
    "1e5",
    ".inf",
    "-.inf",
    ".nan",
    "2024-01-01",
    "2024-01-01T12:00:00Z",
    "12:30:00",
    "<<",
    "=",
    "-",
    "- a",
    "? a",
    ": a",
    "a: b",
    "a #b",
    "#a",
    "a#b",
    " a",
    "a ",
    "'a'",
    '"a"',
    "[a]",
    "{a}",
    "a, b",
    "*a",
    "&a",
    "!a",
    "%a",
    "@a",
    "`a`",
    "|",
    ">",
    "a\nb",
    "a\n",
    "a\n\n",
    "\na",
    "\n",
    " \n",
    "a\n b",
    " a\nb",
    "a\r\nb",
    "a\tb",
    "\t",
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\xa0",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffe",
    "\uffff",
    "é",
    "日本語",
    "\U0001f600",
    "a" * 1200,
    "/path/to",
    "//x",
    "a/b: c",
    "---",
    "...",
    "--- a",
    "a---",
    "x" * 90 + " tail",
    "Hello, {{name}}!",
    "{{input.message}}",
    "plugin://scaidrive",
    "intent == 'complaint'",
]

text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",))),
    st.text(alphabet=st.sampled_from(list("ab :#-\n\t '\"|>yn{}[],&*!%@`?/\\.0e+ \u2028\x85"))),
    st.sampled_from(TRICKY),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(text, inner, max_size=5)),
    max_leaves=30,
)


def same(a: Any, b: Any) -> bool:
    """Equal with equal types all the way down (1, 1.0 and True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) or (isinstance(a, float) and a != a and b != b)


def both_loaders(document: str) -> Any:
    fast = yaml.load(document, Loader=yaml.CSafeLoader)
    slow = yaml.load(document, Loader=yaml.SafeLoader)
    assert fast == slow
    try:
        ours = read_yaml(document)
    except NotOurDialect:
        return fast  # the importer hands such text to PyYAML
    assert same(ours, fast), (document, ours, fast)
    return fast


@pytest.mark.parametrize("value", TRICKY)
def test_tricky_strings_round_trip(value: str) -> None:
    for data in (value, {value: value}, [value], {"k": [value, {value: [value]}]}):
        assert both_loaders(dump_yaml(data)) == data


@pytest.mark.parametrize(
    "value",
    [
        0,
        -0.0,
        1.5,
        1e16,
        1e-7,
        -2.5e300,
        5e-324,
        2**70,
        -(2**64),
        True,
        False,
        None,
        [],
        {},
        [[]],
        [{}],
        {"a": {}},
        [[1, [2, [3]]]],
        {"a": [{"b": [{"c": None}]}]},
    ],
)
def test_numbers_and_nesting_round_trip(value: Any) -> None:
    document = dump_yaml(value)
    loaded = both_loaders(document)
    assert loaded == value
    assert type(loaded) is type(value)


def test_lone_surrogates_become_replacement_characters() -> None:
    assert both_loaders(dump_yaml({"a": "x\ud800y"})) == {"a": "x\ufffdy"}


def test_layout_is_readable() -> None:
    data = {
        "core": {
            "name": "demo",
            "position": {"x": 0, "y": 120},
            "steps": [{"llm_turn": "Line one.\nLine two.\n", "next": []}, [1, 2]],
            "empty": {},
            "on": "yes",
        }
    }
    assert dump_yaml(data) == (
        "core:\n"
        "  name: demo\n"
        '  position: {x: 0, "y": 120}\n'
        "  steps:\n"
        "    - llm_turn: |\n"
        "        Line one.\n"
        "        Line two.\n"
        "      next: []\n"
        "    - [1, 2]\n"
        "  empty: {}\n"
        '  "on": "yes"\n'
    )


def test_no_anchors_for_shared_objects_and_deterministic() -> None:
    shared = {"a": [1, 2, {"b": "c" * 100}]}
    data = {"x": shared, "y": shared, "z": [shared, shared]}
    document = dump_yaml(data)
    assert "&" not in document and "*" not in document
    assert dump_yaml(data) == document
    assert both_loaders(document) == data


def test_long_keys_use_explicit_key_syntax() -> None:
    key = "k" * 1500
    data = {key: {key: [1]}, "list": [{key: "v"}]}
    document = dump_yaml(data)
    assert "? " in document
    assert both_loaders(document) == data


def test_refuses_non_json_values() -> None:
    with pytest.raises(TypeError):
        dump_yaml({"a": object()})
    with pytest.raises(TypeError):
        dump_yaml({1: "a"})


@settings(max_examples=400, deadline=None)
@given(values)
def test_any_json_value_round_trips(value: Any) -> None:
    assert both_loaders(dump_yaml(value)) == value
