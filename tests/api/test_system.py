"""The operator's views of the running appliance: `GET /api/v1/admin/system` (the TUI's
Dashboard) and `GET /api/v1/admin/logs` (its Logs view), super admins only."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from scaiflow_box import __version__
from scaiflow_box.keys import LEASES
from tests.conftest import AppFactory, Appliance

SYSTEM = "/api/v1/admin/system"
LOGS = "/api/v1/admin/logs"
test_log = logging.getLogger("scaiflow_box.tests.system")


def audit_count(app: Appliance) -> int:
    return int(app.sql("SELECT count(*) FROM audit_log")[0][0])


@pytest.mark.parametrize("path", [SYSTEM, LOGS])
async def test_only_super_admins(appliance: Appliance, path: str) -> None:
    resp = await appliance.client.get(path)
    assert (resp.status, await resp.json()) == (401, {"detail": "Not authenticated"})
    resp = await appliance.client.get(path, headers={"Authorization": "Bearer abc.def.ghi"})
    assert (resp.status, await resp.json()) == (401, {"detail": "invalid token: malformed"})
    for who, role in (("usr_plain", None), ("usr_ta", "tenant_admin")):
        resp = await appliance.client.get(path, headers=await appliance.headers(who, role=role))
        body = await resp.json()
        assert resp.status == 403, body
        assert body["detail"]["error"] == "forbidden"
        assert "super_admin" in body["detail"]["message"]
    sa = await appliance.headers("usr_root", "tnt_z", role="super_admin")
    before = audit_count(appliance)
    resp = await appliance.client.get(path, headers=sa)
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    assert audit_count(appliance) == before  # a read changes nothing


async def test_system_status(appliance: Appliance) -> None:
    sa = await appliance.headers("usr_root", "tnt_z", role="super_admin")
    # Three answered requests before the one that asks: 200, 404 and 401.
    assert (await appliance.client.get("/healthz")).status == 200
    assert (await appliance.client.get("/api/v1/nothing-here")).status == 404
    assert (await appliance.client.get("/api/v1/flows")).status == 401
    resp = await appliance.client.get(SYSTEM, headers=sa)
    body: dict[str, Any] = await resp.json()
    assert resp.status == 200, body
    settings = appliance.settings
    assert body["version"] == __version__ and body["build"] == "source"
    assert body["build_date"] is None  # only a binary has one
    assert body["listen"] == f"http://127.0.0.1:{settings.api_port}"
    assert body["data_dir"] == str(settings.data_dir.resolve())
    # SQLite's file, or the MariaDB schema's tables (never 0: the schema has tables).
    engine, size, wal = appliance.stored_size()
    assert body["database"] == {"engine": engine, "size_bytes": size, "wal_size_bytes": wal}
    assert size > 0 and engine == appliance.db.engine
    assert body["readiness"] == {"status": "ready", "reasons": []}
    assert 0 <= body["uptime_seconds"] < 120 and body["started_at"].endswith("Z")
    traffic = body["traffic"]
    assert (traffic["window_seconds"], traffic["requests"], traffic["client_errors"],
            traffic["server_errors"], traffic["error_rate"]) == (60, 3, 2, 0, 0.0)
    assert traffic["requests_per_second"] > 0
    assert 0 < traffic["latency_p50_seconds"] <= traffic["latency_p99_seconds"] <= 10
    assert body["totals"] == {"requests": 3, "client_errors": 2, "server_errors": 0}
    assert body["logging"] == {"level": "info", "format": "text", "access_log": False}
    assert body["metrics_endpoint"] is False
    # The only process holds every lease (services/leases.py), under its own process id.
    assert body["process"] == {"id": appliance.client.app[LEASES].holder,
                               "leases_held": ["directory_sync", "retention"]}
    assert body["process"]["id"].count(":") == 2
    # The answer itself is counted by the next one.
    again = await (await appliance.client.get(SYSTEM, headers=sa)).json()
    assert again["totals"]["requests"] == 4


async def test_logs_are_tailed_by_sequence_number(appliance: Appliance,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="scaiflow_box.tests")
    sa = await appliance.headers("usr_root", "tnt_z", role="super_admin")
    test_log.info("first marker")
    test_log.warning("second marker")

    async def logs(**params: str) -> dict[str, Any]:
        resp = await appliance.client.get(LOGS, headers=sa, params=params)
        body: dict[str, Any] = await resp.json()
        assert resp.status == 200, body
        return body

    def ours(body: dict[str, Any]) -> list[tuple[str, str]]:
        return [(line["level"], line["message"]) for line in body["items"]
                if line["logger"] == "scaiflow_box.tests.system"]

    start = await logs()
    assert ours(start) == [("info", "first marker"), ("warning", "second marker")]
    assert start["capacity"] == 2000 and start["missed"] is False
    seqs = [line["seq"] for line in start["items"]]
    assert seqs == sorted(seqs) and start["next_after"] == seqs[-1]
    assert start["items"][-1]["at"].endswith("Z")

    # Following: only what came after, and nothing twice.
    test_log.error("third marker")
    follow = await logs(after=str(start["next_after"]))
    assert ours(follow) == [("error", "third marker")]
    assert all(line["seq"] > start["next_after"] for line in follow["items"])
    quiet = await logs(after=str(follow["next_after"]))
    assert quiet["items"] == [] and quiet["next_after"] == follow["next_after"]

    # A level filter, a limit, and an `after` from before a restart.
    assert ours(await logs(level="warning")) == [("warning", "second marker"),
                                                 ("error", "third marker")]
    assert ours(await logs(level="error")) == [("error", "third marker")]
    limited = await logs(limit="1")
    assert len(limited["items"]) == 1
    assert limited["items"][0]["seq"] == follow["next_after"]  # the newest line
    stale = await logs(after="999999")
    assert stale["missed"] is True and ("error", "third marker") in ours(stale)


async def test_a_traceback_is_part_of_its_line(appliance: Appliance) -> None:
    sa = await appliance.headers("usr_root", "tnt_z", role="super_admin")
    try:
        raise ValueError("the cause")
    except ValueError:
        test_log.exception("it failed")
    body = await (await appliance.client.get(LOGS, headers=sa,
                                             params={"level": "error"})).json()
    [line] = [li for li in body["items"] if li["logger"] == "scaiflow_box.tests.system"]
    assert line["message"].startswith("it failed\nTraceback")
    assert line["message"].endswith("ValueError: the cause")


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "1001"}, {"level": "loud"},
                                    {"after": "-1"}, {"after": "x"}])
async def test_bad_log_queries(appliance: Appliance, params: dict[str, str]) -> None:
    sa = await appliance.headers("usr_root", "tnt_z", role="super_admin")
    resp = await appliance.client.get(LOGS, headers=sa, params=params)
    body = await resp.json()
    assert resp.status == 422, body
    [name] = params
    assert body["detail"][0]["loc"] == ["query", name]


async def test_the_access_log_never_holds_a_query_string(
        make_appliance: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="scaiflow_box.access")
    app = await make_appliance(SCAIFLOW_ACCESS_LOG="true")
    sa = await app.headers("usr_root", "tnt_z", role="super_admin")
    resp = await app.client.get("/api/v1/flows", params={"search": "tok-secret-in-query"},
                                headers={"X-Request-ID": "trace-42", **sa})
    assert resp.status == 200
    [record] = [r for r in caplog.records
                if r.name == "scaiflow_box.access" and "trace-42" in r.getMessage()]
    method, path, status, duration, request_id = record.getMessage().split(" ")
    assert (method, path, status, request_id) == ("GET", "/api/v1/flows", "200", "trace-42")
    assert duration.endswith("ms") and float(duration[:-2]) >= 0
    assert record.access == {"method": "GET", "path": "/api/v1/flows",  # type: ignore[attr-defined]
                             "status": 200, "duration_ms": record.access["duration_ms"],  # type: ignore[attr-defined]
                             "request_id": "trace-42"}
    # The same line reaches the super admin's log view, and the query string nowhere.
    body = await (await app.client.get(LOGS, headers=sa)).json()
    lines = [line["message"] for line in body["items"] if line["logger"] == "scaiflow_box.access"]
    assert any(m.startswith("GET /api/v1/flows 200 ") and m.endswith(" trace-42")
               for m in lines)
    assert "tok-secret-in-query" not in caplog.text
    assert "tok-secret-in-query" not in str(body)


async def test_no_access_lines_unless_switched_on(appliance: Appliance,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="scaiflow_box.access")
    assert (await appliance.client.get("/healthz")).status == 200
    assert [r for r in caplog.records if r.name == "scaiflow_box.access"] == []
