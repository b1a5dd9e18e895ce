"""What `serve` logs, as a real process: the start-up line (version, data dir, address,
ScaiKey and ScaiGrid mode, CORS origins, metrics), `SCAIFLOW_LOG_LEVEL`, and access lines
without query strings, as text and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from scaiflow_box.build_info import build_info
from tests.contract.served import ServedAppliance

GRID_KEY = "sgk_never_in_a_log_0123456789"


def served(tmp_path: Path, **env: str) -> ServedAppliance:
    return ServedAppliance(data_dir=tmp_path / "data", log_path=tmp_path / "server.log", env=env)


def test_start_up_line_and_json_access_lines(tmp_path: Path) -> None:
    app = served(tmp_path, SCAIFLOW_LOG_FORMAT="json", SCAIFLOW_ACCESS_LOG="true",
                 SCAIFLOW_CORS_ORIGINS="https://canvas.example",
                 SCAIGRID_BASE_URL="https://grid.example", SCAIGRID_API_KEY=GRID_KEY)
    app.start()
    assert app.proc is not None
    pid = app.proc.pid
    try:
        # Every route refuses a query parameter it does not declare (422), and the access
        # line still never shows the query string.
        assert app.call("GET", "/healthz?token=tok-in-the-query",
                        headers={"X-Request-ID": "trace-7"}).status == 422
    finally:
        assert app.stop() == 0
    log = app.log()
    entries = [json.loads(line) for line in log.splitlines()]
    [start] = [e for e in entries if "listening on" in e["message"]]
    assert start["level"] == "INFO" and start["logger"] == "scaiflow_box"
    assert {e["pid"] for e in entries} == {pid}  # every line names the serving process
    assert start["message"] == "; ".join([
        f"{build_info().describe()} listening on http://127.0.0.1:{app.port}",
        f"data dir {(tmp_path / 'data').resolve()}",
        "ScaiKey: off (the appliance's service tokens only)",
        "ScaiGrid: https://grid.example for tenants without their own, with a fallback key",
        "CORS origins: https://canvas.example",
        "metrics: on, /metrics from 127.0.0.0/8,::1/128",
        "log level info, access log on"])
    [access] = [e for e in entries if e.get("request_id") == "trace-7"]
    assert access["logger"] == "scaiflow_box.access"
    assert {k: access[k] for k in ("method", "path", "status", "request_id")} == {
        "method": "GET", "path": "/healthz", "status": 422, "request_id": "trace-7"}
    assert access["message"].startswith("GET /healthz 422 ")
    assert "tok-in-the-query" not in log and GRID_KEY not in log


def test_log_level_warning_keeps_info_lines_out(tmp_path: Path) -> None:
    app = served(tmp_path, SCAIFLOW_LOG_LEVEL="warning", SCAIFLOW_ACCESS_LOG="true")
    app.start()
    try:
        assert app.call("GET", "/healthz").status == 200
    finally:
        assert app.stop() == 0
    log = app.log()
    assert "listening on" not in log and "scaiflow_box.access" not in log
    assert " INFO " not in log
