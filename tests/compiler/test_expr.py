"""The safe expression language: grammar, semantics and hostile input."""

from __future__ import annotations

import time
from typing import Any

import pytest

from scaiflow_box.compiler.expr import (
    MAX_EXPRESSION_LENGTH,
    ExpressionError,
    check_syntax,
    evaluate_text,
    parse,
    render_template,
    template_errors,
)

SCOPE: dict[str, Any] = {
    "intent": "complaint",
    "confidence": 0.82,
    "count": 3,
    "flag": True,
    "nothing": None,
    "items": [1, 2, 3],
    "tags": ["vip", "eu"],
    "customer": {"name": "Ada", "tier": "gold", "address": {"city": "Zurich"}, "length": 99},
    "nodes": {"node-1": {"ok": True}},
    "text": "it is broken",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("intent == 'complaint'", True),
        ('intent != "complaint"', False),
        ("confidence > 0.7", True),
        ("confidence >= 0.82 and count <= 3", True),
        ("count < 3 or flag", True),
        ("not flag", False),
        ("!flag || count == 3", True),
        ("flag && count == 3", True),
        ("not not flag", True),
        ("items.length == 3", True),
        ("text.length", 12),
        ("customer.length", 99),  # a real key wins over .length
        ("tags.length > 1", True),
        ("customer.name", "Ada"),
        ("customer.address.city == 'Zurich'", True),
        ("customer['tier']", "gold"),
        ("nodes['node-1'].ok", True),
        ("items[0]", 1),
        ("items[-1]", 3),
        ("items[10]", None),
        ("customer.missing", None),
        ("customer.missing.deeper", None),  # optional chaining
        ("nothing == null", True),
        ("nothing == None", True),
        ("'vip' in tags", True),
        ("'gold' not in tags", True),
        ("'broken' in text", True),
        ("'name' in customer", True),
        ("intent in ['complaint', 'bug']", True),
        ("[1, 2,] == [1, 2]", True),
        ("-1 < 0", True),
        ("1e3 == 1000", True),
        ("true == 1", False),  # JSON equality: a boolean is not a number
        ("1 == 1.0", True),
        ("(count == 3) == true", True),
        ("'a\\'b' == \"a'b\"", True),
        ("'\\u00e9' == 'é'", True),
        ("'abc' < 'abd'", True),
        ("[] == []", True),
        ("count", 3),
    ],
)
def test_evaluation(expression: str, expected: Any) -> None:
    assert evaluate_text(expression, SCOPE) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("unknown_name", "unknown name 'unknown_name'"),
        ("count < 'a'", "cannot compare a number with a string using '<'"),
        ("flag > 1", "cannot compare a boolean with a number using '>'"),
        ("count.x", "cannot read attribute 'x' of a number"),
        ("items['a']", "a list index must be an integer, got a string"),
        ("items[true]", "a list index must be an integer, got a boolean"),
        ("customer[1]", "an object index must be a string, got a number"),
        ("count[0]", "cannot index a number"),
        ("1 in text", "'in <string>' needs a string on the left, got a number"),
        ("1 in customer", "'in <object>' needs a string key, got a number"),
        ("1 in count", "'in' needs a list, string or object on the right, got a number"),
    ],
)
def test_evaluation_errors(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate_text(expression, SCOPE)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty expression"),
        ("a ==", "unexpected end of expression at position 4"),
        ("a = 1", "unexpected '=' at position 2 (use '==' to compare)"),
        ("a + 1", "unexpected '+' at position 2 (there is no arithmetic)"),
        ("x ** 99999999", "unexpected '*' at position 2 (there is no arithmetic)"),
        (
            "a < b < c",
            "chained comparison at position 6 is not supported; combine comparisons with 'and'",
        ),
        ("f(1)", "function calls are not allowed ('f' at position 0)"),
        ("a.b()", "unexpected '(' at position 3"),
        ("__class__", "names starting with '_' are not allowed ('__class__' at position 0)"),
        ("a.__class__", "names starting with '_' are not allowed ('__class__' at position 2)"),
        ("a._private", "names starting with '_' are not allowed ('_private' at position 2)"),
        ("'abc", "unterminated string starting at position 0"),
        ("'abc\\", "unterminated string starting at position 0"),
        ("'\\q'", "invalid escape '\\q' at position 1"),
        ("'\\u12'", "invalid \\u escape at position 1"),
        ("-a", "'-' at position 0 is only allowed before a number (no arithmetic)"),
        ("1e999", "number '1e999' at position 0 is out of range"),
        ("a.", "unexpected end of expression at position 2 (expected an attribute name after '.')"),
        ("(a", "unexpected end of expression at position 2 (expected ')')"),
        ("[1 2]", "unexpected '2' at position 3 (expected ',' or ']')"),
        ("a $ b", "unexpected character '$' at position 2"),
        ("in", "unexpected 'in' at position 0 (a keyword cannot be used here)"),
        ("lambda: 1", "unexpected character ':' at position 6"),
    ],
)
def test_syntax_errors(expression: str, message: str) -> None:
    assert check_syntax(expression) == message


