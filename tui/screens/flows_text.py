"""The Flows screens' text: pure functions of flows, deployments and deploy failures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.text import Text

from tui.client import AdminClientError, ApiError, Deployment
from tui.flow_models import Compiled, TenantFlow, Validation

MAX_ERRORS_SHOWN = 3


def flow_cells(flow: TenantFlow) -> list[str | None]:
    return [flow.name, flow.version, flow.updated_at, flow.owner_email or flow.owner_id,
            "deleted" if flow.deleted else "live", flow.id]


def flow_detail(flow: TenantFlow) -> Text:
    text = Text(flow.name, style="bold")
    text.append(f"  {flow.id} · version {flow.version}")
    if flow.deleted:
        text.append(f" · DELETED {flow.deleted_at} (u undeletes it)", style="red")
    owner = flow.owner_id + (f" ({flow.owner_email})" if flow.owner_email else "")
    text.append(f"\nowner {owner or '-'} · created {flow.created_at or '-'} · "
                f"updated {flow.updated_at or '-'}")
    if flow.description:
        text.append(f"\n{flow.description}")
    return text


def format_duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def deployment_target(deployment: Deployment) -> str | None:
    """The core id, and the published slug when the core was published as a model."""
    if deployment.core_id and deployment.published_slug:
        return f"{deployment.core_id} / {deployment.published_slug}"
    return deployment.core_id or deployment.published_slug


def deployment_cells(deployment: Deployment) -> list[str | None]:
    return [deployment.created_at, deployment.version, deployment.status,
            format_duration(deployment.duration_ms), deployment_target(deployment),
            deployment.error, deployment.id]


def deployment_detail(deployment: Deployment) -> Text:
    text = Text(deployment.id, style="bold")
    text.append(f"  {deployment.status}", style="green" if deployment.succeeded else "red")
    text.append(f"  version {deployment.version} · {deployment.created_at} by "
                f"{deployment.deployed_by or '-'} · {format_duration(deployment.duration_ms)}")
    if deployment.core_id:
        text.append(f"\ncore {deployment.core_id}")
    if deployment.published_slug:
        text.append(f" · published as {deployment.published_slug}")
    if deployment.error:
        text.append(f"\nerror: {deployment.error}", style="red")
    return text


def compile_errors(errors: Any) -> list[str]:
    """The messages of a `compile_error` detail's `errors` (diagnostics)."""
    if not isinstance(errors, list):
        return []
    messages = []
    for item in errors:
        if isinstance(item, Mapping) and isinstance(item.get("message"), str):
            where = item.get("node_id") or item.get("edge_id") or item.get("path")
            messages.append(f"{where}: {item['message']}" if isinstance(where, str)
                            else item["message"])
    return messages


def deploy_failure_note(error: AdminClientError) -> str:
    """What the failure left behind, and the compiler's first errors."""
    if not isinstance(error, ApiError):
        return ("The appliance did not answer: the deploy may still be running; press r to "
                "see whether it was recorded.")
    parts: list[str] = []
    deployment_id = error.extra.get("deployment_id")
    if isinstance(deployment_id, str):
        parts.append(f"Recorded as failed deployment {deployment_id} (below).")
    messages = compile_errors(error.extra.get("errors"))
    if messages:
        shown = "; ".join(messages[:MAX_ERRORS_SHOWN])
        more = len(messages) - MAX_ERRORS_SHOWN
        parts.append(f"Errors: {shown}" + (f" (and {more} more)" if more > 0 else ""))
    upstream = error.extra.get("status")
    if isinstance(upstream, int):
        parts.append(f"ScaiGrid answered HTTP {upstream}.")
    return " ".join(parts)


def deployed_text(name: str, deployment: Deployment) -> str:
    text = f"Deployed {name} {deployment.version} as {deployment.id}: core " \
           f"{deployment.core_id or '-'}"
    if deployment.published_slug:
        text += f", published as {deployment.published_slug}"
    return text + f" ({format_duration(deployment.duration_ms)})."


def validation_text(name: str, version: str, result: Validation) -> str:
    head = (f"{name} {version} is valid" if result.valid
            else f"{name} {version} does NOT validate")
    errors = sum(1 for d in result.diagnostics if d.severity == "error")
    warnings = len(result.diagnostics) - errors
    lines = [f"{head}: {errors} error(s), {warnings} warning(s)."]
    lines += [f"  {d.line()}" for d in result.diagnostics]
    return "\n".join(lines)


def compiled_text(result: Compiled) -> str:
    if result.body is not None and not result.errors:
        return result.body
    return "\n".join(["It does not compile:", *(f"  {d.line()}" for d in result.errors)])
