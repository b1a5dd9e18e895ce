"""Audit rows: one per mutation, written in the same transaction as the mutation."""

from __future__ import annotations

from typing import Any

import orjson

from scaiflow_box.store.engine import Connection, Row
from scaiflow_box.timestamps import now_iso

# Keys whose values never enter an audit row, whatever a caller passes.
_SECRET_KEYS = frozenset({"api_key", "token", "secret", "password", "client_secret", "key"})


def record(
    conn: Connection,
    *,
    tenant_id: str | None,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    clean = {k: v for k, v in (details or {}).items() if k not in _SECRET_KEYS}
    conn.execute(
        "INSERT INTO audit_log (at, tenant_id, actor, action, target_type, target_id, details,"
        " request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (now_iso(), tenant_id, actor, action, target_type, target_id,
         orjson.dumps(clean).decode(), request_id),
    )


def list_entries(
    conn: Connection,
    *,
    tenant_id: str | None,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[Row]:
    clauses: list[str] = []
    params: list[Any] = []
    if tenant_id is not None:
        clauses.append("tenant_id = ?")
        params.append(tenant_id)
    if actor is not None:
        clauses.append("actor = ?")
        params.append(actor)
    if action is not None:
        clauses.append("action = ?")
        params.append(action)
    if since is not None:
        clauses.append("at >= ?")
        params.append(since)
    if before_id is not None:
        clauses.append("id < ?")
        params.append(before_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return conn.execute(
        f"SELECT * FROM audit_log {where} ORDER BY id DESC LIMIT ?", (*params, limit)
    ).fetchall()
