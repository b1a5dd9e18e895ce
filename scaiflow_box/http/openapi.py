"""The OpenAPI 3.1 document, generated from the route table and its pydantic models.

Every operation gets its request body, its path, query and header parameters, each success
response with its schema, headers and links, and each error status with the schema of every
error code the route declares for it (one schema per code, `error` a constant, several joined
by `oneOf`). Nothing here is written by hand per route, so the document cannot miss a route,
a status or a code the route declares.

What generators make of it (openapi-typescript, openapi-python-client) is part of the
contract: a `default` is read as "always present" (openapi-typescript makes such a property
required), so only response models the server serializes itself carry `default`; request
bodies, flow content and error details state theirs in the description instead.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core import core_schema

from scaiflow_box import __version__
from scaiflow_box.http.acting_tenant import PARAMETER as ACTING_TENANT
from scaiflow_box.http.errors import ErrorCode, body_model
from scaiflow_box.http.route import Response, Route, binary_schema

REF = "#/components/schemas/{model}"

TAGS = {
    "flows": "Flows with full version history (SPEC §3)",
    "acls": "Per-flow access control lists (SPEC §4)",
    "presence": "Who is viewing a flow, and live editing over y-websocket (SPEC §15)",
    "preview": "Validate, compile, import and test flows (SPEC §5, §6)",
    "deploy": "Deploy flows to ScaiGrid (SPEC §7)",
    "auth": "Sign-in configuration and the caller (SPEC §11)",
    "tenants": "The caller's tenant: its ScaiGrid credentials (SPEC §8)",
    "admin": "Users, groups, directory sync, roles, ownership, service tokens, audit, key "
             "rotation (SPEC §12, §19.2)",
    "webhooks": "ScaiKey's directory events, HMAC-signed (SPEC §13)",
    "lookups": "Read-only ScaiGrid lookups for the canvas (SPEC §9)",
    "scaicore": "ScaiCore runtime proxy: events, checkpoints, invoke (SPEC §10)",
    "operations": "Health, readiness and this document (SPEC §16)",
    "catalog": "The tenant package catalog: publish, share, download, install and import "
               "`.scaipkg` packages (SPEC §14)",
    "reference": "This API reference, served offline",
}
# A model field can stand in for a schema the route models do not hold themselves: its JSON
# schema is `{SCHEMA_MARKER: "<name>"}`, and the document replaces it with a reference to the
# named model given to `build_openapi` (flow content: validated by the compiler's own check,
# documented by the FlowGraph models).
SCHEMA_MARKER = "x-scaiflow-schema"
NamedSchemas = Mapping[str, tuple[type[BaseModel], JsonSchemaMode]]
# Where a default stands until `_describe_defaults` moves it into the description.
DEFAULT_NOTE = "x-scaiflow-default"
TOKEN_IN_QUERY = {
    "name": "token", "in": "query", "required": False,
    "description": "The bearer token, for clients that cannot send `Authorization` "
                   "(EventSource). The header wins when both are sent. Never logged.",
    "schema": {"type": "string", "maxLength": 8192}}


class DocumentSchema(GenerateJsonSchema):
    """pydantic's JSON Schema, except that in validation mode (request bodies, flow content,
    error details: what a client may send, or what the server may leave out) a field's default
    is not a `default` keyword. openapi-typescript reads `default` as "always present" and
    makes the property required, so an optional request field would have to be sent; the
    value is kept for the description (`_describe_defaults`). Validation is unchanged."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if self.mode == "validation" and "default" in json_schema:
            default = json_schema.pop("default")
            if default is not None:
                json_schema[DEFAULT_NOTE] = default
        return json_schema


