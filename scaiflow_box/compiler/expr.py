"""The safe expression language of conditions, loop bounds and ``{{…}}`` templates.

Parsing is in ``expr_syntax`` (a whitelisted grammar: literals, names,
``.attr``/``[index]`` access, ``.length``, comparisons, ``and``/``or``/``not``,
``in``, list literals). Evaluation here works on plain JSON data only: attribute
access reads dict keys, never Python attributes; there is no arithmetic and no
call, and nothing reaches ``eval``. Every expression is bounded in length and
depth, so it parses and evaluates in time linear in its length.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from scaiflow_box.compiler.expr_syntax import (
    KEYWORDS,
    MAX_EXPRESSION_LENGTH,
    MAX_NESTING_DEPTH,
    Attr,
    BoolOp,
    Compare,
    Expr,
    ExpressionError,
    Index,
    Lit,
    Name,
    Not,
    parse,
)

__all__ = [
    "KEYWORDS",
    "MAX_EXPRESSION_LENGTH",
    "MAX_NESTING_DEPTH",
    "ExpressionError",
    "check_syntax",
    "evaluate",
    "evaluate_text",
    "json_equal",
    "parse",
    "render_template",
    "template_errors",
    "to_text",
    "truthy",
    "type_name",
]

_MAX_VALUE_DEPTH: Final = 128


# Evaluation -----------------------------------------------------------------------


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def truthy(value: object) -> bool:
    return bool(value)


def json_equal(a: object, b: object, depth: int = 0) -> bool:
    """Equality of JSON values: ``true`` is not ``1``; ``1`` equals ``1.0``."""
    if depth > _MAX_VALUE_DEPTH:
        raise ExpressionError("value is nested too deeply to compare")
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(json_equal(x, y, depth + 1) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(json_equal(a[k], b[k], depth + 1) for k in a)
        )
    if isinstance(b, list | tuple | dict):
        return False
    return a == b


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _attribute(obj: object, name: str) -> Any:
    if obj is None:
        return None  # optional chaining: a missing object stays missing
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
        return len(obj) if name == "length" else None
    if name == "length" and isinstance(obj, list | str):
        return len(obj)
    raise ExpressionError(f"cannot read attribute {name!r} of a {type_name(obj)}")


def _index(obj: object, key: object) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        if not isinstance(key, str):
            raise ExpressionError(f"an object index must be a string, got a {type_name(key)}")
        return obj.get(key)
    if isinstance(obj, list | str):
        if type(key) is not int:
            raise ExpressionError(
                f"a {type_name(obj)} index must be an integer, got a {type_name(key)}"
            )
        if -len(obj) <= key < len(obj):
            return obj[key]
        return None
    raise ExpressionError(f"cannot index a {type_name(obj)}")


def _compare(op: str, left: object, right: object) -> bool:
    if op == "==":
        return json_equal(left, right)
    if op == "!=":
        return not json_equal(left, right)
    if op in ("in", "not in"):
        if isinstance(right, list | tuple):
            found = any(json_equal(left, item) for item in right)
        elif isinstance(right, str):
            if not isinstance(left, str):
                raise ExpressionError(
                    f"'in <string>' needs a string on the left, got a {type_name(left)}"
                )
            found = left in right
        elif isinstance(right, dict):
            if not isinstance(left, str):
                raise ExpressionError(f"'in <object>' needs a string key, got a {type_name(left)}")
            found = left in right
        else:
            raise ExpressionError(
                f"'in' needs a list, string or object on the right, got a {type_name(right)}"
            )
        return found if op == "in" else not found
    if (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    ):
        a: Any = left
        b: Any = right
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        return bool(a >= b)
    raise ExpressionError(
        f"cannot compare a {type_name(left)} with a {type_name(right)} using {op!r}"
    )


def evaluate(node: Expr, scope: Mapping[str, Any]) -> Any:
    """Evaluate a parsed expression against ``scope`` (plain JSON data)."""
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Name):
        if node.name not in scope:
            raise ExpressionError(f"unknown name {node.name!r}")
        return scope[node.name]
    if isinstance(node, Attr):
        return _attribute(evaluate(node.obj, scope), node.name)
    if isinstance(node, Index):
        return _index(evaluate(node.obj, scope), evaluate(node.index, scope))
    if isinstance(node, Compare):
        return _compare(node.op, evaluate(node.left, scope), evaluate(node.right, scope))
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(truthy(evaluate(item, scope)) for item in node.operands)
        return any(truthy(evaluate(item, scope)) for item in node.operands)
    if isinstance(node, Not):
        return not truthy(evaluate(node.operand, scope))
    return [evaluate(item, scope) for item in node.items]


def evaluate_text(text: str, scope: Mapping[str, Any]) -> Any:
    return evaluate(parse(text), scope)


def check_syntax(text: str) -> str | None:
    """``None`` when ``text`` parses, else the reason it does not."""
    try:
        parse(text)
    except ExpressionError as exc:
        return str(exc)
    return None


# Templates ------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


def placeholders(template: str) -> list[str]:
    """The expressions inside ``{{…}}`` placeholders, stripped."""
    return [m.group(1).strip() for m in _PLACEHOLDER.finditer(template)]


def template_errors(template: str) -> list[str]:
    errors = []
    for text in placeholders(template):
        problem = check_syntax(text)
        if problem is not None:
            errors.append(f"placeholder {{{{{text}}}}}: {problem}")
    return errors


def to_text(value: object) -> str:
    """How a value appears in rendered text: strings as-is, ``null`` as nothing,
    everything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def render_template(template: str, scope: Mapping[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        text = match.group(1).strip()
        try:
            return to_text(evaluate_text(text, scope))
        except ExpressionError as exc:
            raise ExpressionError(f"placeholder {{{{{text}}}}}: {exc}") from None

    return _PLACEHOLDER.sub(substitute, template)
