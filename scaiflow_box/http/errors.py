"""The one error type of the API and its rendering into FastAPI's `{"detail": ...}` shape."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


class ApiError(Exception):
    """A domain or HTTP error the middleware renders. Messages must never carry a secret.

    `error` is the stable snake_case code; with `plain=True` the detail is the bare message
    string (FastAPI's `{"detail": "..."}`), which upstream uses for 401s and simple 404s.
    """

    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        fix: str | None = None,
        *,
        plain: bool = False,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.fix = fix
        self.plain = plain
        self.headers = headers or {}
        self.extra = extra

    @property
    def detail(self) -> Any:
        if self.plain:
            return self.message
        detail: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.fix:
            detail["fix"] = self.fix
        detail.update(self.extra)
        return detail


class ValidationFailed(Exception):
    """422 with FastAPI's list shape: `{"detail": [{"loc", "msg", "type"}]}`."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("validation failed")
        self.errors = errors


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def not_authenticated(reason: str | None = None) -> ApiError:
    message = "Not authenticated" if reason is None else f"invalid token: {reason}"
    return ApiError(401, "not_authenticated", message, plain=True,
                    headers={"WWW-Authenticate": "Bearer"})


def not_found(what: str = "Not found") -> ApiError:
    return ApiError(404, "not_found", what, plain=True)


def missing_permission(permission: str) -> ApiError:
    return ApiError(
        403, "missing_permission", f"this action needs the `{permission}` permission",
        fix=f"Caller needs `{permission}` on this tenant.",
    )


def forbidden(message: str, fix: str | None = None) -> ApiError:
    return ApiError(403, "forbidden", message, fix=fix)
