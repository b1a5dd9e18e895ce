"""Shared helpers of the TUI tests: a session against the real appliance (its real
credential, minted from the data directory), waiting for the app's workers, and reading what
the screens show."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from textual.pilot import Pilot
from textual.worker import WorkerState

from scaiflow_box.commands.tui_data_dir import CliDataDirTools
from scaiflow_box.commands.tui_session import LocalTokenSource
from tests.cli_process import environment
from tests.conftest import Appliance
from tests.db_backend import database_environment
from tui.app import ScaiflowAdmin
from tui.client import AdminClient, TokenSource
from tui.widgets.resource_table import ResourceTable

SIZE = (160, 48)
ACTIVE = (WorkerState.PENDING, WorkerState.RUNNING)


@dataclass
class TuiSession:
    appliance: Appliance
    tokens: LocalTokenSource
    client: AdminClient

    def app(self, *, auto_reload: bool = False) -> ScaiflowAdmin:
        """The console as `scaiflow-box tui` builds it (its data-directory tools too); without
        the auto-refresh unless a test is about it, so what a test reads stays put."""
        settings = self.appliance.settings
        tools = CliDataDirTools(settings.data_dir, env=environment(
            settings.data_dir, database_environment(settings)))
        return ScaiflowAdmin(self.client, tools=tools, auto_reload=auto_reload)


def base_url(appliance: Appliance) -> str:
    return str(appliance.client.make_url("/")).rstrip("/")


@asynccontextmanager
async def open_session(appliance: Appliance) -> AsyncIterator[TuiSession]:
    """The TUI's real credential for `appliance`: a session token for the bootstrap
    `usr_operator@tnt_local` minted from its data dir, revoked at the end."""
    tokens = LocalTokenSource(appliance.settings, sub="usr_operator", tenant_id="tnt_local")
    await asyncio.to_thread(tokens.prime)
    client = AdminClient(base_url(appliance), tokens)
    try:
        yield TuiSession(appliance, tokens, client)
    finally:
        await client.close()
        await asyncio.to_thread(tokens.revoke_all)


def closed_port_url() -> str:
    """A loopback URL nobody listens on (bound, then released: refused at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def client_for(url: str, tokens: TokenSource) -> AdminClient:
    return AdminClient(url, tokens)


async def settle(pilot: Pilot[int], *, timeout: float = 10.0) -> None:
    """Wait until no worker is pending or running and the message queues are drained."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        await pilot.pause()
        if any(worker.state in ACTIVE for worker in pilot.app.workers):
            quiet = 0
            if time.monotonic() > deadline:
                raise AssertionError("workers still running after "
                                     f"{timeout} s: {list(pilot.app.workers)}")
            await asyncio.sleep(0.005)
        else:
            quiet += 1


async def wait_for(pilot: Pilot[int], predicate: Callable[[], bool], *,
                   timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await settle(pilot)
        if not predicate():
            await asyncio.sleep(0.01)


def table_rows(app: ScaiflowAdmin, table_id: str) -> list[list[str]]:
    return app.screen.query_one(f"#{table_id}", ResourceTable).row_texts()


def static_text(app: ScaiflowAdmin, selector: str) -> str:
    from textual.widgets import Static

    content = app.screen.query_one(selector, Static).content
    plain = getattr(content, "plain", None)
    return plain if isinstance(plain, str) else str(content)


async def select_row(pilot: Pilot[int], table_id: str, key: str) -> None:
    """Move the table cursor onto `key` with the arrow keys, as an operator would."""
    table = pilot.app.screen.query_one(f"#{table_id}", ResourceTable)
    table.focus()
    keys = [row.value for row in table.rows]
    index = keys.index(key)
    if index <= len(keys) // 2:
        await pilot.press("ctrl+home", *["down"] * index)
    else:
        await pilot.press("ctrl+end", *["up"] * (len(keys) - 1 - index))
    await pilot.pause()
    assert table.selected_key == key
