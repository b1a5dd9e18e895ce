"""What the Dashboard and Logs read about the running appliance (`GET /api/v1/admin/system`,
`/admin/logs`, `/admin/live-editing`) and which routes it serves (its OpenAPI document)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui.models import count_at, list_of, opt_str, str_at, str_list


def number_at(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def object_at(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ValueError(f"field {key!r} is missing or not an object")
    return value


@dataclass(frozen=True)
class Traffic:
    """The last minute's requests (`traffic` of /admin/system)."""

    window_seconds: int
    requests: int
    requests_per_second: float
    client_errors: int
    server_errors: int
    error_rate: float
    latency_p50_seconds: float | None
    latency_p99_seconds: float | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Traffic:
        return cls(window_seconds=count_at(data, "window_seconds"),
                   requests=count_at(data, "requests"),
                   requests_per_second=number_at(data, "requests_per_second") or 0.0,
                   client_errors=count_at(data, "client_errors"),
                   server_errors=count_at(data, "server_errors"),
                   error_rate=number_at(data, "error_rate") or 0.0,
                   latency_p50_seconds=number_at(data, "latency_p50_seconds"),
                   latency_p99_seconds=number_at(data, "latency_p99_seconds"))


@dataclass(frozen=True)
class SystemStatus:
    version: str
    commit: str | None
    build_date: str | None
    build: str
    python: str
    started_at: str
    uptime_seconds: float
    listen: str
    data_dir: str
    db_size_bytes: int
    wal_size_bytes: int
    resident_memory_bytes: int | None
    ready: bool
    reasons: tuple[str, ...]
    traffic: Traffic
    total_requests: int
    total_server_errors: int
    log_level: str
    access_log: bool
    # The leases this process holds (None: an appliance too old to say): the work only one
    # process of a site runs.
    leases_held: tuple[str, ...] | None = None
    # `sqlite` or `mariadb` (None: an appliance too old to say, which is SQLite).
    db_engine: str | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SystemStatus:
        database = object_at(data, "database")
        readiness = object_at(data, "readiness")
        totals = object_at(data, "totals")
        raw_logging = data.get("logging")
        logging: Mapping[str, Any] = raw_logging if isinstance(raw_logging, dict) else {}
        rss = data.get("resident_memory_bytes")
        raw_process = data.get("process")
        process: Mapping[str, Any] = raw_process if isinstance(raw_process, dict) else {}
        return cls(version=str_at(data, "version"), commit=opt_str(data, "commit"),
                   build_date=opt_str(data, "build_date"), build=opt_str(data, "build") or "?",
                   python=opt_str(data, "python") or "?",
                   started_at=opt_str(data, "started_at") or "",
                   uptime_seconds=number_at(data, "uptime_seconds") or 0.0,
                   listen=opt_str(data, "listen") or "?",
                   data_dir=opt_str(data, "data_dir") or "?",
                   db_size_bytes=count_at(database, "size_bytes"),
                   wal_size_bytes=count_at(database, "wal_size_bytes"),
                   db_engine=opt_str(database, "engine"),
                   resident_memory_bytes=rss if isinstance(rss, int) else None,
                   ready=readiness.get("status") == "ready",
                   reasons=str_list(readiness, "reasons"),
                   traffic=Traffic.from_json(object_at(data, "traffic")),
                   total_requests=count_at(totals, "requests"),
                   total_server_errors=count_at(totals, "server_errors"),
                   log_level=opt_str(logging, "level") or "?",
                   access_log=logging.get("access_log") is True,
                   leases_held=str_list(process, "leases_held") if process else None)


@dataclass(frozen=True)
class LogLine:
    seq: int
    at: str
    level: str
    logger: str
    message: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogLine:
        seq = data.get("seq")
        if not isinstance(seq, int):
            raise ValueError("field 'seq' is missing or not an integer")
        return cls(seq=seq, at=opt_str(data, "at") or "", level=opt_str(data, "level") or "?",
                   logger=opt_str(data, "logger") or "", message=str_at(data, "message"))


@dataclass(frozen=True)
class LogPage:
    lines: tuple[LogLine, ...]
    next_after: int
    first_seq: int
    missed: bool
    capacity: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LogPage:
        return cls(lines=tuple(LogLine.from_json(item) for item in list_of(data, "items")),
                   next_after=count_at(data, "next_after"),
                   first_seq=count_at(data, "first_seq"), missed=data.get("missed") is True,
                   capacity=count_at(data, "capacity"))


@dataclass(frozen=True)
class LiveFlow:
    """A flow with live editors or viewers (`GET /api/v1/admin/live-editing`)."""

    flow_id: str
    tenant_id: str
    name: str | None
    connections: int
    editors: int
    document_bytes: int | None
    viewers: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LiveFlow:
        size = data.get("document_bytes")
        viewers = data.get("viewers")
        return cls(flow_id=str_at(data, "flow_id"), tenant_id=str_at(data, "tenant_id"),
                   name=opt_str(data, "name"), connections=count_at(data, "connections"),
                   editors=count_at(data, "editors"),
                   document_bytes=size if isinstance(size, int) else None,
                   viewers=len(viewers) if isinstance(viewers, list) else 0)


def live_flows(data: Any) -> list[LiveFlow]:
    return [LiveFlow.from_json(item) for item in list_of(data, "flows")]


@dataclass(frozen=True)
class Capabilities:
    """The routes this appliance serves, with their query parameters (from its OpenAPI
    document): a screen offers what the appliance can do instead of failing on a 404."""

    routes: Mapping[str, frozenset[str]]  # "GET /api/v1/catalog" -> query parameter names

    def has(self, method: str, path: str) -> bool:
        return f"{method.upper()} {path}" in self.routes

    def takes(self, method: str, path: str, parameter: str) -> bool:
        return parameter in self.routes.get(f"{method.upper()} {path}", frozenset())

    @classmethod
    def from_openapi(cls, document: Any) -> Capabilities:
        paths = document.get("paths") if isinstance(document, dict) else None
        if not isinstance(paths, dict):
            raise ValueError("an OpenAPI document without paths")
        routes: dict[str, frozenset[str]] = {}
        for path, operations in paths.items():
            if not isinstance(operations, dict):
                continue
            shared = _query_names(operations.get("parameters"))
            for method, operation in operations.items():
                if method == "parameters" or not isinstance(operation, dict):
                    continue
                routes[f"{method.upper()} {path}"] = shared | _query_names(
                    operation.get("parameters"))
        return cls(routes)


def _query_names(parameters: Any) -> frozenset[str]:
    if not isinstance(parameters, list):
        return frozenset()
    return frozenset(str(p["name"]) for p in parameters
                     if isinstance(p, dict) and p.get("in") == "query" and "name" in p)


# The routes of the console that came after the first TUI: a screen asks before calling them.
CATALOG = "/api/v1/catalog"
LIVE_EDITING = "/api/v1/admin/live-editing"
TENANT_FLOWS = "/api/v1/admin/tenant/flows"
MODELS = "/api/v1/scaigrid/models"
