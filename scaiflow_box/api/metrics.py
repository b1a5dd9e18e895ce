"""`GET /metrics` (SPEC §16): the appliance's metrics in the Prometheus text format.

Served only when `SCAIFLOW_METRICS` is on (else 404), without a token, and only to clients
whose TCP peer address is in `SCAIFLOW_METRICS_ALLOW_FROM` (default loopback: `127.0.0.0/8`
and `::1`; else 403). The peer address is the connection's own: `X-Forwarded-For` and
similar headers are never believed, so a reverse proxy on the same host makes every client
look local (docs/operations.md says to keep `/metrics` off such a proxy).
"""

from __future__ import annotations

import ipaddress
import sys

from scaiflow_box import __version__
from scaiflow_box.api.error_codes import (
    FORBIDDEN,
)
from scaiflow_box.errors import Forbidden, NotFound
from scaiflow_box.http.call import Blob, Call, Reply, ok
from scaiflow_box.http.errors import NOT_FOUND
from scaiflow_box.http.metrics import CONTENT_TYPE, Exposition, write_upstream_failures
from scaiflow_box.http.route import Response, Route
from scaiflow_box.keys import DB, JWKS, LIVE_SYNC, METRICS, RETENTION, SETTINGS
from scaiflow_box.process_facts import resident_bytes
from scaiflow_box.services.live_sync import LiveSync

TAG = "operations"


def client_allowed(peer: str | None, allowed: tuple[ipaddress.IPv4Network |
                                                   ipaddress.IPv6Network, ...]) -> bool:
    """Whether the connection's peer address is in one of the allowed networks (an IPv4
    client on a dual-stack socket arrives as `::ffff:a.b.c.d` and is matched as IPv4)."""
    if not peer:
        return False  # a Unix socket or an unknown peer: refused
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allowed)


def write_live_editing(out: Exposition, live: LiveSync) -> None:
    """Live-editing sockets (SPEC §15): what is open now, and what went through since start."""
    stats = live.stats()
    counters = live.counters
    out.gauge("scaiflow_live_connections", "Open live-editing sockets",
              [({}, stats["connections"])])
    out.gauge("scaiflow_live_documents", "Flows whose live document is loaded",
              [({}, stats["documents"])])
    out.gauge("scaiflow_presence_viewers", "Viewers of flows (heartbeats and live sockets)",
              [({}, stats["viewers"])])
    for name, help_text, samples in (
        ("scaiflow_live_connections_opened_total", "Live-editing sockets accepted",
         [({}, counters.opened)]),
        ("scaiflow_live_frames_total", "Live-editing messages received (in) and sent (out)",
         [({"direction": "in"}, counters.frames_in), ({"direction": "out"}, counters.frames_out)]),
        ("scaiflow_live_bytes_total", "Bytes of live-editing messages (in: payloads; out: "
         "frames)", [({"direction": "in"}, counters.bytes_in),
                     ({"direction": "out"}, counters.bytes_out)]),
        ("scaiflow_live_slow_consumer_disconnects_total", "Live-editing clients cut off because "
         "their send queue was full", [({}, counters.slow_consumers)]),
        ("scaiflow_live_closes_total", "Live-editing sockets closed, by close code (docs/api.md)",
         [({"code": str(code)}, count) for code, count in sorted(counters.closed.items())]),
    ):
        out.family(name, "counter", help_text)
        for labels, value in samples:
            out.sample(name, labels, value)


async def metrics(call: Call[None, None]) -> Reply:
    app = call.app
    settings = app[SETTINGS]
    if not settings.metrics:
        raise NotFound("metrics are disabled (set SCAIFLOW_METRICS=true)")
    peer = call.request.transport.get_extra_info("peername") if call.request.transport else None
    host = peer[0] if isinstance(peer, tuple) and peer else None
    if not client_allowed(host, settings.metrics_allow_from):
        raise Forbidden("this client's address may not read metrics",
                        fix="Scrape from the appliance's host, or add the scraper's address "
                            "to SCAIFLOW_METRICS_ALLOW_FROM.")
    counters = app[METRICS]
    out = Exposition()
    out.gauge("scaiflow_build_info", "The running version", [({"version": __version__,
                                                                 "python": sys.version.split()[0]
                                                                 }, 1)])
    out.gauge("process_start_time_seconds", "Start of the serving process (Unix time)",
              [({}, counters.started_at)])
    resident = resident_bytes()
    if resident is not None:
        out.gauge("process_resident_memory_bytes", "Resident memory of the serving process",
                  [({}, resident)])
    counters.requests.write(out)
    size = await app[DB].size()
    out.gauge("scaiflow_db_size_bytes", "Size of the database (SQLite: its file; MariaDB: its "
              "tables' data and indexes)", [({}, size.size_bytes)])
    out.gauge("scaiflow_db_wal_size_bytes", "Size of SQLite's write-ahead log (emptied by "
              "checkpoints; large and growing means they cannot complete; 0 on MariaDB)",
              [({}, size.wal_size_bytes)])
    ages: dict[tuple[str, str], float] = {}
    for entry in app[JWKS].status():
        if entry.get("age_seconds") is not None:
            ages.setdefault((str(entry["issuer"] or ""), str(entry["source"])),
                            float(entry["age_seconds"]))
    out.gauge("scaiflow_jwks_age_seconds", "Age of each token issuer's signing key set "
              "(ScaiKey, or a static file); grows while ScaiKey cannot be reached",
              [({"issuer": issuer, "source": source}, age)
               for (issuer, source), age in ages.items()])
    write_upstream_failures(out, counters.upstream_failures)
    out.family("scaiflow_retention_deleted_rows_total", "counter",
               "Rows deleted by retention since start (SCAIFLOW_AUDIT_RETENTION_DAYS, "
               "SCAIFLOW_WEBHOOK_DEDUPE_HOURS)")
    for table, count in sorted(app[RETENTION].deleted.items()):
        out.sample("scaiflow_retention_deleted_rows_total", {"table": table}, count)
    write_live_editing(out, app[LIVE_SYNC])
    return ok(Blob(out.render(), CONTENT_TYPE), headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("GET", "/metrics", metrics, "Metrics in the Prometheus text format", TAG,
          (Response(200, None, "Prometheus text exposition format 0.0.4",
                    content_type="text/plain"),),
          # 403: the client's address is not in SCAIFLOW_METRICS_ALLOW_FROM (loopback only by
          # default); 404: metrics are disabled (SCAIFLOW_METRICS).
          errors=(FORBIDDEN, NOT_FOUND),
          auth="public",
          description="Request counts and latency histograms by route template and status, "
                      "database and WAL size, the age of each issuer's JWKS, upstream "
                      "failures, retention deletions and live-editing sockets, frames, bytes "
                      "and slow-consumer disconnects. Served when `SCAIFLOW_METRICS` is on, "
                      "to clients in `SCAIFLOW_METRICS_ALLOW_FROM` (loopback by default)."),
]
