"""Bulk-load flows and versions straight into the appliance's SQLite file (scale scenario).

Rows follow scaiflow_box/store/migrations/001_initial.sql and what store/flows.py writes:
content is the canonical bytes the service stores (the client's FlowGraph with `id` and
`version` owned by the server), `sha256` and `size_bytes` of those bytes, the upstream
`storage_key`, seq 1..N with versions 1.0.0..1.0.(N-1). Flow ids are generated like the
server's and inserted in key order so the B-trees are built by appending.

The server must not be running: the load switches the journal off for speed and restores WAL
at the end.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from bench.content import bench_content
from bench.processes import LOCAL_TENANT, OPERATOR, init_data_dir, mint_token
from scaiflow_box.ids import new_id
from scaiflow_box.store.flows import storage_key, summary_json
from scaiflow_box.timestamps import iso

_ID, _VERSION, _MARK = "@@ID@@", "@@VERSION@@", "@@MARK@@"
_CHUNK = 20_000


@dataclass(frozen=True)
class SeedReport:
    flows: int
    versions: int
    seconds: float
    db_bytes: int
    flow_ids: list[str]


class _ContentTemplate:
    """The stored bytes of bench_content() with id, version and marker spliced in."""

    def __init__(self) -> None:
        doc = {**bench_content(_MARK), "id": _ID, "version": _VERSION}
        raw = orjson.dumps(doc).decode()
        head, rest = raw.split(f'"{_ID}"', 1)
        middle, rest = rest.split(f'"{_VERSION}"', 1)
        mid2, tail = rest.split(f'"{_MARK}"', 1)
        self._parts = [p.encode() for p in (head, middle, mid2, tail)]

    def render(self, flow_id: str, version: str, mark: str) -> bytes:
        a, b, c, d = self._parts
        return b"".join((a, b'"', flow_id.encode(), b'"', b, b'"', version.encode(), b'"', c,
                         b'"', mark.encode(), b'"', d))


def _version_rows(flow_ids: list[str], owner_of: Callable[[int], str], tenant_id: str,
                  versions_per_flow: int, created: list[str],
                  template: _ContentTemplate) -> Iterator[tuple[object, ...]]:
    for index, flow_id in enumerate(flow_ids):
        owner = owner_of(index)
        for seq in range(1, versions_per_flow + 1):
            version = f"1.0.{seq - 1}"
            content = template.render(flow_id, version, f"{index}-{seq}")
            yield (flow_id, seq, tenant_id, version, storage_key(tenant_id, flow_id, version),
                   content, hashlib.sha256(content).hexdigest(), len(content), owner,
                   created[index])


def _chunks(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    chunk: list[tuple[object, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _flow_row(flow_id: str, tenant_id: str, name: str, owner_id: str, version: str,
              version_seq: int, created_at: str) -> dict[str, object]:
    """A flow's row with its stored summary, which the store writes itself (migration 010)."""
    row: dict[str, object] = {
        "id": flow_id, "name": name, "description": "", "owner_id": owner_id,
        "tenant_id": tenant_id, "version": version, "created_at": created_at,
        "updated_at": created_at}
    return {**row, "version_seq": version_seq, "summary": summary_json(row)}


def seed_database(db_path: Path, *, tenant_id: str, flows: int, versions_per_flow: int,
                  owner_of: Callable[[int], str]) -> SeedReport:
    """Insert `flows` flows (flow i owned by `owner_of(i)`) with `versions_per_flow`
    versions each; return their ids. Triggers (e.g. the per-tenant flow count) still run; the
    summary is written here, as the store writes it."""
    if versions_per_flow < 1 or flows < 1:
        raise ValueError("need at least one flow and one version per flow")
    started = time.perf_counter()
    flow_ids = sorted(new_id("flow") for _ in range(flows))
    base = datetime(2025, 1, 1, tzinfo=UTC)
    # Creation order unrelated to id order, like real random ids.
    created = [iso(base + timedelta(seconds=37 * ((i * 7919) % flows))) for i in range(flows)]
    latest = f"1.0.{versions_per_flow - 1}"
    template = _ContentTemplate()

    conn = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO flows (id, tenant_id, name, description, owner_id, version,"
            " version_seq, created_at, updated_at, summary)"
            " VALUES (:id, :tenant_id, :name, :description, :owner_id, :version, :version_seq,"
            " :created_at, :updated_at, :summary)",
            (_flow_row(flow_id, tenant_id, f"Seeded flow {i:06d}", owner_of(i), latest,
                       versions_per_flow, created[i]) for i, flow_id in enumerate(flow_ids)),
        )
        for chunk in _chunks(_version_rows(flow_ids, owner_of, tenant_id, versions_per_flow,
                                           created, template)):
            conn.executemany(
                "INSERT INTO flow_versions (flow_id, seq, tenant_id, version, storage_key,"
                " content, sha256, size_bytes, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk,
            )
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return SeedReport(flows=flows, versions=flows * versions_per_flow,
                      seconds=time.perf_counter() - started,
                      db_bytes=db_path.stat().st_size, flow_ids=flow_ids)


@dataclass(frozen=True)
class Grant:
    flow_id: str
    principal_type: str  # "user" or "group"
    principal_id: str
    level: str = "view"


def seed_directory(db_path: Path, *, tenant_id: str, users: list[str],
                   groups: dict[str, list[str]], grants: list[Grant]) -> None:
    """Users, groups with their members and ACL grants, as the ACL API writes them
    (store/users.py, store/acls.py). The users are the appliance's own (issuer `local`), as
    the first use of a service token records them: the bench signs in with service tokens,
    which never act as a ScaiKey user. The server must not be running."""
    now = iso(datetime(2025, 1, 1, tzinfo=UTC))
    conn = sqlite3.connect(str(db_path), isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO users (id, tenant_id, email, display_name, status, source, issuer,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 'ACTIVE', 'token', 'local', ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            ((user, tenant_id, f"{user}@example.com", user, now, now) for user in users))
        for group_id, members in groups.items():
            conn.execute("INSERT INTO groups (id, tenant_id, name, created_at, updated_at)"
                         " VALUES (?, ?, ?, ?, ?)", (group_id, tenant_id, group_id, now, now))
            conn.executemany(
                "INSERT INTO memberships (group_id, user_id, tenant_id, created_at)"
                " VALUES (?, ?, ?, ?)", ((group_id, user, tenant_id, now) for user in members))
        conn.executemany(
            "INSERT INTO flow_acls (id, tenant_id, flow_id, principal_type, principal_id, level,"
            " granted_by, granted_at) VALUES (?, ?, ?, ?, ?, ?, 'usr_operator', ?)",
            ((new_id("acl"), tenant_id, g.flow_id, g.principal_type, g.principal_id, g.level,
              now) for g in grants))
        conn.execute("COMMIT")
    finally:
        conn.close()


def operator_box(data_dir: Path, flows: int) -> tuple[list[str], str]:
    """A fresh data directory with `flows` seeded flows of the operator (none for 0), and a
    token of the operator's: (the flows' ids, the token)."""
    init_data_dir(data_dir)
    ids: list[str] = []
    if flows:
        ids = seed_database(data_dir / "scaiflow.db", tenant_id=LOCAL_TENANT, flows=flows,
                            versions_per_flow=1, owner_of=lambda _: OPERATOR).flow_ids
    return ids, mint_token(data_dir)
