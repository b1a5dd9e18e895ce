"""Domain errors: what went wrong, in the domain's words. Nothing here knows HTTP.

Services, `auth/` and the store raise these; `http/errors.py` maps each class to a status and
the `{"detail": ...}` body in one table. Messages must never carry a secret.

A *plain* error renders as `{"detail": "<message>"}` (FastAPI's default, what upstream uses for
401s and simple 404s); every other one as `{"detail": {"error", "message", "fix"?, ...extra}}`
so a machine can branch on `error`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error raised on purpose. `code` is a stable snake_case identifier."""

    default_code: ClassVar[str] = "error"
    default_plain: ClassVar[bool] = False

    def __init__(self, message: str, *, code: str | None = None, fix: str | None = None,
                 plain: bool | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.fix = fix
        self.plain = self.default_plain if plain is None else plain
        self.extra = extra


class NotAuthenticated(DomainError):
    """No credentials, or credentials that do not verify (always a plain message)."""

    default_code = "not_authenticated"
    default_plain = True

    def __init__(self, reason: str | None = None) -> None:
        super().__init__("Not authenticated" if reason is None else f"invalid token: {reason}")
        self.reason = reason


class Forbidden(DomainError):
    """Authenticated, but not allowed to do this."""

    default_code = "forbidden"


class MissingPermission(Forbidden):
    default_code = "missing_permission"

    def __init__(self, permission: str) -> None:
        super().__init__(f"this action needs the `{permission}` permission",
                         fix=f"Caller needs `{permission}` on this tenant.")
        self.permission = permission


class NotFound(DomainError):
    """Unknown, of another tenant, or not visible to the caller (no existence oracle)."""

    default_code = "not_found"
    default_plain = True


class Conflict(DomainError):
    """The request collides with what exists (409)."""

    default_code = "conflict"


class PreconditionFailed(DomainError):
    """A precondition of the request does not hold (412): stale If-Match, missing credentials."""

    default_code = "precondition_failed"


class VersionConflict(PreconditionFailed):
    """`If-Match` names a representation that is no longer current."""

    default_code = "version_conflict"

    def __init__(self, current_version: str, current_etag: str, given: str) -> None:
        super().__init__(
            f"the flow is at {current_etag}, not {given}" if given
            else f"If-Match names no strong entity-tag; the flow is at {current_etag}",
            fix="Reload the flow and retry with its current ETag.",
            current_version=current_version, current_etag=current_etag)


class InvalidInput(DomainError):
    """Input that parsed but cannot be used (400)."""

    default_code = "invalid_input"


class InvalidFields(DomainError):
    """Field-level validation failures (422, FastAPI's list shape).

    `items` are `{"loc": [...], "msg": str, "type": str}`."""

    default_code = "validation_failed"

    def __init__(self, items: list[dict[str, Any]]) -> None:
        super().__init__("validation failed")
        self.items = items


class TooLarge(DomainError):
    """Input over a size limit the domain sets (413), such as a package member beyond its
    uncompressed limit; the transport's own body limit is `http/`'s."""

    default_code = "too_large"


class NotConfigured(DomainError):
    """A dependency this request needs is not configured (503)."""

    default_code = "not_configured"


class UpstreamFailed(DomainError):
    """ScaiGrid or ScaiKey failed or could not be reached (502)."""

    default_code = "upstream_failed"


class RateLimited(DomainError):
    """An upstream asked us to slow down (429); passed through with its Retry-After."""

    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: str | None, code: str | None = None,
                 **extra: Any) -> None:
        super().__init__(message, code=code, **extra)
        self.retry_after = retry_after


class WriteConflict(DomainError):
    """A write kept meeting other processes' writes to the same rows (a deadlock, a Galera
    certification failure) on every attempt the store makes: nothing was written (503, with
    Retry-After). Only with several processes on one MariaDB."""

    default_code = "write_conflict"
    retry_after = "1"

    def __init__(self) -> None:
        super().__init__(
            "the database was busy with other writes to the same data: nothing was written",
            fix="Send the request again (after Retry-After); it changes nothing until it "
                "succeeds.")


class StorageFull(DomainError):
    """The disk holding the database (or the database's size cap) is full: the write was not
    made (507). Writes succeed again by themselves once there is room."""

    default_code = "storage_full"

    def __init__(self) -> None:
        super().__init__(
            "the appliance's storage is full: nothing was written",
            fix="Free space on the disk that holds the appliance's data directory (or grow "
                "it); writes succeed again as soon as there is room, without a restart. "
                "GET /readyz reports storage_full until then.")
