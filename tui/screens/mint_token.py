"""The form that mints a service token through `POST /api/v1/admin/service-tokens`."""

from __future__ import annotations

import re
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui.client import AdminClient, AdminClientError, MintedServiceToken

DEFAULT_SCOPE = "scaicore:view scaicore:manage"
DEFAULT_TTL = "24h"
MAX_TTL_SECONDS = 30 * 24 * 3600
_TTL = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """`900`, `15m`, `24h`, `30d` → seconds; between 60 s and 30 days, else ValueError."""
    match = _TTL.match(text.lower())
    if not match:
        raise ValueError("TTL: a number of seconds, or with a unit: 15m, 24h, 30d")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not 60 <= seconds <= MAX_TTL_SECONDS:
        raise ValueError("TTL: between 60 seconds and 30 days")
    return seconds


class MintTokenScreen(ModalScreen[MintedServiceToken | None]):
    """Dismisses with the minted token, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="mint.cancel"),
        Binding("ctrl+s", "submit", "Mint", id="mint.submit"),
    ]

    class Minted(Message):
        def __init__(self, minted: MintedServiceToken) -> None:
            super().__init__()
            self.minted = minted

    class Failed(Message):
        def __init__(self, error: AdminClientError) -> None:
            super().__init__()
            self.error = error

    def __init__(self, client: AdminClient, *, tenant_id: str = "") -> None:
        super().__init__()
        self.client = client
        self.default_tenant = tenant_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog form"):
            yield Static("Mint a service token", classes="title")
            with Grid(id="fields"):
                yield Label("Subject")
                yield Input(id="sub", placeholder="who it speaks for, e.g. ci-pipeline",
                            compact=True)
                yield Label("Tenant")
                yield Input(self.default_tenant, id="tenant",
                            placeholder="empty: the TUI's own tenant", compact=True)
                yield Label("Scope")
                yield Input(DEFAULT_SCOPE, id="scope", compact=True)
                yield Label("Lifetime")
                yield Input(DEFAULT_TTL, id="ttl", compact=True)
                yield Label("Description")
                yield Input(id="description", placeholder="what uses it", compact=True)
            yield Static("Lifetime: seconds, or 15m / 24h / 30d (at most 30 days). Enter or "
                         "ctrl+s mints; the token is shown once.", classes="hint")
            yield Static("", id="form-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Mint (ctrl+s)", id="mint", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#sub", Input).focus()

    def _value(self, field_id: str) -> str:
        return self.query_one(f"#{field_id}", Input).value.strip()

    def _show_error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(text)

    @on(Button.Pressed, "#mint")
    @on(Input.Submitted)
    def action_submit(self) -> None:
        sub = self._value("sub")
        if not sub:
            self._show_error("Subject: required.")
            self.query_one("#sub", Input).focus()
            return
        try:
            ttl = parse_ttl(self._value("ttl"))
        except ValueError as exc:
            self._show_error(str(exc))
            self.query_one("#ttl", Input).focus()
            return
        self._show_error("Minting…")
        self.query_one("#mint", Button).disabled = True
        self.mint(sub, self._value("tenant") or None, self._value("scope"), ttl,
                  self._value("description") or "minted in the TUI")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="mint")
    async def mint(self, sub: str, tenant_id: str | None, scope: str, ttl_seconds: int,
                   description: str) -> None:
        try:
            minted = await self.client.mint_service_token(
                sub=sub, tenant_id=tenant_id, scope=scope, ttl_seconds=ttl_seconds,
                description=description)
        except AdminClientError as exc:
            self.post_message(self.Failed(exc))
            return
        self.post_message(self.Minted(minted))

    def on_mint_token_screen_minted(self, message: Minted) -> None:
        self.dismiss(message.minted)

    def on_mint_token_screen_failed(self, message: Failed) -> None:
        self.query_one("#mint", Button).disabled = False
        self._show_error(f"Not minted: {message.error}")
