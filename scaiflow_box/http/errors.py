"""Errors on the wire: the one table from domain errors to HTTP statuses, the transport's own
errors, and the documented error bodies (FastAPI's `{"detail": ...}` shapes, SPEC §1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

from scaiflow_box.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidFields,
    InvalidInput,
    NotAuthenticated,
    NotConfigured,
    NotFound,
    PreconditionFailed,
    RateLimited,
    StorageFull,
    TooLarge,
    UpstreamFailed,
    WriteConflict,
)


class HttpError(DomainError):
    """An error of the transport itself (body encoding, size, timeout, header sizes), raised by
    `http/` only. `close` asks for the connection to be closed after the answer."""

    def __init__(self, status: int, code: str, message: str, *, fix: str | None = None,
                 close: bool = False) -> None:
        super().__init__(message, code=code, fix=fix)
        self.status = status
        self.close = close


# The one table: the first class of an error's MRO found here gives its status.
STATUS_OF: dict[type[DomainError], int] = {
    NotAuthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    InvalidInput: 400,
    InvalidFields: 422,
    NotConfigured: 503,
    UpstreamFailed: 502,
    RateLimited: 429,
    StorageFull: 507,
    TooLarge: 413,
    WriteConflict: 503,
}


def status_of(exc: DomainError) -> int:
    if isinstance(exc, HttpError):
        return exc.status
    for cls in type(exc).__mro__:
        status = STATUS_OF.get(cls)
        if status is not None:
            return status
    return 400


def detail_of(exc: DomainError) -> Any:
    if isinstance(exc, InvalidFields):
        return exc.items
    if exc.plain:
        return exc.message
    detail: dict[str, Any] = {"error": exc.code, "message": exc.message}
    if exc.fix:
        detail["fix"] = exc.fix
    detail.update(exc.extra)
    return detail


def headers_of(exc: DomainError) -> dict[str, str]:
    if isinstance(exc, NotAuthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, HttpError) and exc.close:
        return {"Connection": "close"}
    if isinstance(exc, RateLimited | WriteConflict) and exc.retry_after:
        return {"Retry-After": exc.retry_after}
    return {}


def json_response(payload: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, headers=headers,
                        content_type="application/json")


def error_response(exc: DomainError) -> web.Response:
    response = json_response({"detail": detail_of(exc)}, status_of(exc), headers_of(exc))
    if isinstance(exc, HttpError) and exc.close:
        response.force_close()
    return response


# -- the documented error bodies (OpenAPI components) -----------------------------------
class PlainError(BaseModel):
    """`{"detail": "<text>"}`: FastAPI's plain shape (401, plain 404s)."""

    model_config = ConfigDict(title="PlainError")
    detail: str


class ValidationItem(BaseModel):
    model_config = ConfigDict(title="ValidationItem")
    loc: list[str | int]
    msg: str
    type: str


class ValidationError(BaseModel):
    """422: FastAPI's list shape."""

    model_config = ConfigDict(title="ValidationError")
    detail: list[ValidationItem]


class ErrorFields(BaseModel):
    """What every structured detail holds. An error code whose detail carries more subclasses
    this with those fields; the document gives each code its own detail schema, with `error`
    as a constant, so clients narrow on it. Documentation only: details are built as dicts
    (`detail_of`), and the dispatcher checks their extra keys against these fields."""

    error: str = Field(description="The stable code")
    message: str = Field(description="For humans")
    # Absent rather than null when there is nothing to say (`detail_of` omits it).
    fix: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(
        default=None, description="What to do about it")


Wire = Literal["structured", "plain", "validation"]


@dataclass(frozen=True)
class ErrorCode:
    """One error a route can answer: its status, its stable `error` code and what it means.

    `wire` is its body: `structured` (`{"detail": {"error", "message", "fix"?, ...fields}}`),
    `plain` (`{"detail": "<text>"}`; the code never reaches the wire: it is the domain
    error's) or `validation` (422, FastAPI's list). `fields` is the detail's shape when it
    carries more than `error`, `message` and `fix`. Routes declare the codes they answer
    (`Route.errors`); the document is generated from them and the dispatcher logs any domain
    error a route answers without declaring it (tests fail on that line)."""

    status: int
    code: str
    description: str
    wire: Wire = "structured"
    fields: type[ErrorFields] = ErrorFields

    @property
    def extra_fields(self) -> frozenset[str]:
        return frozenset(self.fields.model_fields) - frozenset(ErrorFields.model_fields)


