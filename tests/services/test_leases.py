"""Lease keepers (services/leases.py) of two processes on one database: one holds each lease,
the other takes over within one lease time after the holder stops renewing (killed), at once
after it gives the leases up (stopped), and never while the holder still acts on one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from scaiflow_box.services.leases import LeaseKeeper
from scaiflow_box.store import leases
from scaiflow_box.store.db import Database

TTL = 0.6


async def _until(predicate: object, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, "not within the bound"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def test_one_holds_and_the_other_takes_over_when_it_dies(tmp_path: Path) -> None:
    db = Database(tmp_path / "scaiflow.db")
    try:
        first, second = LeaseKeeper(db, TTL, "p1"), LeaseKeeper(db, TTL, "p2")
        await first.begin()
        await _until(lambda: first.holds("directory_sync") and first.holds("retention"))
        await second.begin()
        await asyncio.sleep(TTL)  # several renewals of both
        assert first.holds("retention") and not second.holds("retention")
        assert first.fences == {"directory_sync": 1, "retention": 1}

        # kill -9: renewals stop, nothing is given up.
        assert first._task is not None
        first._task.cancel()
        overlap = []

        def second_holds() -> bool:
            if second.holds("retention"):
                overlap.append(first.holds("retention"))
                return True
            return False

        took = await _until(second_holds)
        assert took < TTL + TTL / 3 + 0.2  # the lease runs out, then one renewal period
        assert overlap == [False]  # the old holder had stopped acting before
        assert second.fences == {"directory_sync": 2, "retention": 2}
        rows = await db.read(leases.holders)
        assert {(name, holder) for name, holder, *_ in rows} == \
            {("directory_sync", "p2"), ("retention", "p2")}
        await second.close()
    finally:
        db.close()


async def test_a_holder_that_stops_hands_over_at_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "scaiflow.db")
    try:
        first, second = LeaseKeeper(db, 30.0, "p1"), LeaseKeeper(db, 30.0, "p2")
        await first.renew()
        await second.renew()
        assert first.holds("directory_sync") and not second.holds("directory_sync")
        await first.close()
        assert not first.holds("directory_sync")
        await second.renew()  # its next renewal, not 30 s later
        assert second.holds("directory_sync") and second.fences["directory_sync"] == 2
        await second.close()
        assert [expires for *_, expires in await db.read(leases.holders)] == [0.0, 0.0]
    finally:
        db.close()


async def test_a_first_renewal_that_fails_does_not_stop_start_up(tmp_path: Path,
                                                                caplog: object) -> None:
    """The database refuses the write (here: closed; in life: a full disk): start-up goes on
    without the leases, says why in one line, and keeps trying."""
    db = Database(tmp_path / "scaiflow.db")
    db.close()
    keeper = LeaseKeeper(db, TTL, "p1")
    await keeper.begin()  # does not raise
    assert not keeper.holds("directory_sync") and keeper.status()["leases_held"] == []
    assert keeper._task is not None and not keeper._task.done()
    assert "could not renew leases (StoreClosed" in caplog.text  # type: ignore[attr-defined]
    await keeper.close()
