"""Security (SPEC §2.1, §12, §19): the appliance's service tokens (mint, shown once; revoke;
expired ones and this TUI's own session tokens hidden until asked), the master keys (the
current one and the retired ones kept for older backups, with the backups made under each, as
`scaiflow-box keys list` shows them; rotation), and the token issuers with their key ids and
JWKS age (import a JWKS file through the data-directory tools)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Label, Static

from tui.client import (
    AdminClientError,
    KeyRotation,
    MasterKeyEntry,
    MasterKeys,
    MintedServiceToken,
    ServiceToken,
)
from tui.data_dir_tools import ToolFailed, ToolOutcome
from tui.formatting import format_age, short_time
from tui.models import Readiness
from tui.screens.base import ApiScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.data_dir_forms import JwksImportForm, JwksImportRequest
from tui.screens.mint_token import MintTokenScreen
from tui.screens.rotate_master_key import RotateMasterKeyScreen
from tui.screens.token_reveal import TokenRevealScreen
from tui.widgets.resource_table import ResourceTable

SESSION_MARK = " (this TUI)"


@dataclass(frozen=True)
class SecuritySnapshot:
    tokens: tuple[ServiceToken, ...]
    readiness: Readiness | None
    local_key_ids: tuple[str, ...]
    master_keys: MasterKeys | None
    keys_problem: str | None = None  # why the master keys could not be listed


def token_state(token: ServiceToken, session_ids: frozenset[str], now: datetime) -> str:
    state = token.state(now)
    return state + SESSION_MARK if token.id in session_ids else state


def token_cells(token: ServiceToken, session_ids: frozenset[str], now: datetime
                ) -> list[str | None]:
    return [token.id, token_state(token, session_ids, now), token.sub, token.tenant_id,
            short_time(token.expires_at), token.scope, token.description]


def token_detail(token: ServiceToken, session_ids: frozenset[str], now: datetime) -> Text:
    text = Text(token.id, style="bold")
    text.append(f"  {token_state(token, session_ids, now)}")
    text.append(f"\nfor {token.sub} @ {token.tenant_id} · scope: {token.scope or '-'}")
    text.append(f"\ncreated {token.created_at} by {token.created_by or '-'} · "
                f"expires {token.expires_at}")
    if token.revoked_at:
        text.append(f" · revoked {token.revoked_at}")
    text.append(f"\n{token.description or '(no description)'}")
    return text


def shown_tokens(tokens: tuple[ServiceToken, ...], session_ids: frozenset[str], now: datetime,
                 *, show_all: bool) -> list[ServiceToken]:
    """By default neither expired tokens nor this TUI's own session tokens: they are noise
    for an operator looking for the tokens CI and tools use."""
    if show_all:
        return list(tokens)
    return [t for t in tokens if t.state(now) != "expired" and t.id not in session_ids]


def master_key_text(snapshot: SecuritySnapshot) -> Text:
    """The heading of the master keys table: what R does, or why the table is empty."""
    text = Text("Master keys", style="bold")
    keys = snapshot.master_keys
    if snapshot.keys_problem:
        text.append(f" unknown: {snapshot.keys_problem}", style="red")
    elif keys is not None and keys.from_env:
        text.append(" · from SCAIFLOW_MASTER_KEY: rotate it on the Data directory (9)",
                    style="dim")
    else:
        text.append(" · R rotates; back up master.key after a rotation", style="dim")
    return text


def backups_cell(key: MasterKeyEntry) -> str:
    """The backups `scaiflow-box backup` recorded under the key, and how many of them are no
    longer where it wrote them (the CLI's BACKUPS column counts the others)."""
    moved = key.backups_recorded - key.backups_on_disk
    return str(key.backups_recorded) + (f" ({moved} moved)" if moved else "")


def master_key_rows(snapshot: SecuritySnapshot) -> list[tuple[str, list[str | None]]]:
    keys = snapshot.master_keys.keys if snapshot.master_keys else ()
    # Dates only for the newest backup: the five columns fit 80 columns.
    return [(k.kek_id, [k.kek_id, k.state, short_time(k.retired_at) if k.retired_at else None,
                        backups_cell(k), short_time(k.newest_backup_at)[:10], k.problem])
            for k in keys]


def issuer_rows(snapshot: SecuritySnapshot) -> list[tuple[str, list[str | None]]]:
    rows: list[tuple[str, list[str | None]]] = [
        ("local", ["this appliance (service tokens)", "local",
                   ", ".join(snapshot.local_key_ids) or "none", "-"])]
    readiness = snapshot.readiness
    for index, issuer in enumerate(readiness.issuers if readiness else ()):
        rows.append((f"issuer-{index}", [
            issuer.issuer or "(not discovered yet)", issuer.source,
            ", ".join(issuer.key_ids) or "none loaded", format_age(issuer.age_seconds)]))
    return rows


def rotation_text(result: KeyRotation, *, reencrypt: bool) -> str:
    text = (f"Master key rotated: new key id {result.kek_id}; {result.data_keys} data key(s) "
            f"and {result.issuer_keys} issuer key(s) now wrapped by it")
    if reencrypt:
        text += f"; {result.secrets_reencrypted} secret(s) re-encrypted under new data keys"
    return text + ". Back up master.key now."


class SecurityScreen(ApiScreen):
    MODE: ClassVar[str] = "security"
    HELP: ClassVar[str] = (
        "Service tokens for CI and tools (a minted token is shown once), the master key that "
        "wraps every secret with the retired ones kept for older backups (and the backups "
        "made under each), and the issuers whose tokens the appliance accepts. Expired "
        "tokens and this TUI's own session tokens are hidden until a shows them.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "mint", "Mint", id="security.mint", tooltip="Mint service token"),
        Binding("x", "revoke", "Revoke", id="security.revoke",
                tooltip="Revoke service token"),
        Binding("a", "toggle_all", "All", id="security.toggle_all",
                tooltip="Show or hide expired and session tokens"),
        Binding("R", "rotate_master_key", "Rotate key", id="security.rotate_master_key",
                tooltip="Rotate master key"),
        Binding("i", "import_jwks", "JWKS", id="security.import_jwks",
                tooltip="Import JWKS from a file"),
    ]

    snapshot: reactive[SecuritySnapshot | None] = reactive(None, init=False)
    show_all: reactive[bool] = reactive(False, init=False)

    class Loaded(Message):
        def __init__(self, snapshot: SecuritySnapshot) -> None:
            super().__init__()
            self.snapshot = snapshot

    class ToolDone(Message):
        def __init__(self, outcome: ToolOutcome) -> None:
            super().__init__()
            self.outcome = outcome

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield ResourceTable(("ID", "State", "Sub", "Tenant", "Expires", "Scope", "Description"),
                            id="tokens")
        yield Static("", id="detail")
        yield Static("", id="master-key")
        yield ResourceTable(("Kek id", "State", "Retired at", "Backups", "Newest", "Problem"),
                            id="master-keys", max_cell_chars=60)
        yield Label("Token issuers", classes="section")
        yield ResourceTable(("Issuer", "Source", "Key ids", "JWKS age"), id="issuers",
                            max_cell_chars=60)
        yield from self.compose_bottom()

    @property
    def session_ids(self) -> frozenset[str]:
        return self.client.tokens.session_token_ids()

    @property
    def tokens(self) -> tuple[ServiceToken, ...]:
        return self.snapshot.tokens if self.snapshot else ()

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        try:
            tokens = await self.client.list_service_tokens()
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        readiness: Readiness | None = None
        local_key_ids: tuple[str, ...] = ()
        try:
            readiness = await self.client.readyz()
            local_key_ids = await self.client.local_key_ids()
        except AdminClientError:
            pass  # the tokens are shown; the issuers table stays as it was
        master_keys: MasterKeys | None = None
        problem: str | None = None
        try:
            master_keys = await self.client.master_keys()
        except AdminClientError as exc:
            problem = str(exc)
        self.post_message(self.Loaded(SecuritySnapshot(tuple(tokens), readiness, local_key_ids,
                                                       master_keys, problem)))

    def on_security_screen_loaded(self, message: Loaded) -> None:
        self.loaded()
        self.snapshot = message.snapshot

    def watch_snapshot(self, snapshot: SecuritySnapshot | None) -> None:
        if snapshot is None:
            return
        self._show_tokens()
        self.query_one("#master-key", Static).update(master_key_text(snapshot))
        self.query_one("#master-keys", ResourceTable).replace_rows(master_key_rows(snapshot))
        self.query_one("#issuers", ResourceTable).replace_rows(issuer_rows(snapshot))

    def watch_show_all(self) -> None:
        self._show_tokens()

    def _show_tokens(self) -> None:
        session_ids = self.session_ids
        now = self.console.now()
        shown = shown_tokens(self.tokens, session_ids, now, show_all=self.show_all)
        self.query_one("#tokens", ResourceTable).replace_rows(
            [(t.id, token_cells(t, session_ids, now)) for t in shown])
        active = sum(1 for t in self.tokens if t.state(now) == "active")
        hidden = len(self.tokens) - len(shown)
        if not self.tokens:
            self.status_text = "No service tokens yet: press n to mint one."
        else:
            self.status_text = f"{len(self.tokens)} token(s), {active} active" + (
                f"; {hidden} expired or session token(s) hidden (a shows them)." if hidden
                else ".")
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        token = self.selected_token()
        self.query_one("#detail", Static).update(
            token_detail(token, self.session_ids, self.console.now()) if token else "")

    def selected_token(self) -> ServiceToken | None:
        key = self.query_one("#tokens", ResourceTable).selected_key
        return next((t for t in self.tokens if t.id == key), None)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.say("Showing every token." if self.show_all
                 else "Hiding expired tokens and this TUI's session tokens.")

    # -- mint ------------------------------------------------------------------------------
    def action_mint(self) -> None:
        def minted(result: MintedServiceToken | None) -> None:
            if result is None:
                self.say("Cancelled; no token minted.")
                return
            self.say(f"Minted {result.id} (expires {result.expires_at}).")
            self.app.push_screen(TokenRevealScreen(result))

        self.app.push_screen(MintTokenScreen(self.client), minted)

    # -- revoke ----------------------------------------------------------------------------
    def action_revoke(self) -> None:
        token = self.selected_token()
        if token is None:
            self.say("Select a token first.")
            return
        if token.revoked_at:
            self.say(f"{token.id} is already revoked.")
            return
        if token.id in self.session_ids:
            self.say(f"{token.id} is this TUI's own session token; it is revoked when you "
                     "quit.")
            return
        question = (f"Revoke {token.id} ({token.sub} @ {token.tenant_id})?\n"
                    "Every request carrying it is refused from now on; this cannot be undone.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.revoke(token)
            else:
                self.say("Cancelled; nothing changed.")

        self.app.push_screen(ConfirmScreen(question, confirm_label="Revoke"), answered)

    @work(exclusive=True, group="action")
    async def revoke(self, token: ServiceToken) -> None:
        try:
            await self.client.revoke_service_token(token.id)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(f"Could not revoke {token.id}", exc))
            return
        self.post_message(self.ActionFinished(f"Revoked {token.id} ({token.sub})."))

    # -- master key --------------------------------------------------------------------------
    def action_rotate_master_key(self) -> None:
        def answered(reencrypt: bool | None) -> None:
            if reencrypt is None:
                self.say("Cancelled; the master key is unchanged.")
            else:
                self.rotate_master_key(reencrypt)

        self.app.push_screen(RotateMasterKeyScreen(), answered)

    @work(exclusive=True, group="action")
    async def rotate_master_key(self, reencrypt: bool) -> None:
        try:
            result = await self.client.rotate_master_key(reencrypt=reencrypt)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished("Could not rotate the master key", exc))
            return
        self.post_message(self.ActionFinished(rotation_text(result, reencrypt=reencrypt)))

    # -- JWKS import (the CLI's `jwks import`, on the data directory) -------------------------
    def action_import_jwks(self) -> None:
        tools = self.console.tools
        if tools is None:
            self.say("JWKS import works on the data directory: start the TUI with "
                     "`scaiflow-box tui` on the appliance's host.")
            return
        readiness = self.snapshot.readiness if self.snapshot else None
        issuer = next((i.issuer for i in readiness.issuers if i.issuer), None) \
            if readiness else None

        def chosen(request: JwksImportRequest | None) -> None:
            if request is None:
                self.say("Cancelled; nothing imported.")
                return
            self.say(f"Importing {request.path}…")
            self.import_jwks(request)

        self.app.push_screen(JwksImportForm(issuer or ""), chosen)

    @work(exclusive=True, group="tool")
    async def import_jwks(self, request: JwksImportRequest) -> None:
        tools = self.console.tools
        if tools is None:
            return
        outcome = await tools.import_jwks(request.path, issuer=request.issuer)
        self.post_message(self.ToolDone(outcome))

    def on_security_screen_tool_done(self, message: ToolDone) -> None:
        outcome = message.outcome
        note = ("A running server uses the imported keys from its next start."
                if outcome.ok else "")
        self.post_message(self.ActionFinished(
            outcome.messages if outcome.ok else "JWKS import refused", None if outcome.ok
            else ToolFailed(outcome.messages), note=note))
