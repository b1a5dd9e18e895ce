"""Field types shared by the routers' request and response models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from scaiflow_box.compiler.node_config import config_json_schemas
from scaiflow_box.compiler.schema import Bunker, FlowGraph
from scaiflow_box.http.openapi import SCHEMA_MARKER, NamedSchemas
from scaiflow_box.http.route import PathParam
from scaiflow_box.packages.scaipkg import SEMVER_PATTERN
from scaiflow_box.services.catalog_fields import OPEN_PACKAGE_ID_PATTERN
from scaiflow_box.text_rules import display_name, plain_id

# The same rule as `text_rules.display_name`, for the document (generators build names from it).
PLAIN_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,200}$"  # ids.PLAIN_ID, in the document's dialect
NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"



def _integral(value: object) -> object:
    """JSON Schema's integer includes 60.0; strict request models otherwise refuse it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer in a strict request body: 60 and 60.0, never "60" or true.
JsonInt = Annotated[int, BeforeValidator(_integral)]

DisplayName = Annotated[
    str, Field(min_length=1, max_length=200, json_schema_extra={"pattern": NAME_PATTERN}),
    AfterValidator(display_name),
]
Description = Annotated[str, Field(max_length=10_000)]
PrincipalId = Annotated[
    str, Field(min_length=1, max_length=200, json_schema_extra={"pattern": PLAIN_ID_PATTERN}),
    AfterValidator(plain_id),
]
Timestamp = Annotated[str, Field(description="RFC 3339 UTC with milliseconds and `Z`",
                                 examples=["2026-04-29T12:34:56.123Z"])]
Version = Annotated[str, Field(description="Semantic version MAJOR.MINOR.PATCH",
                               examples=["1.0.3"])]
# What `http/cursors.py` issues: base64url(values) "." base64url(MAC); empty means the first
# page. Documented only: a cursor that does not match is forged, the codec's 400.
CURSOR_PATTERN = r"^([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?$"
Cursor = Annotated[
    Annotated[str, Field(max_length=1024, json_schema_extra={"pattern": CURSOR_PATTERN})] | None,
    Field(description="`next_cursor` of the previous page"),
]
Limit = Annotated[int, Field(ge=1, le=500, description="Page size (1 to 500)")]



class Diagnostic(BaseModel):
    """A finding of the compiler's checks (SPEC §5.2)."""

    severity: Literal["error", "warning"]
    message: str
    path: str | None
    node_id: str | None
    edge_id: str | None


class FlowContent(FlowGraph):
    """FlowGraph content as a client sends it: `id` and `version` are the server's and may be
    omitted; whatever is sent there, of any type, is overwritten (SPEC §3)."""

    id: Any = Field(default=None,
                    description="Ignored: the server writes the flow's id here")
    version: Any = Field(default=None,
                         description="Ignored: the server writes the new version here")


# -- shapes of flow content that saving does not check -------------------------------------
# Saving content checks its structure only (SPEC §3: work in progress is allowed); node
# `config`, `variables`, `plugins` and `capabilities` are free-form there and checked by
# validate/compile. Typing them in the content's schema would promise a refusal the server
# does not make, so their known shapes are published as components of their own for
# clients to build with.
class Variable(BaseModel):
    """A flow variable as the compiler's test runner reads one (docs/compiler.md): `name`
    with its `default` (or `value`); a bare string is a variable whose value is null."""

    model_config = ConfigDict(extra="allow", title="Variable")
    name: str
    default: Any = Field(default=None, description="The variable's initial value")
    value: Any = Field(default=None, description="Read when `default` is absent")


class PluginEntry(BaseModel):
    """A declared plugin (docs/compiler.md, the manifest); a bare string is its alias."""

    model_config = ConfigDict(extra="allow", title="PluginEntry")
    alias: str
    endpoint: str | None = Field(default=None, description="Default: `plugin://<alias>`")


class Capability(BaseModel):
    """A declared capability; the manifest adds `{bunker}` for flows with compute nodes."""

    model_config = ConfigDict(extra="allow", title="Capability")
    bunker: Bunker | None = None


def _config_shape(kind: str, schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = "".join(part.capitalize() for part in kind.split("_")) + "Config"
    return name, {**schema, "title": name, "description": (
        f"`config` of a `{kind}` node: the fields the compiler checks (validate and compile "
        "report `config_invalid` otherwise; saving does not check them). Other keys pass "
        "through to the manifest (docs/compiler.md, \"Node kinds and their config\").")}


CONTENT_SHAPES: dict[str, dict[str, Any]] = dict(
    _config_shape(kind, schema) for kind, schema in config_json_schemas().items())


# Flow content is validated by the compiler's structural check (fast, with pydantic's
# messages), not by a pydantic model; the document still shows its full schema through these
# markers, which http/openapi.py replaces by references to the named models. Both in
# validation mode: the server answers content as it was stored, so a key the client left out
# stays out (no `default` says otherwise).
NAMED_SCHEMAS: NamedSchemas = {"FlowContent": (FlowContent, "validation"),
                               "FlowGraph": (FlowGraph, "validation"),
                               "Variable": (Variable, "validation"),
                               "PluginEntry": (PluginEntry, "validation"),
                               "Capability": (Capability, "validation")}
FlowContentIn = Annotated[dict[str, Any], WithJsonSchema({SCHEMA_MARKER: "FlowContent"})]
FlowContentOut = Annotated[dict[str, Any], WithJsonSchema({SCHEMA_MARKER: "FlowGraph"})]


# -- path parameters: the handler's own arguments (http.route.PathParam) ------------------
# Ids of ScaiGrid objects go into upstream URLs as one path segment: `.` and `..` would name
# another resource there, so an id needs one character that is not a dot.
UPSTREAM_ID_PATTERN = r"^[A-Za-z0-9._:@-]*[A-Za-z0-9_:@-][A-Za-z0-9._:@-]*$"
ID_PATTERN = r"^[A-Za-z0-9._:@-]+$"  # ids.PLAIN_ID without its length (maxLength says it)

FlowId = Annotated[str, PathParam("A flow id (`flow_…`)", ID_PATTERN)]
VersionParam = Annotated[str, PathParam("A version of the flow (`1.0.3`)", max_length=64)]
AclId = Annotated[str, PathParam("An ACL id (`acl_…`)", ID_PATTERN)]
UserId = Annotated[str, PathParam("A user id (ScaiKey's `usr_…`)", ID_PATTERN)]
TenantId = Annotated[str, PathParam("A tenant id (ScaiKey's `tnt_…`)", ID_PATTERN)]
TokenId = Annotated[str, PathParam("A service token id (`tok_…`) or its jti", ID_PATTERN)]
CoreId = Annotated[str, PathParam("A ScaiCore id (`core_…`)", UPSTREAM_ID_PATTERN)]
CheckpointId = Annotated[str, PathParam("A checkpoint id (`cp_…`)", UPSTREAM_ID_PATTERN)]
ScopeId = Annotated[str, PathParam("A ScaiQueue scope id (`sc_…`)", UPSTREAM_ID_PATTERN)]
# The catalog's names (SPEC §14): a package id is a lowercase slug, a version is semver, so a
# path that holds anything else names no package (404 before the handler).
PackageId = Annotated[str, PathParam("A package id: a lowercase slug (`support-agent`)",
                                     OPEN_PACKAGE_ID_PATTERN, max_length=64)]
PackageVersion = Annotated[str, PathParam("A version of the package (`0.1.2`)",
                                          SEMVER_PATTERN, max_length=64)]
