"""How a route is described: once, with everything the server does and the document says.

A `Route` names its handler, its authentication, its request body model, its query model, the
headers it reads, every success response (status, model, headers, OpenAPI links) and every
error code it can answer (each with its status and body). The dispatcher
(`http/dispatch.py`) parses requests and checks replies against this description, and the
OpenAPI document (`http/openapi.py`) is generated from it, so the two cannot drift apart.

Routes are authenticated unless marked otherwise, and only the paths in PUBLIC_ALLOW_LIST may
be marked public (registration fails on any other).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from scaiflow_box.http.call import Reply
from scaiflow_box.http.errors import (
    BODY_ERRORS,
    INVALID_CURSOR,
    INVALID_HEADER,
    NOT_AUTHENTICATED,
    NOT_FOUND,
    STORAGE_FULL,
    URI_TOO_LONG,
    VALIDATION_FAILED,
    WRITE_CONFLICT,
    ErrorCode,
)

# `handler(call, **path_parameters)`: each parameter of the path is a keyword argument of the
# handler, annotated `Annotated[str, PathParam(...)]` (see `PathParam`).
Handler = Callable[..., Awaitable[Reply]]
Auth = Literal["token", "public", "dev_token"]
Kind = Literal["http", "websocket"]

DEFAULT_BODY_LIMIT = 1024 * 1024
# Every id and name in a path is 1-200 characters (documented so); a longer one names nothing
# and is answered 404 before the handler runs.
PATH_PARAM_MAX_LENGTH = 200
FLOW_BODY_LIMIT = 8 * 1024 * 1024
# SPEC §1: 8 MiB for flow content and package uploads.
UPLOAD_BODY_LIMIT = 8 * 1024 * 1024

PUBLIC_ALLOW_LIST = frozenset({
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/v1/openapi.json",
    "/api/v1/docs",
    "/api/v1/docs/",
    "/api/v1/docs/{asset}",
    "/api/v1/auth/config",
    "/api/v1/auth/exchange",
    "/api/v1/auth/refresh",
    "/api/v1/auth/jwks",
    "/api/v1/webhooks/scaikey",
    "/api/v1/dev/deploy",
})


@dataclass(frozen=True)
class PathParam:
    """How a path parameter is declared: on the handler's own argument, as
    `flow_id: Annotated[str, PathParam("A flow id (`flow_…`)")]`. The dispatcher passes the
    value as that argument; a value longer than `max_length` or not matching `pattern` names
    nothing and is 404 before the handler runs. The document shows the same schema."""

    description: str
    pattern: str | None = None
    max_length: int = PATH_PARAM_MAX_LENGTH

    @cached_property
    def matcher(self) -> re.Pattern[str] | None:
        return re.compile(self.pattern) if self.pattern else None

    def accepts(self, value: str) -> bool:
        if not value or len(value) > self.max_length:
            return False
        return self.matcher is None or self.matcher.fullmatch(value) is not None

    @property
    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "minLength": 1,
                                  "maxLength": self.max_length}
        if self.pattern:
            schema["pattern"] = self.pattern
        return schema


def path_params_of(handler: Handler, names: tuple[str, ...]) -> dict[str, PathParam]:
    """The `PathParam` of each of `names` from the handler's annotations; a path parameter the
    handler does not declare (or declares without a `PathParam`) is a registration error."""
    hints = typing.get_type_hints(handler, include_extras=True)
    found: dict[str, PathParam] = {}
    for name in names:
        hint = hints.get(name)
        spec = next((m for m in getattr(hint, "__metadata__", ()) if isinstance(m, PathParam)),
                    None)
        if spec is None:
            raise ValueError(f"{handler.__name__}: path parameter {name} must be an argument "
                             "annotated Annotated[str, PathParam(...)]")
        found[name] = spec
    return found


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are a 422, never silently applied, and JSON
    types are not coerced (`0` is not `false`, `"60"` is not 60), as the document says."""

    model_config = ConfigDict(extra="forbid", strict=True)


class QueryModel(BaseModel):
    """Base of every query-parameter model: values arrive as strings (lax parsing turns
    "10" into 10); a parameter the route does not declare is a 422 naming it (a typo such as
    `serach=` must not answer an unfiltered list)."""

    model_config = ConfigDict(extra="forbid")


# The schema keywords a request header may declare: the dispatcher enforces them (a value that
# breaks one is a 422), and a route declaring any other cannot be registered, so the document
# never promises a check the server does not make.
REQUEST_HEADER_KEYWORDS = frozenset({"type", "maxLength"})