def _describe_defaults(node: Any) -> Any:
    """Move each noted default into its schema's description: `Default: `100`.`"""
    if isinstance(node, list):
        return [_describe_defaults(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _describe_defaults(value) for key, value in node.items() if key != DEFAULT_NOTE}
    if DEFAULT_NOTE in node:
        note = f"Default: `{orjson.dumps(node[DEFAULT_NOTE]).decode()}`."
        text = str(out.get("description", "")).rstrip()
        if text and not text.endswith("."):
            text += "."
        out["description"] = f"{text} {note}".lstrip()
    return out


def _models(routes: Iterable[Route],
            named: NamedSchemas) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    found: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    codes: dict[str, ErrorCode] = {}
    for route in routes:
        for error in route.codes.values():
            if codes.setdefault(error.code, error) != error:  # one code, one schema
                raise ValueError(f"{route.name}: error code {error.code} is declared twice, "
                                 "differently")
        if route.body is not None:
            found[(route.body, "validation")] = None
        for response in route.responses:
            if response.model is not None:
                found[(response.model, "serialization")] = None
        for error in route.codes.values():
            # What an error body may hold, not what a serializer always writes.
            found[(body_model(error), "validation")] = None
    for model_and_mode in named.values():
        found[model_and_mode] = None
    return list(found)


def _replace_markers(node: Any, refs: Mapping[str, dict[str, Any]]) -> Any:
    """Swap schema markers for references to the named models."""
    if isinstance(node, dict):
        marker = node.get(SCHEMA_MARKER)
        if isinstance(marker, str):
            extra = {k: v for k, v in node.items() if k != SCHEMA_MARKER}
            return {**refs[marker], **extra}
        return {key: _replace_markers(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [_replace_markers(item, refs) for item in node]
    return node


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """One parameter per field of a (flat) query model."""
    resolved = model.model_json_schema(ref_template=REF)
    required = set(resolved.get("required", ()))
    parameters = []
    for name, prop in resolved.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                     "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _error_response(status: int, errors: tuple[ErrorCode, ...],
                    schemas: Mapping[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]]
                    ) -> dict[str, Any]:
    """One status's answer: the schema of each code (structured ones first, so a client
    trying each in turn meets the constant `error` before the plain text), one or `oneOf`.
    The members exclude each other (`detail` is text, a list or an object whose `error` is a
    constant), and `error` is one level down, where a discriminator cannot name it."""
    ordered = sorted(errors, key=lambda error: error.wire == "plain")
    refs: list[dict[str, Any]] = []
    for error in ordered:
        ref = schemas[(body_model(error), "validation")]
        if ref not in refs:
            refs.append(ref)
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    lines = [f"`{error.code}`: {error.description}" if error.wire == "structured"
             else error.description for error in ordered]
    entry: dict[str, Any] = {"description": "; ".join(lines),
                             "content": {"application/json": {"schema": schema}}}
    if status == 401:
        entry["headers"] = {"WWW-Authenticate": {
            "description": "`Bearer`", "required": True, "schema": {"type": "string"}}}
    return entry


def _content(response: Response, schema: dict[str, Any] | None) -> dict[str, Any]:
    media: dict[str, Any] = {}
    for media_type in (response.content_type, *response.other_media_types):
        if response.binary:
            media[media_type] = {"schema": binary_schema(media_type)}
        else:
            media[media_type] = {"schema": schema} if schema is not None else {}
    return media


def _operation(route: Route, schemas: dict[tuple[type[BaseModel], JsonSchemaMode],
                                            dict[str, Any]]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "tags": [route.tag],
    }
    description = route.description or ""
    if route.needs:
        description = f"Needs: {route.needs}.\n\n{description}".strip()
    if route.auth == "dev_token":
        description = f"Only the dev token (`SCAIFLOW_API_TOKEN`).\n\n{description}".strip()
    if description:
        operation["description"] = description

    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "description": spec.description,
         "schema": spec.schema}
        for name, spec in route.path_param_specs.items()
    ]
    if route.query is not None:
        parameters += _query_parameters(route.query)
    if route.token_in_query and route.kind == "http":
        parameters.append(dict(TOKEN_IN_QUERY))
    if route.acting_tenant:
        parameters.append(copy.deepcopy(ACTING_TENANT))
    for header in route.headers:
        parameters.append({"name": header.name, "in": "header", "required": header.required,
                           "description": header.description, "schema": header.schema})
    if parameters:
        operation["parameters"] = parameters

    if route.body is not None:
        media: dict[str, Any] = {"schema": schemas[(route.body, "validation")]}
        if route.body_example is not None:
            media["example"] = route.body_example()
        operation["requestBody"] = {"required": True, "content": {"application/json": media}}
    elif route.binary_body is not None:
        operation["requestBody"] = {
            "required": True, "description": route.binary_body.description,
            "content": {route.binary_body.media_type: {"schema": route.binary_body.schema}}}

    responses: dict[str, Any] = {}
    for response in route.responses:
        schema = (schemas[(response.model, "serialization")]
                  if response.model is not None else None)
        entry: dict[str, Any] = {"description": response.description}
        if response.status not in (204, 304):  # no body, so no media type
            entry["content"] = _content(response, schema)
        if response.headers:
            entry["headers"] = {h.name: {"description": h.description, "required": h.required,
                                         "schema": h.schema} for h in response.headers}
        if response.links:
            entry["links"] = {link.name: {"operationId": link.operation_id,
                                          "parameters": dict(link.parameters),
                                          **({"description": link.description}
                                             if link.description else {})}
                              for link in response.links}
        responses[str(response.status)] = entry
    for status, errors in route.errors_by_status.items():
        responses[str(status)] = _error_response(status, errors, schemas)
    operation["responses"] = responses

    if route.auth == "public":
        operation["security"] = []
    elif route.auth == "dev_token":
        operation["security"] = [{"devToken": []}]
    else:
        operation["security"] = [{"bearer": []}]
    if route.kind == "websocket":
        operation["x-websocket"] = True
    return operation