def _camel(code: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in code.split("_"))


@cache
def body_model(error: ErrorCode) -> type[BaseModel]:
    """The documented body of `error`: `PlainError`, `ValidationError`, or a model of its own
    (`VersionConflictError` with `detail: VersionConflictDetail`, `error` a constant)."""
    if error.wire == "plain":
        return PlainError
    if error.wire == "validation":
        return ValidationError
    name = _camel(error.code)
    detail = create_model(
        f"{name}Detail", __base__=error.fields, __doc__=error.description,
        error=(str, Field(description="The stable code", json_schema_extra={"const": error.code})))
    body: type[BaseModel] = create_model(
        name if name.endswith("Error") else f"{name}Error",
        __doc__=f"`{error.code}`: {error.description}", detail=(detail, ...))
    return body


def undeclared_answer(declared: Mapping[str, ErrorCode], exc: DomainError) -> str | None:
    """What a route answering `exc` would say that its declared codes do not (None: nothing).
    Statuses are checked first by the caller; this checks the code, the body's shape and the
    detail's extra fields."""
    error = declared.get(exc.code)
    status = status_of(exc)
    if error is None or error.status != status:
        return f"error code {exc.code} ({status})"
    plain = exc.plain
    if plain != (error.wire == "plain"):
        return f"{'plain' if plain else 'structured'} body for {exc.code} ({status})"
    extra = set(exc.extra) - error.extra_fields
    if extra and not plain:
        return f"detail fields {sorted(extra)} of {exc.code} ({status})"
    return None


# -- the codes of the transport: what the route's shape implies (http/route.py) ----------
NOT_AUTHENTICATED = ErrorCode(401, "not_authenticated",
                              "`Not authenticated` or `invalid token: <reason>`", wire="plain")
NOT_FOUND = ErrorCode(404, "not_found",
                      "Unknown, of another tenant, or not visible to the caller", wire="plain")
BAD_REQUEST_BODY = ErrorCode(400, "bad_request_body",
                             "The body does not decode (Content-Encoding) or is shorter than "
                             "its Content-Length")
INVALID_CURSOR = ErrorCode(400, "invalid_cursor", "A cursor this list did not issue")
INVALID_HEADER = ErrorCode(400, "invalid_header",
                           "A request header the route reads holds bytes that are not UTF-8")
REQUEST_TIMEOUT = ErrorCode(408, "request_timeout", "The request body did not arrive in time")
PAYLOAD_TOO_LARGE = ErrorCode(413, "payload_too_large", "Request body too large")
URI_TOO_LONG = ErrorCode(414, "uri_too_long",
                         "The request line (path and query) is longer than 8 KB")
UNSUPPORTED_MEDIA_TYPE = ErrorCode(415, "unsupported_media_type",
                                   "The body is not of the media type the operation takes "
                                   "(`application/json` unless its request body names another)")
UNSUPPORTED_CONTENT_ENCODING = ErrorCode(415, "unsupported_content_encoding",
                                         "A Content-Encoding other than gzip or deflate")
VALIDATION_FAILED = ErrorCode(422, "validation_failed", "Validation failed (FastAPI's list "
                              "shape)", wire="validation")
STORAGE_FULL = ErrorCode(507, "storage_full",
                         "The appliance's storage is full: nothing was written; retry once "
                         "there is room")
WRITE_CONFLICT = ErrorCode(503, "write_conflict",
                           "Several processes on one MariaDB: the write kept meeting others to "
                           "the same rows and was not made; send it again after Retry-After")
BODY_ERRORS = (BAD_REQUEST_BODY, REQUEST_TIMEOUT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE,
               UNSUPPORTED_CONTENT_ENCODING, VALIDATION_FAILED)
