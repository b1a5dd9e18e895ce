"""Typed shapes of each node kind's ``config`` (docs/compiler.md, "Node config").

Only fields the compiler or the test runner read are typed; everything else in a
config is free-form and passed through to the manifest unchanged. Shapes for the
kinds the upstream docs leave open (``logic_parallel``, ``tool_http``,
``data_variable_set``, ``queue_*``, and the ``compute_*`` arguments) are ours.
"""

from __future__ import annotations

from typing import Any, Final

from scaiflow_box.compiler.flow_table import BUNKER
from scaiflow_box.compiler.structure import (
    ANY,
    BOOL,
    DICT,
    INT,
    NUM,
    STR,
    F,
    Kind,
    ListOf,
    Lit,
    Obj,
)

_LLM_COMMON: Final = (
    F("goal", STR),
    F("llm_role", STR),
    F("model", STR),  # legacy alias of llm_role
    F("input_bindings", DICT),
    F("output_schema", DICT),
)
_QUEUE: Final = Obj((F("queue", STR), F("scope", STR)))
ASSIGNMENT: Final = Obj(
    (F("name", STR, required=True, nullable=False), F("value", ANY), F("expr", STR))
)

CONFIG_SPECS: Final[dict[str, Obj]] = {
    "entry_api": Obj((F("method", STR), F("path", STR))),
    "entry_webhook": Obj((F("method", STR), F("path", STR))),
    "entry_schedule": Obj((F("cron", STR), F("timezone", STR))),
    "llm_rigid": Obj((F("template", STR),)),
    "llm_guarded": Obj((*_LLM_COMMON, F("guard", STR))),
    "llm_flexible": Obj(_LLM_COMMON),
    "logic_decision": Obj(()),
    "logic_loop": Obj(
        (
            F("style", Lit(("foreach", "while"))),
            F("max_iterations", INT, ge=1),
            F("items", STR),
            F("item_var", STR),
            F("condition", STR),
        )
    ),
    "logic_parallel": Obj((F("join", STR),)),
    "tool_plugin": Obj((F("plugin", STR), F("method", STR), F("args", DICT))),
    "tool_http": Obj(
        (
            F("method", STR),
            F("url", STR),
            F("headers", DICT),
            F("query", DICT),
            F("timeout", NUM),
        )
    ),
    "data_variable_set": Obj((F("assignments", ListOf(ASSIGNMENT)),)),
    "checkpoint": Obj(
        (F("type", STR), F("prompt", STR), F("options", ListOf(ANY)), F("breakpoint", BOOL))
    ),
    "queue_publish": _QUEUE,
    "queue_consume": _QUEUE,
    "queue_escalation": _QUEUE,
    "hitl_review": _QUEUE,
    "hitl_decision": Obj((F("type", STR), F("options", ListOf(ANY)))),
    "compute_provision": Obj((F("bunker", BUNKER),)),
    "compute_exec": Obj((F("timeout", NUM), F("env", DICT), F("workdir", STR))),
    "compute_file_upload": Obj((F("path", STR),)),
    "compute_file_download": Obj((F("path", STR),)),
    "compute_destroy": Obj(()),
    "subflow_call": Obj(
        (
            F("target", STR),
            F("flow_name", STR),
            F("version", STR),
            F("instance_key", STR),
            F("is_async", BOOL),
            F("input_bindings", DICT),
        )
    ),
}

HTTP_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


# -- the same shapes as JSON Schema, for the API document ----------------------------------
_JSON_TYPES: Final = {STR: "string", NUM: "number", INT: "integer", BOOL: "boolean",
                      DICT: "object"}


def _kind_schema(kind: Kind) -> dict[str, Any]:
    if isinstance(kind, Lit):
        return {"enum": list(kind.values)}
    if isinstance(kind, ListOf):
        return {"type": "array", "items": _kind_schema(kind.item)}
    if isinstance(kind, Obj):
        return _object_schema(kind)
    if kind == ANY:
        return {}
    return {"type": _JSON_TYPES[kind]}


def _field_schema(spec: F) -> dict[str, Any]:
    schema = _kind_schema(spec.kind)
    if spec.ge is not None:
        schema["minimum"] = spec.ge
    if spec.le is not None:
        schema["maximum"] = spec.le
    if spec.nullable and schema:
        schema = {"anyOf": [schema, {"type": "null"}]}
    return schema


def _object_schema(shape: Obj) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {spec.name: _field_schema(spec) for spec in shape.fields},
        "additionalProperties": True,
    }
    required = [spec.name for spec in shape.fields if spec.required]
    if required:
        schema["required"] = required
    return schema


def config_json_schemas() -> dict[str, dict[str, Any]]:
    """Each kind's config as JSON Schema, by kind: the fields typed above, every other key
    allowed (it passes through to the manifest). Saving content does not check these (a
    `config_invalid` diagnostic of validate/compile does), so the API document publishes
    them as named shapes for clients rather than as the schema of `node.config`."""
    return {kind: _object_schema(shape) for kind, shape in CONFIG_SPECS.items()}