def _fails_fast(expression: str, expected_fragment: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        evaluate_text(expression, SCOPE)
    assert expected_fragment in str(info.value)
    assert time.perf_counter() - started < 0.5


def test_hostile_deep_nesting_is_refused() -> None:
    _fails_fast("(" * 10_000 + "1" + ")" * 10_000, "expression is too long")
    _fails_fast("(" * 400 + "1" + ")" * 400, "nested too deeply (the limit is 32)")
    _fails_fast("not " * 100 + "flag", "nested too deeply")
    _fails_fast("[" * 100 + "]" * 100, "nested too deeply")
    _fails_fast("customer" + ".a" * 40, "nested too deeply")
    assert evaluate_text("(" * 31 + "count" + ")" * 31, SCOPE) == 3


def test_hostile_huge_inputs_are_refused() -> None:
    _fails_fast("'" + "a" * (1024 * 1024) + "'", "expression is too long (1048578 characters")
    _fails_fast("9" * 5000, "expression is too long")
    _fails_fast("'" + "a" * 2000, "expression is too long")


def test_big_numbers_stay_cheap() -> None:
    big = "9" * (MAX_EXPRESSION_LENGTH - 5)
    started = time.perf_counter()
    assert evaluate_text(f"{big} > 1", SCOPE) is True
    assert time.perf_counter() - started < 0.5


def test_long_flat_chains_do_not_recurse() -> None:
    expression = "||".join(["flag"] * 150)
    assert len(expression) < MAX_EXPRESSION_LENGTH
    assert evaluate_text(expression, SCOPE) is True


def test_no_python_objects_are_reachable() -> None:
    # attribute access reads JSON keys only; Python attributes do not exist
    for expression in ("text.upper", "items.append", "count.real", "flag.conjugate"):
        with pytest.raises(ExpressionError, match="cannot read attribute"):
            evaluate_text(expression, SCOPE)
    assert evaluate_text("customer.keys", SCOPE) is None
    assert evaluate_text("customer['__class__']", SCOPE) is None  # just a missing key


def test_non_string_expression() -> None:
    with pytest.raises(ExpressionError):
        parse(42)  # type: ignore[arg-type]


def test_templates() -> None:
    scope = {"name": "Ada", "n": 2, "xs": [1, {"a": None}], "ok": True, "none": None}
    assert render_template("Hi {{name}}, {{ n }} items", scope) == "Hi Ada, 2 items"
    assert render_template("{{xs}} {{ok}} [{{none}}]", scope) == '[1, {"a": null}] true []'
    assert render_template("no {{ placeholders here", scope) == "no {{ placeholders here"
    assert render_template("{{ xs.length }}", scope) == "2"
    with pytest.raises(ExpressionError) as info:
        render_template("{{ missing }}", scope)
    assert str(info.value) == "placeholder {{missing}}: unknown name 'missing'"
    assert template_errors("{{ a }} {{ b. }} {{ c ==  }}") == [
        "placeholder {{b.}}: unexpected end of expression at position 2 (expected an attribute "
        "name after '.')",
        "placeholder {{c ==}}: unexpected end of expression at position 4",
    ]


def test_template_with_a_megabyte_of_text_renders_linearly() -> None:
    template = ("word " * 200_000) + "{{name}}"
    started = time.perf_counter()
    assert render_template(template, {"name": "x"}).endswith("word x")
    assert time.perf_counter() - started < 1.0
