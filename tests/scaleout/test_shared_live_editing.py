"""Live editing on several processes (docs/scale-out.md §3 "route by flow, don't relay"): the
real Yjs client (tests/collab/js) connected through HAProxy meets every other editor of the
flow in the one process the flow's path hashes to, and what they edit is stored in the shared
database, where any process loads it from."""

from __future__ import annotations

import time

from tests.collab.conftest import NodeClients, needs_node
from tests.scaleout.api import FLOWS, new_flow
from tests.scaleout.conftest import ON_MARIA_SITE, Site, get, process_of

pytestmark = [*ON_MARIA_SITE, needs_node]
EDITS = 20


async def _synced(clients: NodeClients, name: str, url: str, token: str) -> None:
    await clients.send("connect", name=name, url=url, token=token)
    await clients.expect("synced", name)


async def _dump(clients: NodeClients, name: str) -> dict[str, object]:
    await clients.send("dump", name=name)
    return await clients.expect("dump", name)


async def test_a_sync_edit_reaches_the_flows_other_editors_through_haproxy(
        maria_site: Site) -> None:
    token = maria_site.operator
    flow_id = new_flow(maria_site.appliances[0].url, token, "edited live").body["id"]
    via_proxy = f"ws://127.0.0.1:{maria_site.proxy.port}{FLOWS}/{flow_id}"
    # the process HAProxy hashes the flow to (a refused /presence names it)
    owner = maria_site.by_prefix(process_of(get(f"{maria_site.proxy.url}{FLOWS}/{flow_id}/"
                                                "presence")[1]))
    other = next(a for a in maria_site.appliances if a is not owner)
    editors = [await NodeClients.start(), await NodeClients.start()]  # two canvases
    late = await NodeClients.start()
    try:
        await _synced(editors[0], "alice", via_proxy, token)
        await _synced(editors[1], "bob", via_proxy, token)
        await editors[0].send("edit", name="alice", count=EDITS, prefix="alice")
        await editors[1].send("waitFor", name="bob", mapSize=EDITS)
        await editors[1].expect("reached", "bob")
        await editors[0].send("barrier", name="alice")  # the box applied all of alice's edits
        await editors[0].expect("barrier", "alice")
        edited, seen = await _dump(editors[0], "alice"), await _dump(editors[1], "bob")
        assert (seen["map"], seen["text"]) == (edited["map"], edited["text"])
        assert sorted(edited["map"]) == sorted(f"alice-{i}" for i in range(EDITS))  # type: ignore[call-overload]

        # Stored in the shared database by the owner as they arrive: a client straight to the
        # other process, which held no replica of the flow, loads them from there (the owner
        # stores in the background: a client that came too early tries again).
        direct = f"ws://127.0.0.1:{other.port}{FLOWS}/{flow_id}"
        started = time.monotonic()
        for attempt in range(100):
            await _synced(late, f"carol{attempt}", direct, token)
            loaded = await _dump(late, f"carol{attempt}")
            await late.send("close", name=f"carol{attempt}")
            await late.expect("closed", f"carol{attempt}")
            if loaded["map"] == edited["map"] or time.monotonic() - started > 5:
                break
        assert (loaded["map"], loaded["text"]) == (edited["map"], edited["text"])
    finally:
        for clients in (*editors, late):
            await clients.stop()
