"""Deployment records (SPEC §7): one per deploy attempt, successful or not. Every query
takes the tenant id."""

from __future__ import annotations

from typing import Any

from scaiflow_box.store.engine import Connection, Row

DEPLOYMENT_COLUMNS = ("id, flow_id, version, core_id, published_slug, status, error,"
                      " deployed_by, created_at, duration_ms")


def insert_deployment(conn: Connection, *, deployment_id: str, tenant_id: str,
                      flow_id: str, version: str, core_id: str | None,
                      published_slug: str | None, status: str, error: str | None,
                      deployed_by: str, created_at: str, duration_ms: int) -> None:
    conn.execute(
        f"INSERT INTO deployments (tenant_id, {DEPLOYMENT_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (tenant_id, deployment_id, flow_id, version, core_id, published_slug, status, error,
         deployed_by, created_at, duration_ms),
    )


def get_deployment(conn: Connection, tenant_id: str,
                   deployment_id: str) -> Row | None:
    row: Row | None = conn.execute(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = ? AND tenant_id = ?",
        (deployment_id, tenant_id)).fetchone()
    return row


def list_deployments(
    conn: Connection, tenant_id: str, flow_id: str, *, before: tuple[str, str] | None,
    limit: int,
) -> list[Row]:
    params: list[Any] = [tenant_id, flow_id]
    extra = ""
    if before is not None:
        extra = " AND (created_at, id) < (?, ?)"
        params.extend(before)
    return conn.execute(
        f"SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE tenant_id = ? AND flow_id = ?"
        f"{extra}"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        (*params, limit),
    ).fetchall()
