"""Live editing against a real `scaiflow-box serve` process, with the real Yjs client: SIGTERM
closes every socket with 1001 and the document survives the restart; a service token revoked
by the CLI in another process closes its socket within a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.collab.conftest import NodeClients, needs_node
from tests.contract.served import ServedAppliance, example_content

pytestmark = needs_node


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedAppliance]:
    app = ServedAppliance(data_dir=tmp_path / "data", log_path=tmp_path / "server.log")
    app.cli("init")
    app.start()
    try:
        yield app
    finally:
        if app.proc is not None and app.proc.poll() is None:
            assert app.stop() == 0, app.log()[-2000:]


def _flow(app: ServedAppliance, token: str) -> str:
    body = app.expect(201, "POST", "/api/v1/flows", token=token,
                      json_body={"name": "Live", "content": example_content()})
    flow_id: str = body["id"]
    return flow_id


def _url(app: ServedAppliance, flow_id: str) -> str:
    return f"ws://127.0.0.1:{app.port}/api/v1/flows/{flow_id}"


async def _connect(clients: NodeClients, name: str, url: str, token: str) -> None:
    await clients.send("connect", name=name, url=url, token=token)
    await clients.expect("synced", name)


async def test_a_restart_keeps_the_document(served: ServedAppliance, node: Any) -> None:
    token, _ = served.mint("usr_operator")
    flow_id = _flow(served, token)
    clients = await node()
    await _connect(clients, "before", _url(served, flow_id), token)
    await clients.send("edit", name="before", count=25, prefix="before")
    await clients.send("barrier", name="before")
    await clients.expect("barrier", "before")
    await clients.send("dump", name="before")
    edited = await clients.expect("dump", "before")
    # SIGTERM: every socket is closed with 1001, the documents are stored, exit 0.
    stopping = asyncio.get_running_loop().run_in_executor(None, served.stop)
    closed = await clients.expect("close", "before", timeout=15)
    assert (closed["code"], closed["reason"]) == (1001, "the server is shutting down")
    assert await stopping == 0, served.log()[-2000:]
    # A clean stop leaves the document compacted into one snapshot.
    assert served.sql("SELECT count(*) FROM live_docs WHERE flow_id = ?", flow_id)[0][0] == 1
    assert served.sql("SELECT count(*) FROM live_doc_updates")[0][0] == 0
    served.start()
    await _connect(clients, "after", _url(served, flow_id), token)
    await clients.send("dump", name="after")
    after = await clients.expect("dump", "after")
    assert (after["map"], after["text"]) == (edited["map"], edited["text"])
    assert len(after["map"]) == 25


async def test_a_token_revoked_by_the_cli_closes_its_socket(served: ServedAppliance,
                                                           node: Any) -> None:
    token, token_id = served.mint("usr_operator")
    flow_id = _flow(served, token)
    clients = await node()
    await _connect(clients, "canvas", _url(served, flow_id), token)
    await asyncio.get_running_loop().run_in_executor(
        None, served.cli, "token", "revoke", token_id)
    started = time.monotonic()
    closed = await clients.expect("close", "canvas", timeout=5)
    assert time.monotonic() - started < 1.5
    assert (closed["code"], closed["reason"]) == (4401, "invalid token: revoked")