def build_openapi(routes: list[Route], named: NamedSchemas | None = None,
                  documented: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The document. `named` models stand in for schema markers (flow content); `documented`
    are JSON schemas published as components that no operation refers to: shapes a client can
    build with where validation is deliberately open."""
    named = named or {}
    http_routes = [r for r in routes if r.kind == "http"]
    keys, definitions = models_json_schema(_models(routes, named), ref_template=REF,
                                           schema_generator=DocumentSchema)
    defs: dict[str, Any] = definitions.get("$defs", {})
    for name, schema in (documented or {}).items():
        if name in defs:
            raise ValueError(f"documented schema {name} collides with a model")
        defs[name] = schema
    schemas: dict[tuple[type[BaseModel], JsonSchemaMode], dict[str, Any]] = {
        (model, mode): schema for (model, mode), schema in keys.items()
        if isinstance(model, type) and issubclass(model, BaseModel)}
    paths: dict[str, dict[str, Any]] = {}
    for route in http_routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, schemas)
    websockets = {r.path: {"summary": r.summary, "operationId": r.name,
                           "description": "WebSocket; authenticate with `Authorization: "
                                          "Bearer`, the `bearer, <token>` subprotocol or "
                                          "`?token=`."}
                  for r in routes if r.kind == "websocket"}
    used_tags = sorted({r.tag for r in routes}, key=list(TAGS).index)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "scaiflow-box",
            "version": __version__,
            "description": "The ScaiFlow backend API served by the scaiflow-box appliance. "
                           "Errors use FastAPI's `{\"detail\": ...}` shapes.",
        },
        "servers": [{"url": "/", "description": "This appliance"}],
        "tags": [{"name": tag, "description": TAGS[tag]} for tag in used_tags],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "A ScaiKey access token or an appliance service "
                                          "token"},
                "devToken": {"type": "http", "scheme": "bearer",
                             "description": "The dev token (`SCAIFLOW_API_TOKEN`); only "
                                            "`POST /api/v1/dev/deploy` takes it"}},
            "schemas": defs,
        },
        "security": [{"bearer": []}],
    }
    if websockets:
        document["x-websockets"] = websockets
    refs = {name: schemas[model_and_mode] for name, model_and_mode in named.items()}
    replaced: dict[str, Any] = _describe_defaults(_replace_markers(document, refs))
    return replaced
