"""What a super admin sees of the running appliance (the TUI's Dashboard and Logs views):
its build, uptime, listen address, data directory, readiness, the last minute's traffic, the
database's size, and the recent log lines.

Built in `app.py`, which hands it the traffic counters of the HTTP layer as plain functions
(services never import `http/`). Every answer is computed from memory and the database's size
(SQLite: two `stat` calls; MariaDB: information_schema, asked on a reader thread and kept a
few seconds); readiness asks the writer, like `/readyz`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from scaiflow_box.auth.principal import Principal
from scaiflow_box.build_info import build_info
from scaiflow_box.config import Settings
from scaiflow_box.log_ring import LEVELS, LogPage, LogRing
from scaiflow_box.process_facts import resident_bytes
from scaiflow_box.services.readiness import Readiness
from scaiflow_box.store.database import Database
from scaiflow_box.timestamps import iso

Counters = Callable[[], Mapping[str, Any]]


def listen_url(settings: Settings) -> str:
    host = settings.api_host
    return f"http://[{host}]:{settings.api_port}" if ":" in host \
        else f"http://{host}:{settings.api_port}"


class SystemService:
    def __init__(self, settings: Settings, db: Database, readiness: Readiness,
                 log_ring: LogRing, *, started_at: float, recent_traffic: Counters,
                 traffic_totals: Counters,
                 process: Counters = lambda: {"id": "", "leases_held": []}) -> None:
        self.settings = settings
        self.db = db
        self._process = process
        self.readiness = readiness
        self.log_ring = log_ring
        self.started_at = started_at
        self._recent_traffic = recent_traffic
        self._traffic_totals = traffic_totals

    async def status(self, principal: Principal) -> dict[str, Any]:
        principal.require_super_admin()
        build = build_info()
        ready = await self.readiness.report()
        settings = self.settings
        size = await self.db.size()
        return {
            "version": build.version,
            "commit": build.commit,
            "build_date": build.build_date,
            "build": build.origin,
            "python": sys.version.split()[0],
            "started_at": iso(datetime.fromtimestamp(self.started_at, UTC)),
            "uptime_seconds": round(time.time() - self.started_at, 3),
            "listen": listen_url(settings),
            "data_dir": str(settings.data_dir.resolve()),
            "database": {"engine": size.engine, "size_bytes": size.size_bytes,
                         "wal_size_bytes": size.wal_size_bytes},
            "resident_memory_bytes": resident_bytes(),
            "readiness": {"status": ready["status"], "reasons": ready["reasons"]},
            "traffic": dict(self._recent_traffic()),
            "totals": dict(self._traffic_totals()),
            "logging": {"level": settings.log_level, "format": settings.log_format,
                        "access_log": settings.access_log},
            "metrics_endpoint": settings.metrics,
            "process": dict(self._process()),
        }

    def logs(self, principal: Principal, *, after: int | None, level: str,
             limit: int) -> LogPage:
        """Recent log lines at `level` or above: the newest `limit`, or those after `after`
        (a client tails by passing back `next_after`). An `after` beyond the newest line (the
        server restarted since) starts again from the newest lines, flagged `missed`."""
        principal.require_super_admin()
        if after is not None and after > self.log_ring.last_seq:
            page = self.log_ring.page(after=None, level=LEVELS[level], limit=limit)
            return replace(page, missed=True)
        return self.log_ring.page(after=after, level=LEVELS[level], limit=limit)
