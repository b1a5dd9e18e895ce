"""How a failed ScaiGrid call reads to our callers (SPEC §9, §10): one mapping, used by the
lookups, the ScaiCore proxy and the event stream. Deploy maps its steps' failures itself
(SPEC §7.1 names a code per step)."""

from __future__ import annotations

from scaiflow_box.errors import DomainError, RateLimited, UpstreamFailed
from scaiflow_box.upstream.scaigrid import ScaiGridError

AUTH_FIX = "Caller needs `scaicore:view` on this tenant."


def upstream_failed(code: str, message: str, *, fix: str | None = None,
                    status: int | None = None, upstream_code: str | None = None
                    ) -> UpstreamFailed:
    """A 502 whose detail carries the upstream `status` and `code` where known."""
    error = UpstreamFailed(message, code=code, fix=fix)
    if status is not None:
        error.extra["status"] = status
    if upstream_code is not None:
        error.extra["code"] = upstream_code
    return error


def lookup_error(exc: ScaiGridError) -> DomainError:
    if exc.kind == "unreachable":
        return upstream_failed("scaigrid_unreachable",
                               f"ScaiGrid could not be reached ({exc.message})",
                               fix="Check SCAIGRID_BASE_URL or the tenant's base_url, and "
                                   "that ScaiGrid is up.")
    if exc.kind == "auth":
        return upstream_failed("scaigrid_auth", "ScaiGrid refused the credentials",
                               fix=AUTH_FIX, status=exc.status, upstream_code=exc.code)
    if exc.kind == "rate_limited":
        limited = RateLimited(f"ScaiGrid asked to slow down: {exc.message}",
                              retry_after=exc.retry_after, code="scaigrid_rate_limited")
        if exc.code is not None:
            limited.extra["upstream_code"] = exc.code
        return limited
    return upstream_failed("scaigrid_error", f"ScaiGrid answered an error: {exc.message}",
                           status=exc.status, upstream_code=exc.code)
