"""Driving the real Yjs client (tests/collab/js/client.mjs: yjs + y-websocket on `ws`, pinned
by its package-lock.json and installed by `make collab-deps`, which `make test` runs) from the
tests, and the appliance they talk to.

Tests that need node are skipped, saying why, when node (>= 20) or the installed packages are
missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pycrdt
import pytest
from aiohttp import WSMsgType

from scaiflow_box.collab import yprotocol as yp
from tests.conftest import Appliance, hello_content

JS = Path(__file__).resolve().parent / "js"
CLIENT_SCRIPT = JS / "client.mjs"
EVENT_TIMEOUT_S = 20.0
FLOWS = "/api/v1/flows"


def node_problem() -> str | None:
    node = shutil.which("node")
    if node is None:
        return ("node is not installed (apt-get install nodejs npm, then make collab-deps); "
                "the live-editing tests drive the real Yjs client with it")
    version = subprocess.run([node, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        return f"cannot read the node version ({version!r})"
    if major < 20:
        return f"node {version} is too old for the live-editing client (needs 20 or later)"
    for package in ("yjs", "y-websocket", "ws"):
        if not (JS / "node_modules" / package / "package.json").is_file():
            return (f"{package} is not installed: run `make collab-deps` "
                    "(npm ci in tests/collab/js)")
    return None


needs_node = pytest.mark.skipif(node_problem() is not None, reason=node_problem() or "")


class NodeClients:
    """One node process holding named y-websocket clients: commands in, events out."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []  # everything received, in order
        self._unread: list[dict[str, Any]] = []

    @classmethod
    async def start(cls) -> NodeClients:
        proc = await asyncio.create_subprocess_exec(
            "node", str(CLIENT_SCRIPT), cwd=JS, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024)
        clients = cls(proc)
        await clients.expect("ready")
        return clients

    async def send(self, cmd: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **fields}).encode() + b"\n")
        await self.proc.stdin.drain()

    async def expect(self, event: str, name: str | None = None, *,
                     timeout: float = EVENT_TIMEOUT_S,
                     where: Callable[[dict[str, Any]], bool] = lambda e: True
                     ) -> dict[str, Any]:
        """The first unread event of this kind (for this client) that `where` accepts."""
        def matches(e: dict[str, Any]) -> bool:
            return e.get("event") == event and (name is None or e.get("name") == name) \
                and where(e)

        for index, entry in enumerate(self._unread):
            if matches(entry):
                return self._unread.pop(index)
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} event for {name!r} within {timeout} s; "
                                     f"unread: {self._unread[-10:]}; {await self._stderr()}")
            try:
                line = await asyncio.wait_for(self.proc.stdout.readline(), remaining)
            except TimeoutError:
                continue
            if not line:
                raise AssertionError(f"the node client exited ({self.proc.returncode}) before "
                                     f"{event!r}: {await self._stderr()}")
            entry = json.loads(line)
            self.events.append(entry)
            if matches(entry):
                return entry
            self._unread.append(entry)

    def seen(self, event: str, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events
                if e.get("event") == event and (name is None or e.get("name") == name)]

    async def _stderr(self) -> str:
        if self.proc.returncode is None or self.proc.stderr is None:
            return ""
        return (await self.proc.stderr.read()).decode(errors="replace")[-2000:]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            try:
                await self.send("exit")
                await asyncio.wait_for(self.proc.wait(), 5)
            except (TimeoutError, ConnectionError):
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def node() -> AsyncIterator[Callable[[], Any]]:
    """Start node client processes; each is stopped at the end of the test."""
    started: list[NodeClients] = []

    async def start() -> NodeClients:
        clients = await NodeClients.start()
        started.append(clients)
        return clients

    yield start
    for clients in started:
        await clients.stop()


def ws_base(app: Appliance, flow_id: str) -> str:
    """What the canvas hands y-websocket as `serverUrl` (the room name is `sync`)."""
    return str(app.client.make_url(f"{FLOWS}/{flow_id}")).replace("http://", "ws://", 1)


async def new_flow(app: Appliance, owner: str = "usr_alice", tenant: str = "tnt_a"
                   ) -> tuple[str, str]:
    """A flow owned by `owner`: (flow id, the owner's token)."""
    headers = await app.headers(owner, tenant)
    resp = await app.client.post(FLOWS, json={"name": "Live", "content": hello_content()},
                                 headers=headers)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"], headers["Authorization"].split()[1]


class PyClient:
    """A y-websocket peer written with aiohttp and pycrdt, for checks at the message level."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.texts: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, app: Appliance, flow_id: str, token: str | None, *,
                      headers: dict[str, str] | None = None, **params: str) -> PyClient:
        query = {**params, **({"token": token} if token is not None else {})}
        socket = await app.client.ws_connect(f"{FLOWS}/{flow_id}/sync", params=query,
                                             headers=headers or {})
        return cls(socket)

    async def receive(self, timeout: float = 5.0) -> aiohttp.WSMessage:
        message = await self.socket.receive(timeout=timeout)
        if message.type == WSMsgType.TEXT:
            self.texts.append(json.loads(message.data))
        return message

    async def binary(self, timeout: float = 5.0) -> yp.Message:
        """The next binary message, parsed (text frames on the way are kept in `texts`)."""
        while True:
            message = await self.receive(timeout)
            if message.type == WSMsgType.BINARY:
                return yp.parse(message.data)
            assert message.type == WSMsgType.TEXT, message

    async def raw(self, timeout: float = 5.0) -> bytes:
        while True:
            message = await self.receive(timeout)
            if message.type == WSMsgType.BINARY:
                data: bytes = message.data
                return data
            assert message.type == WSMsgType.TEXT, message

    async def text(self, timeout: float = 5.0) -> dict[str, Any]:
        while True:
            message = await self.receive(timeout)
            if message.type == WSMsgType.TEXT:
                return self.texts[-1]
            assert message.type == WSMsgType.BINARY, message

    async def closed(self, timeout: float = 5.0) -> tuple[int | None, str]:
        """Read until the box closes the socket: (close code, reason)."""
        while True:
            message = await self.receive(timeout)
            if message.type == WSMsgType.CLOSE:  # the code and reason the box sent
                return int(message.data), str(message.extra or "")
            if message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
                return self.socket.close_code, str(message.extra or "")
            if message.type == WSMsgType.ERROR:
                return self.socket.close_code, str(message.data)

    async def silent(self, seconds: float = 0.3) -> None:
        """No y-websocket message arrives for a while (presence text frames are kept in
        `texts`; a binary message fails the test)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        with contextlib.suppress(TimeoutError):
            while (left := deadline - loop.time()) > 0:
                message = await self.receive(left)
                if message.type != WSMsgType.TEXT:
                    raise AssertionError(f"unexpected message {message}")

    async def close(self) -> None:
        await self.socket.close()


def edits(count: int, name: str = "t") -> tuple[pycrdt.Doc[Any], list[bytes]]:
    """A document with `count` one-character insertions, and the update of each."""
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    text = doc.get(name, type=pycrdt.Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for index in range(count):
        text += chr(ord("a") + index % 26)
    return doc, updates


def text_of(update: bytes, name: str = "t") -> str:
    doc: pycrdt.Doc[Any] = pycrdt.Doc()
    doc.apply_update(update)
    return str(doc.get(name, type=pycrdt.Text))
