"""`flows.summary` is written by the store since migration 010, no longer by the triggers of
008: the bytes must stay what the triggers' `json_object` made, since they are spliced into
responses as they are, and every write that changed them through the triggers must still
change them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store.migrations import apply_migrations, available_migrations
from tests.api.catalog_helpers import package_url, publish
from tests.conftest import Appliance, hello_content

FLOWS = "/api/v1/flows"
TRIGGERS = {"flows_summary_insert", "flows_summary_update"}

EVERY_CHARACTER = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
TEXTS = [
    "Plain flow",
    "",
    'Quotes " \'single\' and \\ backslashes \\\\ and / slash',
    "Control \x00\x01\x07\b\t\n\x0b\f\r\x1b\x1f\x7f end",
    "Unicode é ß 漢字 𝄞 🚀👩‍💻 \u200b\u200d \u2028\u2029 \ufeff \U0010ffff",
    "RTL עברית العربية, combining e\u0301",
    '{"looks": ["like", "json"], "n": 1e400}',
    "12345",
    "null",
    "<script>alert(1)</script> & \u0080\u009f\u00a0",
    " leading and trailing spaces ",
    "x" * 100_000,
    EVERY_CHARACTER,
]
VERSIONS = ["1.0.0", "1.0.1", "999999999999.999999999999.999999999999",
            "18446744073709551616.0.0", "1.0.0-rc.1+build.5"]


def database_at(path: Path, last: int) -> sqlite3.Connection:
    """A database migrated up to `last` (included), as that version of the appliance left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                 " name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    for number, name, sql in available_migrations():
        if number <= last:
            conn.executescript(sql)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (number, name))
    return conn


def triggers(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"
                                       " AND tbl_name = 'flows'")}


def summaries(conn: sqlite3.Connection) -> list[tuple[str, str, bytes]]:
    """Each flow's summary as stored: its type and its bytes."""
    return [tuple(r) for r in conn.execute(
        "SELECT id, typeof(summary), CAST(summary AS BLOB) FROM flows ORDER BY id")]


Step = Callable[[sqlite3.Connection], None]


