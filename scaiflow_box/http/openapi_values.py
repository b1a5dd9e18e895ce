"""What the OpenAPI document says about the values of every request: the rules
`http/json_checks.py` and `http/parsing.py` enforce for every route at once, documented at
once over the generated document, so that a schema-valid request is one the server accepts.

- every string of a body (object keys too) holds no control character but tab, line feed and
  carriage return: a `pattern`, unless the schema already has one, an enum or a format;
- every query value is one line: no control character at all;
- every number lies in [-2**63, 2**64 - 1]: `minimum` and `maximum` where none is declared;
- a value of any JSON (`{}` in a model's schema: node config, an invoke input, the extra
  fields of an open model) is a `JsonValue`, the recursive schema of JSON held to the same
  rules.

The rules apply to the schemas request bodies reach (components included, also where a
response shares them: what the server stores obeys them) and to query parameters.
"""

from __future__ import annotations

import copy
from typing import Any

from scaiflow_box.http.json_checks import MAX_NUMBER, MIN_NUMBER

# The same characters as json_checks.CONTROL_CHARACTERS and LINE_CONTROL_CHARACTERS, in the
# document's regular-expression dialect (ECMA-262).
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
JSON_VALUE = "JsonValue"
_PREFIX = "#/components/schemas/"
JSON_VALUE_REF = _PREFIX + JSON_VALUE
# Keywords that say nothing about which values a schema accepts.
_ANNOTATIONS = frozenset({"title", "description", "default", "examples", "deprecated",
                          "readOnly", "writeOnly", "$comment"})


def json_value_schema() -> dict[str, Any]:
    """Any JSON value. The rules are said in words only: a schema that spells them out
    (`items`/`additionalProperties` naming this schema again, or one `anyOf` branch per JSON
    type) makes openapi-typescript build an object type, or a type alias that refers to
    itself (TS2502), and openapi-python-client refuse the document; an open value must stay
    `unknown` / `Any` in a generated client. The server still enforces them."""
    return {
        "title": JSON_VALUE,
        "description": "Any JSON value whose strings and object keys hold no control "
                       "character (tab, line feed and carriage return excepted) and whose "
                       "numbers lie in [-2**63, 2**64 - 1].",
    }


def _types(node: dict[str, Any]) -> set[str]:
    declared = node.get("type")
    if isinstance(declared, str):
        return {declared}
    return set(declared) if isinstance(declared, list) else set()


def _constrain(node: Any, pattern: str, refs: set[str]) -> None:
    """Hold one schema node (and what it contains) to the rules, in place; `refs` collects
    the components it names."""
    if not isinstance(node, dict):
        return
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref.startswith(_PREFIX):
            refs.add(ref[len(_PREFIX):])
        return
    if set(node) <= _ANNOTATIONS:  # any JSON value
        node["$ref"] = JSON_VALUE_REF
        return
    types = _types(node)
    if "string" in types and not {"pattern", "enum", "const", "format"} & set(node):
        node["pattern"] = pattern
    if types & {"number", "integer"}:
        if "minimum" not in node and "exclusiveMinimum" not in node:
            node["minimum"] = MIN_NUMBER
        if "maximum" not in node and "exclusiveMaximum" not in node:
            node["maximum"] = MAX_NUMBER
    if "object" in types or "properties" in node:
        node.setdefault("propertyNames", {"pattern": TEXT_PATTERN})
        extra = node.get("additionalProperties")
        if extra is None or extra is True:
            node["additionalProperties"] = {"$ref": JSON_VALUE_REF}
    for keyword in ("properties", "patternProperties"):
        children = node.get(keyword)
        if isinstance(children, dict):
            for child in children.values():
                _constrain(child, pattern, refs)
    for keyword in ("items", "additionalProperties", "then", "else"):
        _constrain(node.get(keyword), pattern, refs)
    for keyword in ("prefixItems", "anyOf", "oneOf", "allOf"):
        branches = node.get(keyword)
        if isinstance(branches, list):
            for branch in branches:
                _constrain(branch, pattern, refs)
    if node.get("type") == "array" and "items" not in node and "prefixItems" not in node:
        node["items"] = {"$ref": JSON_VALUE_REF}


def with_value_rules(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of `document` whose request schemas and query parameters say what every
    request's values must be."""
    document = copy.deepcopy(document)
    components: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    pending: set[str] = set()
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", ()):
                if parameter.get("in") == "query":
                    _constrain(parameter.get("schema"), LINE_PATTERN, set())
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                _constrain(media.get("schema"), TEXT_PATTERN, pending)
    done: set[str] = set()
    while pending:
        name = pending.pop()
        if name in done or name not in components:
            continue
        done.add(name)
        found: set[str] = set()
        _constrain(components[name], TEXT_PATTERN, found)
        pending |= found - done
    components[JSON_VALUE] = json_value_schema()
    return document
