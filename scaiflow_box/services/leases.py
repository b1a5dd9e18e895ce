"""This process's leases (store/leases.py): taken at start, renewed every third of their
time, given up at stop. Work only one process of a site should run (the scheduled directory
sync, retention) asks `holds(name)` first. On one box the only process always holds them; on
several processes sharing a database (docs/scale-out.md) one does, and another takes over
within one lease time after it dies.

A holder stops acting a third of the lease time before the database would let another take
over, so two never act at once while the hosts' clocks agree within that margin (NTP).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from scaiflow_box.store import leases
from scaiflow_box.store.database import Database
from scaiflow_box.store.read_cache import NOTHING_CACHED

log = logging.getLogger("scaiflow_box.leases")

# Renewals are writes: none changes a cached read (NOTHING_CACHED).


class LeaseKeeper:
    def __init__(self, db: Database, ttl_seconds: float, holder: str | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl_seconds
        # The database's name for this process, which also names its change head.
        self.holder = holder or db.process_id
        self._clock = clock
        self._monotonic = monotonic
        self._held_until: dict[str, float] = {}  # by this process's monotonic clock
        self.fences: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def holds(self, name: str) -> bool:
        return self._monotonic() < self._held_until.get(name, 0.0)

    def status(self) -> dict[str, Any]:
        """For the operator's dashboard: who this process is and which leases it holds."""
        return {"id": self.holder,
                "leases_held": [name for name in leases.LEASES if self.holds(name)]}

    async def renew(self) -> None:
        """Take or renew every lease; a lease another process holds stays theirs."""
        started = self._monotonic()
        now = self._clock()
        taken = await self.db.write(
            lambda conn: {name: leases.take(conn, name, self.holder, now, self.ttl)
                          for name in leases.LEASES}, flows_changed=NOTHING_CACHED)
        for name, fence in taken.items():
            if fence is None:
                if self._held_until.pop(name, None) is not None:
                    log.warning("lease %s lost to another process", name)
                continue
            if name not in self._held_until:
                # Debug: every start of a single box takes them; the dashboard shows who holds.
                log.debug("lease %s taken (turn %d): this process runs it", name, fence)
            self._held_until[name] = started + self.ttl * 2 / 3
            self.fences[name] = fence

    async def begin(self) -> None:
        """Take the leases now, then keep renewing them. A first renewal that fails (the disk
        is full, the database away) does not stop start-up: the appliance serves and reports
        it (`/readyz`), and the leases are taken at a later renewal."""
        await self._renew_logged()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="leases")

    async def _renew_logged(self) -> None:
        try:
            await self.renew()
        except Exception as exc:  # the leases lapse by themselves; the next renewal tries again
            log.warning("could not renew leases (%s: %s)", type(exc).__name__, exc)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            await self._renew_logged()

    async def close(self) -> None:
        """Stop renewing and give up what this process holds, so another takes over now."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        held = [name for name in leases.LEASES if self.holds(name)]
        self._held_until.clear()
        if held:
            try:
                await self.db.write(lambda conn: [leases.release(conn, name, self.holder)
                                                  for name in held],
                                    flows_changed=NOTHING_CACHED)
            except Exception as exc:
                log.warning("could not give up leases at stop (%s); they lapse in %g s",
                            type(exc).__name__, self.ttl)