def history() -> list[Step]:
    """Writes of every kind the service makes (create, save a version, rename, describe,
    move the owner, delete, restore, a meta-only change), over every kind of text."""
    steps: list[Step] = []

    def step(fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        steps.append(lambda conn: fn(conn, *args, **kwargs))

    for i, text in enumerate(TEXTS):
        flow_id = f"flow_{i:02d}"
        tenant = "tnt_ü" if i % 2 else "tnt_a"
        step(flow_rows.insert_flow, flow_id=flow_id, tenant_id=tenant, name=text,
             description=TEXTS[-1 - i], owner_id=f"usr_{text[:8]}", version=VERSIONS[0],
             now=f"2026-0{1 + i % 9}-02T03:04:05.{i:06d}Z")
        step(flow_rows.update_flow, tenant, flow_id, name=TEXTS[(i + 3) % len(TEXTS)],
             meta_rev=1, updated_at="2026-05-01T00:00:00Z")
        step(flow_rows.update_flow, tenant, flow_id, description=text, meta_rev=2,
             updated_at="")
        step(flow_rows.update_flow, tenant, flow_id, version=VERSIONS[i % len(VERSIONS)],
             version_seq=2 + i, meta_rev=0, updated_at="2026-05-02T00:00:00.5+02:00")
        step(flow_rows.update_flow, tenant, flow_id, owner_id="usr_next\u2028",
             updated_at="2026-05-03T00:00:00Z", meta_rev=1)
        step(flow_rows.update_flow, tenant, flow_id, meta_rev=7)  # no field of the summary
        if i % 3 == 0:
            step(flow_rows.update_flow, tenant, flow_id, deleted_at="2026-05-04T00:00:00Z",
                 updated_at="2026-05-04T00:00:00Z")
        if i % 6 == 0:
            step(flow_rows.update_flow, tenant, flow_id, deleted_at=None,
                 updated_at="2026-05-05T00:00:00Z")
    step(flow_rows.update_flow, "tnt_a", "flow_missing", name="nobody")
    step(flow_rows.update_flow, "tnt_other", "flow_00", name="another tenant's")
    return steps


@pytest.mark.sqlite_only("compares with SQLite's json_object triggers of migration 008")
def test_the_summary_bytes_are_the_triggers_bytes(tmp_path: Path) -> None:
    """The same writes on a database with the triggers (009: their `json_object` overwrites
    what the store wrote) and on one without (010: the store's alone) leave the same bytes
    after every step."""
    with_triggers = database_at(tmp_path / "triggers.db", 9)
    assert triggers(with_triggers) >= TRIGGERS
    without = database_at(tmp_path / "python.db", 10)
    assert not triggers(without) & TRIGGERS
    for number, step in enumerate(history()):
        step(with_triggers)
        step(without)
        made_by_sqlite, made_by_python = summaries(with_triggers), summaries(without)
        assert made_by_python == made_by_sqlite, f"after step {number}"
    assert len(made_by_python) == len(TEXTS)
    for row in without.execute(f"SELECT {', '.join(flow_rows.SUMMARY_FIELDS)}, summary"
                               " FROM flows"):
        assert row["summary"] == flow_rows.summary_json(dict(row))
        assert orjson.loads(row["summary"]) == {k: row[k] for k in flow_rows.SUMMARY_FIELDS}
    with_triggers.close()
    without.close()


@pytest.mark.sqlite_only("SQLite's migration 010")
def test_migration_010_drops_the_triggers_and_keeps_the_summaries(tmp_path: Path) -> None:
    conn = database_at(tmp_path / "old.db", 9)
    for step in history()[:40]:
        step(conn)
    before = summaries(conn)
    assert apply_migrations(conn) == [n for n, _, _ in available_migrations() if n > 9]
    assert not triggers(conn) & TRIGGERS
    assert summaries(conn) == before
    # The flow_owner_counts triggers of 008 stay: they keep counts, not bytes.
    assert {"flow_owner_counts_insert", "flow_owner_counts_update",
            "flow_owner_counts_delete"} <= triggers(conn)
    conn.close()


def _stored(app: Appliance, flow_id: str) -> dict[str, Any]:
    """The flow's stored summary, checked against its row."""
    [row] = app.sql(f"SELECT {', '.join(flow_rows.SUMMARY_FIELDS)}, summary FROM flows"
                    " WHERE id = ?", flow_id)
    summary: dict[str, Any] = orjson.loads(row["summary"])
    assert summary == {k: row[k] for k in flow_rows.SUMMARY_FIELDS}
    assert row["summary"] == flow_rows.summary_json(dict(row))
    return summary


async def test_every_write_of_a_flow_keeps_its_summary(appliance: Appliance) -> None:
    """Create, rename, describe, save a version, restore a version, delete, restore, move
    the owner, install from the catalog: each answer and the stored summary agree with the
    row."""
    alice = await appliance.headers("usr_alice", "tnt_a")
    await appliance.user("usr_bob", "tnt_a")
    admin = await appliance.headers("usr_admin", "tnt_a", role="tenant_admin")
    root = await appliance.headers("usr_root", "tnt_a", role="super_admin")

    resp = await appliance.client.post(FLOWS, headers=alice, json={
        "name": "Première \"flow\"", "description": "", "content": hello_content("first")})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    flow_id = created["id"]
    url = f"{FLOWS}/{flow_id}"
    summary = _stored(appliance, flow_id)
    assert {**summary, "content": created["content"]} == created

    async def check(resp: Any, status: int = 200) -> dict[str, Any]:
        assert resp.status == status, await resp.text()
        summary = _stored(appliance, flow_id)
        if status == 200:
            body = await resp.json()  # a FlowDetail, or the owner move's few fields
            assert {k: body[k] for k in summary if k in body} == {
                k: summary[k] for k in body if k in summary}
        return summary

    summary = await check(await appliance.client.put(url, headers=alice, json={
        "name": "Renamed 漢字 \u2028"}))
    assert (summary["name"], summary["version"]) == ("Renamed 漢字 \u2028", "1.0.0")
    summary = await check(await appliance.client.put(url, headers=alice, json={
        "description": "two\nlines\t\\"}))
    assert summary["description"] == "two\nlines\t\\"
    summary = await check(await appliance.client.put(url, headers=alice, json={
        "content": hello_content("second")}))
    assert summary["version"] == "1.0.1"
    summary = await check(await appliance.client.post(f"{url}/versions/1.0.0/restore",
                                                      headers=alice))
    assert summary["version"] == "1.0.2"
    updated_at = summary["updated_at"]
    summary = await check(await appliance.client.delete(url, headers=alice), 204)
    assert summary["updated_at"] >= updated_at
    summary = await check(await appliance.client.post(f"{url}/restore", headers=admin))
    summary = await check(await appliance.client.post(
        f"/api/v1/admin/flows/{flow_id}/owner", headers=root, json={"owner_id": "usr_bob"}))
    assert summary["owner_id"] == "usr_bob"
    resp = await appliance.client.get(FLOWS, headers=root)
    assert [i for i in (await resp.json())["items"] if i["id"] == flow_id] == [summary]

    await publish(appliance, alice)
    resp = await appliance.client.post(package_url("hello", "/install"), headers=alice,
                                       json={"save": True, "name": "Installed ✓"})
    assert resp.status == 201, await resp.text()
    installed = await resp.json()
    summary = _stored(appliance, installed["id"])
    assert (summary["name"], summary["owner_id"]) == ("Installed ✓", "usr_alice")
    assert {k: installed[k] for k in summary} == summary


async def test_the_rows_writes_return_are_the_rows_read_back(appliance: Appliance) -> None:
    """`insert_flow` and `update_flow(current=...)` return the row as the write left it, and
    the write jobs answer from it instead of reading the row again: it must be what
    `get_flow` reads back in the same transaction, byte for byte, for every kind of change
    and text (both engines)."""
    def run(conn: Any) -> int:
        checked = 0
        for i, text in enumerate(TEXTS[:-1]):  # EVERY_CHARACTER exceeds MariaDB's TEXT
            flow_id, tenant = f"flow_rb{i:02d}", "tnt_ü" if i % 2 else "tnt_a"
            made = flow_rows.insert_flow(
                conn, flow_id=flow_id, tenant_id=tenant, name=text, description=text[::-1],
                owner_id=f"usr_{i}", version=VERSIONS[0], now=f"2026-01-02T03:04:0{i % 10}Z")
            assert made == dict(flow_rows.get_flow(conn, tenant, flow_id)), text
            for fields in ({"name": TEXTS[(i + 3) % len(TEXTS)][:1000], "meta_rev": 1,
                            "updated_at": "2026-05-01T00:00:00Z"},
                           {"meta_rev": 7},  # no field of the summary
                           {"version": VERSIONS[i % len(VERSIONS)], "version_seq": 2 + i,
                            "meta_rev": 0, "updated_at": "2026-05-02T00:00:00Z"},
                           {"owner_id": "usr_next\u2028", "meta_rev": 1},
                           {"deleted_at": "2026-05-04T00:00:00Z", "updated_at": "x"},
                           {"deleted_at": None, "updated_at": "2026-05-05T00:00:00Z"}):
                current = flow_rows.get_flow(conn, tenant, flow_id, include_deleted=True,
                                             for_update=True)
                after = flow_rows.update_flow(conn, tenant, flow_id, current=current, **fields)
                assert after == dict(flow_rows.get_flow(conn, tenant, flow_id,
                                                        include_deleted=True)), (text, fields)
                checked += 1
        return checked

    assert await appliance.db.write(run) == 6 * (len(TEXTS) - 1)
