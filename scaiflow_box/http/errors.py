"""Errors on the wire: the one table from domain errors to HTTP statuses, the transport's own
errors, and the documented error bodies (FastAPI's `{"detail": ...}` shapes, SPEC §1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict

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
    UpstreamFailed,
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
    if isinstance(exc, RateLimited) and exc.retry_after:
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
class ErrorDetail(BaseModel):
    """A structured error a machine can branch on (`error` is stable)."""

    model_config = ConfigDict(extra="allow", title="ErrorDetail")
    error: str
    message: str
    fix: str | None = None


class PlainError(BaseModel):
    model_config = ConfigDict(title="PlainError")
    detail: str


class StructuredError(BaseModel):
    model_config = ConfigDict(title="StructuredError")
    detail: ErrorDetail


class Error(BaseModel):
    """`{"detail": "<text>"}` or `{"detail": {"error", "message", "fix"?, ...}}`."""

    model_config = ConfigDict(title="Error")
    detail: str | ErrorDetail


class ValidationItem(BaseModel):
    model_config = ConfigDict(title="ValidationItem")
    loc: list[str | int]
    msg: str
    type: str


class ValidationError(BaseModel):
    """422: FastAPI's list shape."""

    model_config = ConfigDict(title="ValidationError")
    detail: list[ValidationItem]


class VersionConflictDetail(ErrorDetail):
    model_config = ConfigDict(extra="allow", title="VersionConflictDetail")
    error: Literal["version_conflict"]
    current_version: str
    current_etag: str


class VersionConflictError(BaseModel):
    model_config = ConfigDict(title="VersionConflictError")
    detail: VersionConflictDetail


@dataclass(frozen=True)
class ErrorSpec:
    """One error status a route can answer, with its body schema."""

    status: int
    model: type[BaseModel]
    description: str


ERRORS: dict[int, ErrorSpec] = {spec.status: spec for spec in (
    ErrorSpec(400, Error, "Bad input that parsed (a stable `error` code says which)"),
    ErrorSpec(401, PlainError, "`Not authenticated` or `invalid token: <reason>`"),
    ErrorSpec(403, StructuredError, "Authenticated but not allowed (`missing_permission`,"
                                    " `forbidden`)"),
    ErrorSpec(404, Error, "Unknown, of another tenant, or not visible to the caller"),
    ErrorSpec(408, StructuredError, "The request body did not arrive in time"),
    ErrorSpec(409, StructuredError, "Conflicts with what exists"),
    ErrorSpec(412, StructuredError, "A precondition failed"),
    ErrorSpec(413, StructuredError, "Request body too large"),
    ErrorSpec(414, StructuredError, "The request line (path and query) is longer than 8 KB"),
    ErrorSpec(415, StructuredError, "Wrong Content-Type or Content-Encoding"),
    ErrorSpec(422, ValidationError, "Validation failed (FastAPI's list shape)"),
    ErrorSpec(429, StructuredError, "ScaiGrid asked to slow down; `Retry-After` is passed on"),
    ErrorSpec(502, StructuredError, "An upstream service failed"),
    ErrorSpec(503, StructuredError, "A dependency is not configured or unreachable"),
    ErrorSpec(507, StructuredError, "The appliance's storage is full: nothing was written "
                                    "(`storage_full`, with a fix); retry once there is room"),
)}

VERSION_CONFLICT = ErrorSpec(
    412, VersionConflictError,
    "`If-Match` names a stale ETag (`version_conflict` with `current_version`, `current_etag`)")
