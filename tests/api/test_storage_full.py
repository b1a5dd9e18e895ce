"""A full disk (issue 12) through the API: writes answer 507 `storage_full` with a fix (not a
500 with a traceback), `/readyz` says `storage_full`, nothing acknowledged is lost, and the
appliance recovers by itself when space returns.

The disk is simulated with SQLite's own size cap, `PRAGMA max_page_count` on the writer's
connection (set through the writer like any other write): SQLite then answers SQLITE_FULL
exactly as it does on a full disk. A real full file system is in tests/store/test_storage_full.py.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

import pytest

from tests.conftest import Appliance, hello_content

pytestmark = pytest.mark.sqlite_only(
    "fills the database with SQLite's PRAGMA max_page_count (MariaDB's full disk errors are "
    "mapped to StorageFull in tests/store/test_mariadb_connection.py)")

BIG = "x" * 400_000  # needs ~100 new pages
NO_LIMIT = 1_073_741_823


def content(name: str, padding: str = "") -> dict[str, Any]:
    body = hello_content(name)
    body["canvas_extra"] = {"padding": padding}
    return body


async def cap_at_current_size(app: Appliance) -> None:
    """No page may be added: the free pages are handed back first, then the cap is set."""
    def cap(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA incremental_vacuum")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    await app.db.write(cap)


async def lift_cap(app: Appliance) -> None:
    await app.db.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {NO_LIMIT}"))


async def test_writes_answer_507_and_readyz_reports_it_until_space_returns(
        appliance: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    app = appliance
    headers = await app.headers()
    resp = await app.client.post("/api/v1/flows", headers=headers,
                                 json={"name": "before", "content": content("before")})
    assert resp.status == 201
    before_id = (await resp.json())["id"]
    await cap_at_current_size(app)

    caplog.set_level(logging.WARNING)
    resp = await app.client.post("/api/v1/flows", headers=headers,
                                 json={"name": "big", "content": content("big", BIG)})
    assert resp.status == 507, await resp.text()
    detail = (await resp.json())["detail"]
    assert detail["error"] == "storage_full"
    assert detail["message"] == "the appliance's storage is full: nothing was written"
    assert "Free space" in detail["fix"] and "/readyz" in detail["fix"]
    assert "Traceback" not in caplog.text and "unhandled error" not in caplog.text
    assert str(app.settings.data_dir) not in str(detail)
    assert [r["name"] for r in app.sql("SELECT name FROM flows")] == ["before"]
    assert app.sql("SELECT * FROM audit_log WHERE action = 'flow.created' AND "
                   "target_id != ?", before_id) == []

    resp = await app.client.get("/readyz")
    assert resp.status == 503
    assert (await resp.json())["reasons"] == ["storage_full"]
    # reads still work
    resp = await app.client.get(f"/api/v1/flows/{before_id}", headers=headers)
    assert resp.status == 200

    await lift_cap(app)
    await asyncio.sleep(1.05)  # the probe of a failing /readyz is repeated once a second
    resp = await app.client.get("/readyz")
    assert resp.status == 200 and (await resp.json())["reasons"] == []
    resp = await app.client.post("/api/v1/flows", headers=headers,
                                 json={"name": "big", "content": content("big", BIG)})
    assert resp.status == 201
    assert sorted(r["name"] for r in app.sql("SELECT name FROM flows")) == ["before", "big"]
    assert app.sql("SELECT value FROM meta WHERE `key` = 'storage_probe'") == []
    [check] = app.sql("PRAGMA integrity_check")
    assert check[0] == "ok"


async def test_writes_grouped_with_one_that_finds_no_room_lose_nothing_acknowledged(
        appliance: Appliance) -> None:
    """SQLite rolls the whole group-commit transaction back when a statement finds no room:
    the writes of that batch answer 507 and leave nothing; every write answered 200 is
    stored, with its audit row; later writes (small ones fit) go on."""
    app = appliance
    headers = await app.headers()
    resp = await app.client.post("/api/v1/flows", headers=headers,
                                 json={"name": "f", "content": content("f")})
    flow_id = (await resp.json())["id"]
    [(initial,)] = app.sql("SELECT description FROM flows WHERE id = ?", flow_id)
    await cap_at_current_size(app)
    renames = [app.client.put(f"/api/v1/flows/{flow_id}", headers=headers,
                              json={"description": f"d{n}"}) for n in range(8)]
    bigs = [app.client.post("/api/v1/flows", headers=headers,
                            json={"name": "big", "content": content("big", BIG)})
            for _ in range(2)]
    answers = await asyncio.gather(*bigs, *renames)
    statuses = [r.status for r in answers]
    assert statuses[:2] == [507, 507], statuses
    assert all(s in (200, 507) for s in statuses[2:]), statuses
    acknowledged = {f"d{n}" for n, r in enumerate(answers[2:]) if r.status == 200}
    for r in answers:
        if r.status == 507:
            assert (await r.json())["detail"]["error"] == "storage_full"
    [(stored,)] = app.sql("SELECT description FROM flows WHERE id = ?", flow_id)
    assert stored in acknowledged if acknowledged else stored == initial
    audited = [r["details"] for r in app.sql(
        "SELECT details FROM audit_log WHERE action = 'flow.updated' AND target_id = ?",
        flow_id)]
    assert len(audited) == len(acknowledged)
    assert app.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 1
    # a small write on its own still fits (the cap is about new pages)
    resp = await app.client.put(f"/api/v1/flows/{flow_id}", headers=headers,
                                json={"description": "after"})
    assert resp.status == 200
    assert app.sql("SELECT description FROM flows WHERE id = ?", flow_id)[0][0] == "after"
    await lift_cap(app)