@dataclass(frozen=True)
class Header:
    """A request or response header the route reads or sends."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class BinaryBody:
    """A request body that is not JSON: raw bytes of one media type (a `.scaipkg` upload is
    `application/zip`). The handler gets the bytes (`call.body: bytes`), read with the same
    rules as a JSON body — Content-Type (415 for any other), Content-Encoding, the route's
    size limit after decompression, the arrival time limit — and an empty body is the 422 a
    JSON route answers for one. The document types it as binary (`type: string, format:
    binary`, with `contentMediaType`): a file for openapi-python-client (which needs its
    `content_type_overrides` for a media type other than `application/octet-stream`), a
    `Blob` for openapi-typescript with its documented binary transform."""

    media_type: str
    description: str

    @property
    def schema(self) -> dict[str, Any]:
        return {**binary_schema(self.media_type), "minLength": 1}  # empty: 422


def binary_schema(media_type: str) -> dict[str, Any]:
    """The schema of raw bytes of `media_type` (OpenAPI 3.0's `format: binary`, which both
    client generators read, and 3.1's `contentMediaType`)."""
    return {"type": "string", "format": "binary", "contentMediaType": media_type}


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: a value of this response feeds a parameter of another operation."""

    name: str
    operation_id: str
    parameters: dict[str, str]
    description: str = ""


@dataclass(frozen=True)
class Response:
    """One success answer. `model=None` means no body (204) or a non-JSON body."""

    status: int
    model: type[BaseModel] | None
    description: str
    headers: tuple[Header, ...] = ()
    content_type: str = "application/json"
    links: tuple[Link, ...] = ()
    other_media_types: tuple[str, ...] = ()  # for non-JSON bodies that vary by resource
    # A non-JSON body that is a file (`content_type` bytes), documented as binary so that
    # generated clients return bytes (a `.scaipkg` download).
    binary: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    responses: tuple[Response, ...]
    errors: tuple[ErrorCode, ...] = ()  # besides those its shape implies (`codes`)
    auth: Auth = "token"
    kind: Kind = "http"
    needs: str | None = None  # the permission, ACL level or role, as the docs name it
    description: str | None = None
    operation_id: str | None = None
    body: type[BaseModel] | None = None
    body_limit: int = DEFAULT_BODY_LIMIT
    # The handler gets the body's exact bytes as a `http.parsing.RawBody` (read with the same
    # Content-Type, encoding, size and time limits) and parses them into `body` with
    # `RawBody.parse()` once it has checked them: for signatures over the bytes as sent
    # (ScaiKey webhooks). `body` still documents what the bytes must hold.
    raw_body: bool = False
    # A body of raw bytes that is not JSON (then `body` is None): see `BinaryBody`.
    binary_body: BinaryBody | None = None
    body_example: Callable[[], Any] | None = None
    query: type[BaseModel] | None = None
    headers: tuple[Header, ...] = ()
    # Browsers cannot set headers on EventSource or WebSocket: such routes also take the
    # token from `?token=` (never logged: access logs are off, see docs/operations.md).
    token_in_query: bool = False
    # A super admin may name another tenant with `?tenant_id=` (http/acting_tenant.py); the
    # route must declare 403 `forbidden`, what anyone else naming one gets.
    acting_tenant: bool = False

    @cached_property
    def name(self) -> str:
        """The operationId: stable, taken from the handler's name unless given."""
        return self.operation_id or self.handler.__name__

    @cached_property
    def path_params(self) -> tuple[str, ...]:
        names: list[str] = []
        for part in self.path.split("/"):
            if part.startswith("{") and part.endswith("}"):
                names.append(part[1:-1])
        return tuple(names)

    @cached_property
    def path_param_specs(self) -> dict[str, PathParam]:
        return path_params_of(self.handler, self.path_params)

    @cached_property
    def consumed_query(self) -> frozenset[str]:
        """Query parameters the request edge reads (the token of an event stream or a
        WebSocket), so the query model need not declare them."""
        consumed: set[str] = set()
        if self.token_in_query or self.kind == "websocket":
            consumed.add("token")
        if self.acting_tenant:
            consumed.add("tenant_id")
        return frozenset(consumed)

    @cached_property
    def response_by_status(self) -> dict[int, Response]:
        return {r.status: r for r in self.responses}

    @cached_property
    def header_names(self) -> frozenset[str]:
        return frozenset(h.name.lower() for h in self.headers)

    @cached_property
    def codes(self) -> dict[str, ErrorCode]:
        """Every error code this route can answer, by code: the declared ones plus those its
        shape implies (401 for authenticated routes; 422 for every route, as a query parameter
        it does not declare or given twice is refused; 404 for a path with parameters; the
        body errors 400/408/413/415/422 for a body; 414 for query parameters, whose values can
        make the request line exceed its 8 KB; 400 `invalid_cursor` for a cursor; 400
        `invalid_header` for declared request headers (bytes that are not UTF-8); 507
        `storage_full` and 503 `write_conflict` wherever something may be written: every
        method but GET, and every authenticated route, since a token's first use provisions
        its user). One code is one error everywhere."""
        implied: list[ErrorCode] = [VALIDATION_FAILED]
        if self.auth == "token":
            implied.append(NOT_AUTHENTICATED)
        if self.auth == "token" or self.method not in ("GET", "HEAD"):
            implied += (STORAGE_FULL, WRITE_CONFLICT)
        if self.path_params:
            implied.append(NOT_FOUND)
        if self.body is not None or self.binary_body is not None:
            implied += BODY_ERRORS
        if self.query is not None or self.acting_tenant:
            implied.append(URI_TOO_LONG)
            if self.query is not None and "cursor" in self.query.model_fields:
                implied.append(INVALID_CURSOR)
        if self.headers:
            implied.append(INVALID_HEADER)
        codes: dict[str, ErrorCode] = {}
        for error in (*implied, *self.errors):
            if codes.setdefault(error.code, error) != error:
                raise ValueError(f"{self.name}: two errors named {error.code}")
        return codes

    @cached_property
    def errors_by_status(self) -> dict[int, tuple[ErrorCode, ...]]:
        """The codes of each error status, in status order (the document's responses)."""
        by_status: dict[int, list[ErrorCode]] = {}
        for error in self.codes.values():
            by_status.setdefault(error.status, []).append(error)
        return {status: tuple(by_status[status]) for status in sorted(by_status)}

    @cached_property
    def statuses(self) -> frozenset[int]:
        return frozenset(self.response_by_status) | frozenset(self.errors_by_status)
