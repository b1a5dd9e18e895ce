"""The appliance's own service tokens (SPEC §2.1, §12): list, mint (shown once), revoke."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from tui.client import AdminClientError, MintedServiceToken, ServiceToken
from tui.screens.base import ApiScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.mint_token import MintTokenScreen
from tui.screens.token_reveal import TokenRevealScreen
from tui.widgets.resource_table import ResourceTable

SESSION_MARK = " (this TUI)"


def token_state(token: ServiceToken, session_ids: frozenset[str]) -> str:
    state = token.state()
    return state + SESSION_MARK if token.id in session_ids else state


def token_cells(token: ServiceToken, session_ids: frozenset[str]) -> list[str | None]:
    return [token.id, token_state(token, session_ids), token.sub, token.tenant_id,
            token.expires_at, token.scope, token.description]


def token_detail(token: ServiceToken, session_ids: frozenset[str]) -> Text:
    text = Text(token.id, style="bold")
    text.append(f"  {token_state(token, session_ids)}")
    text.append(f"\nfor {token.sub} @ {token.tenant_id} · scope: {token.scope or '-'}")
    text.append(f"\ncreated {token.created_at} by {token.created_by or '-'} · "
                f"expires {token.expires_at}")
    if token.revoked_at:
        text.append(f" · revoked {token.revoked_at}")
    text.append(f"\n{token.description or '(no description)'}")
    return text


class ServiceTokensScreen(ApiScreen):
    MODE: ClassVar[str] = "tokens"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "mint", "Mint token", id="tokens.mint"),
        Binding("x", "revoke", "Revoke", id="tokens.revoke"),
    ]

    tokens: reactive[tuple[ServiceToken, ...]] = reactive((), init=False)

    class Loaded(Message):
        def __init__(self, tokens: list[ServiceToken]) -> None:
            super().__init__()
            self.tokens = tokens

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield ResourceTable(("ID", "State", "Sub", "Tenant", "Expires", "Scope", "Description"),
                            id="tokens")
        yield Static("", id="detail")
        yield from self.compose_bottom()

    @property
    def session_ids(self) -> frozenset[str]:
        return self.client.tokens.session_token_ids()

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        try:
            tokens = await self.client.list_service_tokens()
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.Loaded(tokens))

    def on_service_tokens_screen_loaded(self, message: Loaded) -> None:
        self.loaded()
        self.tokens = tuple(message.tokens)
        active = sum(1 for t in self.tokens if t.state() == "active")
        self.status_text = (f"{len(self.tokens)} token(s), {active} active."
                            if self.tokens else "No service tokens yet: press n to mint one.")

    def watch_tokens(self, tokens: tuple[ServiceToken, ...]) -> None:
        session_ids = self.session_ids
        self.query_one("#tokens", ResourceTable).replace_rows(
            [(t.id, token_cells(t, session_ids)) for t in tokens])
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        token = self.selected_token()
        self.query_one("#detail", Static).update(
            token_detail(token, self.session_ids) if token else "")

    def selected_token(self) -> ServiceToken | None:
        key = self.query_one("#tokens", ResourceTable).selected_key
        return next((t for t in self.tokens if t.id == key), None)

    # -- mint ------------------------------------------------------------------------------
    def action_mint(self) -> None:
        def minted(result: MintedServiceToken | None) -> None:
            if result is None:
                self.action_text = "Cancelled; no token minted."
                return
            self.action_text = f"Minted {result.id} (expires {result.expires_at})."
            self.app.push_screen(TokenRevealScreen(result))

        self.app.push_screen(MintTokenScreen(self.client), minted)

    # -- revoke ----------------------------------------------------------------------------
    def action_revoke(self) -> None:
        token = self.selected_token()
        if token is None:
            self.action_text = "Select a token first."
            return
        if token.revoked_at:
            self.action_text = f"{token.id} is already revoked."
            return
        if token.id in self.session_ids:
            self.action_text = (f"{token.id} is this TUI's own session token; it is revoked "
                                "when you quit.")
            return
        question = (f"Revoke {token.id} ({token.sub} @ {token.tenant_id})?\n"
                    "Every request carrying it is refused from now on; this cannot be undone.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.revoke(token)
            else:
                self.action_text = "Cancelled; nothing changed."

        self.app.push_screen(ConfirmScreen(question, confirm_label="Revoke"), answered)

    @work(exclusive=True, group="action")
    async def revoke(self, token: ServiceToken) -> None:
        try:
            await self.client.revoke_service_token(token.id)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(f"Could not revoke {token.id}", exc))
            return
        self.post_message(self.ActionFinished(f"Revoked {token.id} ({token.sub})."))
