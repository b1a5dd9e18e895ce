"""Retention (SPEC §13, §19.1): a background task of the server that deletes audit entries
older than `SCAIFLOW_AUDIT_RETENTION_DAYS` (0, the default, keeps them forever) and webhook
event ids older than `SCAIFLOW_WEBHOOK_DEDUPE_HOURS` (24), through the writer, in small
chunks, once shortly after start and then every hour.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from scaiflow_box.config import Settings
from scaiflow_box.store import retention
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection
from scaiflow_box.store.read_cache import NOTHING_CACHED
from scaiflow_box.timestamps import iso, utc_now

log = logging.getLogger(__name__)

FIRST_RUN_AFTER_SECONDS = 60.0
EVERY_SECONDS = 3600.0


class RetentionService:
    def __init__(self, db: Database, settings: Settings,
                 clock: Callable[[], datetime] = utc_now,
                 leader: Callable[[], bool] = lambda: True) -> None:
        self.db = db
        # Whether this process holds the retention lease (services/leases.py): with several
        # processes on one database, one of them prunes.
        self._leader = leader
        self.audit_days = settings.audit_retention_days
        self.webhook_hours = settings.webhook_dedupe_hours
        self.clock = clock
        self.deleted: Counter[str] = Counter()  # rows deleted per table since start (/metrics)

    async def prune_once(self) -> dict[str, int]:
        """One pass over both tables; returns the rows deleted per table."""
        now = self.clock()
        done: dict[str, int] = {}
        if self.audit_days > 0:
            before = iso(now - timedelta(days=self.audit_days))
            done["audit_log"] = await self._drain(
                lambda conn: retention.prune_audit_chunk(conn, before), retention.AUDIT_CHUNK)
        before = iso(now - timedelta(hours=self.webhook_hours))
        done["webhook_events"] = await self._drain(
            lambda conn: retention.prune_webhook_events_chunk(conn, before),
            retention.WEBHOOK_CHUNK)
        for table, count in done.items():
            self.deleted[table] += count
            if count:
                log.info("retention: deleted %d row(s) from %s", count, table)
        return done

    async def _drain(self, job: Callable[[Connection], int], chunk: int) -> int:
        total = 0
        while True:
            # Audit rows and webhook events: nothing cached is read from them. Undeclared,
            # each pass (60 s after start, then hourly) dropped every cached read.
            deleted = await self.db.write(job, flows_changed=NOTHING_CACHED)
            total += deleted
            if deleted < chunk:
                return total
            await asyncio.sleep(0)  # let other writes in between chunks

    async def run_forever(self, first_after: float = FIRST_RUN_AFTER_SECONDS,
                          every: float = EVERY_SECONDS) -> None:
        await asyncio.sleep(first_after)
        while True:
            try:
                if self._leader():
                    await self.prune_once()
            except Exception:
                log.exception("retention pass failed; trying again in %d s", int(every))
            await asyncio.sleep(every)
