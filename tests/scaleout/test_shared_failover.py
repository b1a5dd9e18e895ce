"""Processes dying on a site of several processes on one MariaDB database behind HAProxy
(issue 17, docs/scale-out.md §6): `kill -9` of one under a steady write load loses nothing
acknowledged and HAProxy routes around it; the holder of the leases killed, another process
takes them within the lease's bound."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from tests.scaleout.api import FLOWS, call, content, new_flow
from tests.scaleout.conftest import LEASE_SECONDS, ON_MARIA_SITE, Site, process_of, restart
from tests.scaleout.haproxy import CHECK_FALL, CHECK_INTERVAL_MS, wait_until

pytestmark = ON_MARIA_SITE
WRITERS = 4
SYSTEM = "/api/v1/admin/system"


@dataclass
class Save:
    writer: int
    n: int
    started: float
    ended: float
    status: int | None  # None: the connection failed
    version: str | None = None
    process: str | None = None


def _write_steadily(site: Site, writer: int, flow_id: str, stop: threading.Event,
                    saves: list[Save]) -> None:
    """One client saving its own flow through HAProxy, one save after another."""
    n = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            saved = call("PUT", f"{site.proxy.url}{FLOWS}/{flow_id}", site.operator,
                         {"content": content(writer=writer, n=n)})
        except OSError:
            saves.append(Save(writer, n, started, time.monotonic(), None))
        else:
            ok = saved.status == 200
            saves.append(Save(writer, n, started, time.monotonic(), saved.status,
                              saved.body["version"] if ok else None,
                              process_of(saved.headers) if ok else None))
        n += 1


def test_kill_9_under_writes_loses_nothing_acknowledged_and_is_routed_around(
        maria_site: Site) -> None:
    site = maria_site
    *survivors, victim = site.appliances
    every_process = {a.prefix for a in site.appliances}  # the victim's changes at its restart
    flows = [new_flow(survivors[0].url, site.operator, f"writer {w}").body["id"]
             for w in range(WRITERS)]
    stop = threading.Event()
    saves: list[Save] = []
    threads = [threading.Thread(target=_write_steadily, args=(site, w, flows[w], stop, saves))
               for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        killing_at = time.monotonic()
        victim.kill()
        killed_at = time.monotonic()  # reaped: nothing of it answers from here on
        while site.proxy.server_states()[victim.name] != "DOWN":
            assert time.monotonic() - killed_at < 5, "the health checks did not take it out"
            time.sleep(0.02)
        down_after = time.monotonic() - killed_at
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        restart(site, victim)
    assert down_after < (CHECK_FALL + 2) * CHECK_INTERVAL_MS / 1000, down_after
    acknowledged = [s for s in saves if s.status == 200]
    failed = [s for s in saves if s.status != 200]
    # Every process took writes before the kill; only the survivors after.
    assert {s.process for s in acknowledged if s.ended < killing_at} == every_process
    assert {s.process for s in acknowledged if s.started > killed_at} == \
        {a.prefix for a in survivors}
    # Only a save in flight at the kill may fail (HAProxy answers it 502, or the connection
    # drops); every save sent after it is answered by the survivor.
    assert all(s.started < killed_at and s.ended > killing_at for s in failed), failed
    assert len(failed) <= WRITERS, failed
    assert len(acknowledged) > 10 * WRITERS, len(acknowledged)
    # Every acknowledged save is stored, as it was sent; versions have no gaps (a failed save
    # may be stored too: its client cannot know).
    conn = site.database.connect()  # type: ignore[union-attr]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT flow_id, seq, version, content FROM flow_versions "
                           "ORDER BY flow_id, seq")
            stored = cursor.fetchall()
    finally:
        conn.close()
    by_version = {(flow_id, version): json.loads(data)["metadata"]
                  for flow_id, _, version, data in stored}
    for save in acknowledged:
        assert by_version[(flows[save.writer], save.version)] == \
            {"writer": save.writer, "n": save.n}, save
    for flow_id in flows:
        seqs = [seq for f, seq, _, _ in stored if f == flow_id]
        assert seqs == list(range(1, len(seqs) + 1)), (flow_id, seqs)
    print(f"{len(acknowledged)} saves acknowledged, {len(failed)} failed at the kill, "
          f"victim out after {down_after:.2f} s")


def _leases(site: Site) -> dict[str, list[str]]:
    """{lease: the names of the live processes holding it} from their /admin/system."""
    held: dict[str, list[str]] = {"directory_sync": [], "retention": []}
    for appliance in site.appliances:
        if appliance.proc is None or appliance.proc.poll() is not None:
            continue
        answer = call("GET", appliance.url + SYSTEM, site.operator)
        assert answer.status == 200, answer
        for name in answer.body["process"]["leases_held"]:
            held[name].append(appliance.name)
    return held


def _taken_over(site: Site, killed_at: float) -> tuple[float, dict[str, list[str]]]:
    """(seconds after the kill, holders) once every lease is held again."""
    # The lease runs out LEASE_SECONDS after the victim's last renewal (at most a third of it
    # before the kill); survivors try every third of it: taken 2/3 to 4/3 of it after the kill.
    bound = LEASE_SECONDS * 4 / 3 + 1.0  # + a loaded machine's second
    while True:
        held = _leases(site)
        if all(held.values()):
            return time.monotonic() - killed_at, held
        assert time.monotonic() - killed_at < bound, held
        time.sleep(0.05)


def _stored_holders(site: Site) -> dict[str, str]:
    conn = site.database.connect()  # type: ignore[union-attr]
    try:
        with conn.cursor() as cursor:
            # the keeper's leases (`migration` is taken at start-up only, when one is due)
            cursor.execute("SELECT name, holder FROM leases WHERE name IN"
                           " ('directory_sync', 'retention') ORDER BY name")
            return dict(cursor.fetchall())
    finally:
        conn.close()


def test_the_lease_holder_killed_another_process_takes_its_leases_within_the_bound(
        maria_site: Site) -> None:
    site = maria_site
    # One holder of each, site-wide (waited for: a renewal late on a loaded machine leaves a
    # lease unheld for a moment, never held twice).
    wait_until(lambda: all(len(holders) == 1 for holders in _leases(site).values()), 5, 0.05)
    held = _leases(site)
    victim = next(a for a in site.appliances if a.name == held["directory_sync"][0])
    victim.kill()
    killed_at = time.monotonic()
    try:
        taken_after, held = _taken_over(site, killed_at)
        # One survivor holds each lease, and the database says so.
        assert all(len(holders) == 1 and victim.name not in holders
                   for holders in held.values()), held
        ids = {a.name: call("GET", a.url + SYSTEM, site.operator).body["process"]["id"]
               for a in site.appliances if a is not victim}
        assert _stored_holders(site) == {name: ids[holders[0]]
                                         for name, holders in held.items()}
    finally:
        restart(site, victim)
    print(f"leases taken over {taken_after:.2f} s after the kill (lease {LEASE_SECONDS} s)")
