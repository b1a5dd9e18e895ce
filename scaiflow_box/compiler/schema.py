"""FlowGraph v2 (SPEC §5.1): the structural schema of flow content.

``FlowGraph`` is the reference model: every model keeps keys it does not know
(``extra="allow"``) so content written by the canvas round-trips unchanged, and
validates in strict mode so JSON types are never coerced (``"1"`` is not a
number, ``0`` is not a boolean; ``5.0`` is an integer, as JSON Schema reads it).
Only structure is checked (required fields, JSON types, the closed enums, the
range of ``max_retries``, and ``condition`` on conditional edges); semantic rules
live in ``analyze``.

The hot path (``structural_errors``) runs the equivalent table in
``structure.py`` over the raw JSON; the ``*Dict`` TypedDicts below are the typed
view the rest of the compiler uses on content that passed that check.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, Required, TypedDict

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from scaiflow_box.compiler.flow_table import check_flow
from scaiflow_box.compiler.kinds import (
    BunkerLifecycle,
    ConsumerMode,
    EdgeType,
    NodeKind,
    QueuePurpose,
)

# The FlowGraph schema this compiler reads ("FlowGraph v2", SPEC §5.1). A `.scaipkg` records
# the schema of its flow, and an appliance refuses a package written for a newer one.
FLOWGRAPH_SCHEMA_VERSION = 2


def _integral(value: object) -> object:
    """JSON has one number type: ``48.0`` is the integer 48, as JSON Schema reads it."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# An integer field: strict (no strings, no booleans) but 48.0 counts, as `integer` in the
# API document says. A bound goes inside the Annotated, ahead of the validator, or the
# schema of `Size | None` carries a bare `ge` instead of `minimum`.
JsonInt = Annotated[int, BeforeValidator(_integral)]
Size = Annotated[int, Field(ge=0), BeforeValidator(_integral)]


class OpenModel(BaseModel):
    """Strict JSON types; unknown keys are kept (in ``model_extra``)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class Position(OpenModel):
    x: float
    y: float


class Port(OpenModel):
    id: str
    label: str | None = None
    type: str | None = None


class Node(OpenModel):
    id: str
    type: NodeKind
    label: str
    position: Position
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form when saved; the compiler checks the fields of the kind's shape "
                    "(`EntryApiConfig`, `LlmRigidConfig`, ...: the `<Kind>Config` components)")
    inputs: list[Port] | None = None
    outputs: list[Port] | None = None


class EdgeEnd(OpenModel):
    node: str
    port: str


# The one structural rule a JSON type cannot say: a conditional edge carries its condition
# (``flow_table.check_flow``). Written into the schema so the API document says it too.
CONDITIONAL_EDGE_RULE: dict[str, Any] = {
    "if": {"properties": {"type": {"const": "conditional"}}, "required": ["type"]},
    "then": {"properties": {"condition": {"type": "string"}}, "required": ["condition"]},
}


class Edge(OpenModel):
    model_config = ConfigDict(json_schema_extra=CONDITIONAL_EDGE_RULE)

    id: str
    type: EdgeType
    source: EdgeEnd
    target: EdgeEnd
    condition: str | None = None


class Metadata(OpenModel):
    author: str | None = None
    created: str | None = None
    description: str | None = None
    unknown_steps: list[Any] | None = None


class ModelFallback(OpenModel):
    ref: str
    model: str


class ModelEntry(OpenModel):
    role: str
    ref: str
    model: str
    modalities: list[str] | None = None
    temperature: float | None = None
    system_context: str | None = None
    fallback: list[ModelFallback] | None = None


class CoreIdentity(OpenModel):
    name: str | None = None
    models: list[ModelEntry] | None = None


class Bunker(OpenModel):
    lifecycle: BunkerLifecycle | None = None
    image: str | None = None
    cpu_millicores: Size | None = None
    memory_mb: Size | None = None
    disk_mb: Size | None = None
    gpu_count: Size | None = None
    network_profile: str | None = None


class QueueSpec(OpenModel):
    slug: str
    display_name: str | None = None
    description: str | None = None
    consumer_mode: ConsumerMode = "fifo"
    max_retries: JsonInt = Field(default=5, ge=0, le=100)
    purpose: QueuePurpose | None = None


class ScaiQueueConfig(OpenModel):
    scope: str | None = None
    queues: list[QueueSpec] = Field(default_factory=list)


class FlowConfig(OpenModel):
    core_identity: CoreIdentity | None = None
    plugins: list[Any] | None = Field(
        default=None, description="Each a `PluginEntry` or a bare alias (not checked when "
                                  "saved)")
    capabilities: list[Any] | None = Field(
        default=None, description="Each a `Capability` (not checked when saved)")
    bunker: Bunker | None = None
    scaiqueue: ScaiQueueConfig | None = None
    publish_as_model: bool | None = None
    model_visibility_group_ids: list[str] | None = None


class FlowGraph(OpenModel):
    id: str
    name: str
    version: str
    scaicore_target: str | None = None
    metadata: Metadata | None = None
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    variables: list[Any] = Field(
        default_factory=list,
        description="Each a `Variable` or a bare name (not checked when saved)")
    config: FlowConfig | None = None
    tests: list[dict[str, Any]] = Field(default_factory=list)


def structural_errors(content: object) -> list[dict[str, Any]]:
    """FastAPI 422 items ``{"loc", "msg", "type"}`` (``loc`` relative to the
    content) for content that is not a structurally valid FlowGraph; ``[]`` when
    it is. Linear in the size of the content and allocation-free on success."""
    return check_flow(content)


# Typed views of content that passed ``structural_errors`` -------------------------


class PositionDict(TypedDict):
    x: float
    y: float


class PortDict(TypedDict, total=False):
    id: Required[str]
    label: str | None
    type: str | None


class NodeDict(TypedDict, total=False):
    id: Required[str]
    type: Required[str]
    label: Required[str]
    position: Required[PositionDict]
    config: dict[str, Any]
    inputs: list[PortDict] | None
    outputs: list[PortDict] | None


class EdgeEndDict(TypedDict):
    node: str
    port: str


class EdgeDict(TypedDict):
    id: str
    type: str
    source: EdgeEndDict
    target: EdgeEndDict
    condition: NotRequired[str | None]


class FlowDict(TypedDict, total=False):
    id: Required[str]
    name: Required[str]
    version: Required[str]
    scaicore_target: str | None
    metadata: dict[str, Any] | None
    nodes: list[NodeDict]
    edges: list[EdgeDict]
    variables: list[Any]
    config: dict[str, Any] | None
    tests: list[dict[str, Any]]
