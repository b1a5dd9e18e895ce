"""`/api/v1/admin/system` and `/api/v1/admin/logs`: the running appliance as the operator's
dashboard shows it, and its recent log lines (super admins only)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from scaiflow_box.api.error_codes import FORBIDDEN
from scaiflow_box.api.fields import Timestamp
from scaiflow_box.http.call import Call, Reply, ok
from scaiflow_box.http.route import QueryModel, Response, Route
from scaiflow_box.keys import SYSTEM

TAG = "admin"
NO_STORE = {"Cache-Control": "no-store"}


# -- /system -------------------------------------------------------------------------------
class DatabaseFiles(BaseModel):
    engine: Literal["sqlite", "mariadb"] = Field(
        description="`mariadb` when SCAIFLOW_DATABASE_URL is set")
    size_bytes: int = Field(description="SQLite: the database file; MariaDB: the schema's "
                                        "tables, data and indexes (information_schema, read "
                                        "at most every 5 seconds)")
    wal_size_bytes: int = Field(description="SQLite's write-ahead log: emptied by checkpoints; "
                                            "large and growing means they cannot complete. "
                                            "Always 0 on MariaDB")


class ReadinessSummary(BaseModel):
    status: Literal["ready", "not_ready"]
    reasons: list[str] = Field(description="Coarse, as `/readyz` gives them")


class RecentTraffic(BaseModel):
    window_seconds: int = Field(description="The last minute")
    requests: int
    requests_per_second: float
    client_errors: int = Field(description="Answers 400-499")
    server_errors: int = Field(description="Answers 500-599")
    error_rate: float = Field(description="server_errors / requests (0 without requests)")
    latency_p50_seconds: float | None = Field(
        description="Estimated from the latency histogram's buckets (as Prometheus's "
                    "histogram_quantile does); WebSocket and event streams excluded; null "
                    "without requests")
    latency_p99_seconds: float | None


class TrafficTotals(BaseModel):
    requests: int = Field(description="Since start")
    client_errors: int
    server_errors: int


class LoggingSettings(BaseModel):
    level: Literal["debug", "info", "warning", "error"]
    format: Literal["text", "json"]
    access_log: bool


class ProcessStatus(BaseModel):
    id: str = Field(description="[box] This process (host:pid:random), as it holds leases")
    leases_held: list[str] = Field(description="[box] The leases this process holds: the work "
                                               "only one process of a site runs "
                                               "(`directory_sync`, `retention`). On one box, "
                                               "all of them")


class SystemStatus(BaseModel):
    version: str
    commit: str | None = Field(description="The commit a binary was built from (`git describe`"
                                           " from a source checkout); null when unknown")
    build_date: Timestamp | None = Field(description="When the binary was built; null from "
                                                     "source")
    build: Literal["binary", "source"]
    python: str
    started_at: Timestamp
    uptime_seconds: float
    listen: str = Field(description="The configured listen address, as a URL")
    data_dir: str
    database: DatabaseFiles
    resident_memory_bytes: int | None
    readiness: ReadinessSummary
    traffic: RecentTraffic
    totals: TrafficTotals
    logging: LoggingSettings
    metrics_endpoint: bool = Field(description="Whether `GET /metrics` is served")
    process: ProcessStatus


async def system_status(call: Call[None, None]) -> Reply:
    status = await call.app[SYSTEM].status(call.principal)
    return ok(SystemStatus.model_validate(status), headers=NO_STORE)


# -- /logs -----------------------------------------------------------------------------------
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LogsQuery(QueryModel):
    after: int | None = Field(default=None, ge=0, le=2**53,
                              description="Only lines after this sequence number (the "
                                          "`next_after` of the previous answer): to follow "
                                          "the log. Without it, the newest lines.")
    level: LogLevel = Field(default="debug", description="The least severe level returned")
    limit: int = Field(default=200, ge=1, le=1000)


class LogLineOut(BaseModel):
    seq: int = Field(description="Increases by one per line logged, from 1 at start")
    at: Timestamp
    level: LogLevel
    logger: str
    message: str = Field(description="With the traceback, when there is one (at most 8,000 "
                                     "characters, its end kept)")


class LogPageOut(BaseModel):
    items: list[LogLineOut] = Field(description="Oldest first")
    next_after: int = Field(description="Pass as `after` to get the lines that follow")
    first_seq: int = Field(description="The oldest line still kept (0 before any)")
    missed: bool = Field(description="Lines after `after` were dropped from the ring before "
                                     "this request, or `after` is from before a restart")
    capacity: int = Field(description="How many lines the appliance keeps")


async def recent_logs(call: Call[None, LogsQuery]) -> Reply:
    page = call.app[SYSTEM].logs(call.principal, after=call.query.after, level=call.query.level,
                        limit=call.query.limit)
    return ok(LogPageOut(items=[LogLineOut(seq=line.seq, at=line.at, level=line.level,
                                           logger=line.logger, message=line.message)
                                for line in page.lines],
                         next_after=page.next_after, first_seq=page.first_seq,
                         missed=page.missed, capacity=page.capacity),
              headers=NO_STORE)


BASE = "/api/v1/admin"
ROUTES = [
    Route("GET", BASE + "/system", system_status, "The running appliance: build, uptime, "
          "readiness, traffic, database size", TAG,
          (Response(200, SystemStatus, "As of now"),), errors=(FORBIDDEN,), needs="super_admin",
          description="Version, commit and build date; start time and uptime; the listen "
                      "address and data directory; readiness with its reasons (as `/readyz`); "
                      "the last minute's requests per second, error counts and latency "
                      "percentiles, and totals since start; the database and WAL size; the "
                      "logging settings."),
    Route("GET", BASE + "/logs", recent_logs, "Recent log lines (a bounded in-memory ring)",
          TAG, (Response(200, LogPageOut, "Oldest first"),), errors=(FORBIDDEN,),
          needs="super_admin", query=LogsQuery,
          description="The appliance keeps its last log lines in memory (they never hold a "
                      "secret: tokens, keys and query strings are never logged). Without "
                      "`after`: the newest `limit` lines. To follow the log, pass the answer's "
                      "`next_after` as `after` in the next request."),
]
