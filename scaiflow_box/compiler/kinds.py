"""The closed vocabularies of FlowGraph v2 and what each node kind is.

Categories drive the analyzer, the emitter and the local test runner, so a kind's
behaviour is decided in one place.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

NodeKind = Literal[
    "entry_api",
    "entry_webhook",
    "entry_schedule",
    "llm_rigid",
    "llm_guarded",
    "llm_flexible",
    "logic_decision",
    "logic_loop",
    "logic_parallel",
    "tool_plugin",
    "tool_http",
    "data_variable_set",
    "checkpoint",
    "queue_publish",
    "queue_consume",
    "hitl_review",
    "hitl_decision",
    "queue_escalation",
    "compute_provision",
    "compute_exec",
    "compute_file_upload",
    "compute_file_download",
    "compute_destroy",
    "subflow_call",
]
NODE_KINDS: Final[tuple[str, ...]] = get_args(NodeKind)

EdgeType = Literal["sequential", "conditional", "data"]
EDGE_TYPES: Final[tuple[str, ...]] = get_args(EdgeType)
CONTROL_EDGE_TYPES: Final = frozenset({"sequential", "conditional"})

BunkerLifecycle = Literal["ephemeral", "session", "persistent", "appliance"]
ConsumerMode = Literal["fifo", "priority", "deadline", "broadcast"]
QueuePurpose = Literal[
    "intake", "processing", "review", "escalation", "completed", "dead-letter", "custom"
]

ENTRY_KINDS: Final = frozenset({"entry_api", "entry_webhook", "entry_schedule"})
LLM_ROLE_KINDS: Final = frozenset({"llm_guarded", "llm_flexible"})
CHECKPOINT_KINDS: Final = frozenset({"checkpoint", "hitl_review", "hitl_decision"})
QUEUE_KINDS: Final = frozenset(
    {"queue_publish", "queue_consume", "queue_escalation", "hitl_review"}
)
COMPUTE_KINDS: Final = frozenset(
    {
        "compute_provision",
        "compute_exec",
        "compute_file_upload",
        "compute_file_download",
        "compute_destroy",
    }
)
# Nodes whose result comes from outside the flow: the test runner needs a mock.
MOCKED_KINDS: Final = frozenset(
    {
        "llm_guarded",
        "llm_flexible",
        "tool_plugin",
        "tool_http",
        "queue_consume",
        "compute_provision",
        "compute_exec",
        "compute_file_upload",
        "compute_file_download",
        "subflow_call",
    }
)
# Send-only nodes: a mock is optional (their result defaults to ``{}``).
SEND_ONLY_KINDS: Final = frozenset({"queue_publish", "queue_escalation", "compute_destroy"})

# ScaiBunker method of each compute kind (SPEC §5.1).
COMPUTE_METHODS: Final[dict[str, str]] = {
    "compute_provision": "create",
    "compute_exec": "exec",
    "compute_file_upload": "write_file",
    "compute_file_download": "read_file",
    "compute_destroy": "destroy",
}
DEFAULT_BUNKER: Final[dict[str, str]] = {"lifecycle": "ephemeral", "image": "python-3.12"}

# Ports a node has when it declares none (``inputs``/``outputs`` absent or null).
ENTRY_OUTPUT_PORT: Final[dict[str, str]] = {
    "entry_api": "out_request",
    "entry_webhook": "out_event",
    "entry_schedule": "out_tick",
}
LOOP_BODY_PORTS: Final = ("out_body", "body")


def default_input_ports(kind: str) -> tuple[str, ...]:
    return () if kind in ENTRY_KINDS else ("in",)


def default_output_ports(kind: str) -> tuple[str, ...]:
    if kind in ENTRY_KINDS:
        return (ENTRY_OUTPUT_PORT[kind],)
    if kind == "logic_loop":
        return ("out_body", "out_done")
    return ("out",)
