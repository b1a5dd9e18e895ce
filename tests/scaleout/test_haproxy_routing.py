"""The HAProxy configuration of docs/operations.md, tested with real processes: live-editing
routes of one flow always reach one process, whichever route and whatever query; other
requests are spread; a process killed with -9 is routed around within the health check's
bound, and taken back when it returns."""

from __future__ import annotations

import time
from collections import Counter

from tests.scaleout.conftest import Site, get, process_of
from tests.scaleout.haproxy import CHECK_FALL, CHECK_INTERVAL_MS, wait_until

FLOW_IDS = [f"flow_{n:04d}routing" for n in range(40)]


def live_process(site: Site, flow_id: str, route: str, query: str = "") -> str:
    status, headers = get(f"{site.proxy.url}/api/v1/flows/{flow_id}/{route}{query}")
    assert status == 401  # no token: refused by whichever process it reached, in our shape
    return process_of(headers)


def test_a_flows_live_routes_reach_one_process_whatever_the_query(site: Site) -> None:
    placement = {}
    for flow_id in FLOW_IDS:
        seen = {live_process(site, flow_id, route, query)
                for route in ("sync", "presence")
                for query in ("", "?token=a", "?token=b&x=1")
                for _ in range(2)}
        assert len(seen) == 1, f"{flow_id} reached {seen}"
        placement[flow_id] = seen.pop()
    # The flows are spread over both processes (consistent hashing of the flow id).
    counts = Counter(placement.values())
    assert set(counts) == {a.prefix for a in site.appliances}, counts
    assert min(counts.values()) >= 5, counts


def test_other_requests_are_spread_over_the_processes(site: Site) -> None:
    answered = Counter(process_of(get(site.proxy.url + "/healthz")[1]) for _ in range(20))
    assert set(answered) == {a.prefix for a in site.appliances}, answered
    status, headers = get(site.proxy.url + "/api/v1/me")
    assert status == 401 and process_of(headers) in answered


def test_a_killed_process_is_routed_around_and_taken_back(own_site: Site) -> None:
    site = own_site
    placement = {flow_id: live_process(site, flow_id, "sync") for flow_id in FLOW_IDS}
    victim, survivor = site.appliances
    moved = [f for f, prefix in placement.items() if prefix == victim.prefix]
    stayed = [f for f, prefix in placement.items() if prefix == survivor.prefix]
    assert moved and stayed

    victim.kill()
    killed_at = time.monotonic()
    # From the moment it dies, no request fails: a refused connection is sent on to the
    # survivor (`option redispatch`), before and after the checks take the victim out.
    answers = []
    while site.proxy.server_states()[victim.name] != "DOWN":
        answers.append(get(site.proxy.url + "/healthz"))
        assert time.monotonic() - killed_at < 5, "the health checks did not take it out"
    down_after = time.monotonic() - killed_at
    # Two failed checks 500 ms apart, plus the check in flight: the bound operators can expect.
    assert down_after < (CHECK_FALL + 2) * CHECK_INTERVAL_MS / 1000, down_after
    answers += [get(site.proxy.url + "/healthz") for _ in range(10)]
    assert {(status, process_of(h)) for status, h in answers} == {(200, survivor.prefix)}
    # The dead process's flows moved to the survivor; the survivor's own flows did not move.
    assert {live_process(site, f, "sync") for f in moved} == {survivor.prefix}
    assert {live_process(site, f, "sync") for f in stayed} == {survivor.prefix}

    victim.start()  # the same port: HAProxy takes it back after two good checks
    wait_until(lambda: all(site.proxy.server_states(backend)[victim.name] == "UP"
                           for backend in ("api", "live")), 10, 0.1)
    # Consistent hashing gives its flows back, and only those.
    assert {f: live_process(site, f, "sync") for f in FLOW_IDS} == \
        {f: (victim.prefix if f in moved else survivor.prefix) for f in FLOW_IDS}
