"""The FlowGraph v2 table for the fast structural check (``check_flow``).

Building ~16,000 pydantic model instances for a 2,000-node flow costs 20-60 ms
(much of it garbage-collector time), so the hot path checks the raw JSON against
this table instead: an allocation-free pass answers "valid?", and only invalid
content is walked again to locate and explain the errors. It mirrors
``schema.FlowGraph`` field for field; tests/compiler/test_schema.py checks with
hypothesis that both report the same errors. Change the two together.
"""

from __future__ import annotations

from typing import Any

from scaiflow_box.compiler.kinds import (
    EDGE_TYPES,
    NODE_KINDS,
    BunkerLifecycle,
    ConsumerMode,
    QueuePurpose,
)
from scaiflow_box.compiler.structure import (
    ANY,
    BOOL,
    DICT,
    INT,
    NUM,
    STR,
    ErrorItem,
    F,
    ListOf,
    Lit,
    Obj,
    check_object,
    report,
)


def _lit(alias: Any) -> Lit:
    return Lit(tuple(alias.__args__))


POSITION = Obj(
    (F("x", NUM, required=True, nullable=False), F("y", NUM, required=True, nullable=False))
)
PORT = Obj((F("id", STR, required=True, nullable=False), F("label", STR), F("type", STR)))
NODE = Obj(
    (
        F("id", STR, required=True, nullable=False),
        F("type", Lit(NODE_KINDS), required=True, nullable=False),
        F("label", STR, required=True, nullable=False),
        F("position", POSITION, required=True, nullable=False),
        F("config", DICT, nullable=False),
        F("inputs", ListOf(PORT)),
        F("outputs", ListOf(PORT)),
    )
)
EDGE_END = Obj(
    (F("node", STR, required=True, nullable=False), F("port", STR, required=True, nullable=False))
)
EDGE = Obj(
    (
        F("id", STR, required=True, nullable=False),
        F("type", Lit(EDGE_TYPES), required=True, nullable=False),
        F("source", EDGE_END, required=True, nullable=False),
        F("target", EDGE_END, required=True, nullable=False),
        F("condition", STR),
    )
)
METADATA = Obj(
    (F("author", STR), F("created", STR), F("description", STR), F("unknown_steps", ListOf(ANY)))
)
FALLBACK = Obj(
    (F("ref", STR, required=True, nullable=False), F("model", STR, required=True, nullable=False))
)
MODEL_ENTRY = Obj(
    (
        F("role", STR, required=True, nullable=False),
        F("ref", STR, required=True, nullable=False),
        F("model", STR, required=True, nullable=False),
        F("modalities", ListOf(STR)),
        F("temperature", NUM),
        F("system_context", STR),
        F("fallback", ListOf(FALLBACK)),
    )
)
CORE_IDENTITY = Obj((F("name", STR), F("models", ListOf(MODEL_ENTRY))))
BUNKER = Obj(
    (
        F("lifecycle", _lit(BunkerLifecycle)),
        F("image", STR),
        F("cpu_millicores", INT, ge=0),
        F("memory_mb", INT, ge=0),
        F("disk_mb", INT, ge=0),
        F("gpu_count", INT, ge=0),
        F("network_profile", STR),
    )
)
QUEUE = Obj(
    (
        F("slug", STR, required=True, nullable=False),
        F("display_name", STR),
        F("description", STR),
        F("consumer_mode", _lit(ConsumerMode), nullable=False),
        F("max_retries", INT, nullable=False, ge=0, le=100),
        F("purpose", _lit(QueuePurpose)),
    )
)
SCAIQUEUE = Obj((F("scope", STR), F("queues", ListOf(QUEUE), nullable=False)))
FLOW_CONFIG = Obj(
    (
        F("core_identity", CORE_IDENTITY),
        F("plugins", ListOf(ANY)),
        F("capabilities", ListOf(ANY)),
        F("bunker", BUNKER),
        F("scaiqueue", SCAIQUEUE),
        F("publish_as_model", BOOL),
        F("model_visibility_group_ids", ListOf(STR)),
    )
)
FLOW = Obj(
    (
        F("id", STR, required=True, nullable=False),
        F("name", STR, required=True, nullable=False),
        F("version", STR, required=True, nullable=False),
        F("scaicore_target", STR),
        F("metadata", METADATA),
        F("nodes", ListOf(NODE), nullable=False),
        F("edges", ListOf(EDGE), nullable=False),
        F("variables", ListOf(ANY), nullable=False),
        F("config", FLOW_CONFIG),
        F("tests", ListOf(DICT), nullable=False),
    )
)


def check_flow(content: object) -> list[ErrorItem]:
    """The error items for ``content`` (``[]`` when it is a valid FlowGraph),
    including the rule that a conditional edge carries a ``condition``."""
    if not isinstance(content, dict):
        return check_object(content, FLOW, ())
    out = check_object(content, FLOW, ())
    edges = content.get("edges")
    if isinstance(edges, list):
        for index, edge in enumerate(edges):
            if (
                isinstance(edge, dict)
                and edge.get("type") == "conditional"
                and edge.get("condition") is None
            ):
                report(
                    out,
                    ("edges", index, "condition"),
                    "missing",
                    "Field required when type is 'conditional'",
                )
    return out
