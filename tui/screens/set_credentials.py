"""The form that sets (or rotates) a tenant's ScaiGrid credentials through
`POST /api/v1/admin/tenants/{tenant_id}/scaigrid_credentials` (SPEC §8, §12).

The API key is typed into a password field and sent in the request body only: it is never
shown back, never put in a message, a notification or the dismiss result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui.client import AdminClient, AdminClientError, ApiError, Tenant

HINT = ("The key is stored encrypted and never shown again; saving replaces the tenant's "
        "current key. Base URL: empty uses the appliance's SCAIGRID_BASE_URL. Enter or ctrl+s "
        "saves.")


@dataclass(frozen=True)
class CredentialsSaved:
    """What was stored (never the key)."""

    tenant_id: str
    base_url: str | None


def title_for(tenant: Tenant, *, rotate: bool) -> str:
    credentials = tenant.credentials
    if not rotate:
        return f"Set ScaiGrid credentials for {tenant.id}"
    if not credentials.readable:
        return f"Replace the unreadable ScaiGrid credentials of {tenant.id}"
    return f"Rotate the ScaiGrid key of {tenant.id} (now {credentials.masked_key or '…'})"


class SetCredentialsScreen(ModalScreen[CredentialsSaved | None]):
    """Dismisses with what was saved, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="credentials.cancel"),
        Binding("ctrl+s", "submit", "Save", id="credentials.submit"),
    ]

    class Saved(Message):
        def __init__(self, saved: CredentialsSaved) -> None:
            super().__init__()
            self.saved = saved

    class Failed(Message):
        def __init__(self, error: AdminClientError) -> None:
            super().__init__()
            self.error = error

    def __init__(self, client: AdminClient, tenant: Tenant, *, rotate: bool = False) -> None:
        super().__init__()
        self.client = client
        self.tenant = tenant
        self.rotate = rotate

    def compose(self) -> ComposeResult:
        # Only the tenant's own base URL: saving the appliance's fallback would pin it.
        credentials = self.tenant.credentials
        base_url = (credentials.base_url or "") if (self.rotate and credentials.base_url_stored
                                                    ) else ""
        with Vertical(id="dialog", classes="dialog form"):
            yield Static(title_for(self.tenant, rotate=self.rotate), classes="title",
                         markup=False)
            with Grid(id="fields"):
                yield Label("API key")
                yield Input(id="api_key", password=True, compact=True,
                            placeholder="the tenant's ScaiGrid API key")
                yield Label("Base URL")
                yield Input(base_url, id="base_url", compact=True,
                            placeholder="optional, e.g. https://scaigrid.example.com")
            yield Static(HINT, classes="hint")
            yield Static("", id="form-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#api_key", Input).focus()

    def _show_error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(text)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def action_submit(self) -> None:
        api_key = self.query_one("#api_key", Input).value.strip()
        if not api_key:
            self._show_error("API key: required.")
            self.query_one("#api_key", Input).focus()
            return
        base_url = self.query_one("#base_url", Input).value.strip() or None
        self._show_error("Saving…")
        self.query_one("#save", Button).disabled = True
        self.save(api_key, base_url)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    # An explicit description: the default one is built from the arguments' reprs, and
    # Textual logs workers (and tests print them), so it would carry the key.
    @work(exclusive=True, group="save", description="save ScaiGrid credentials")
    async def save(self, api_key: str, base_url: str | None) -> None:
        try:
            await self.client.set_scaigrid_credentials(self.tenant.id, api_key=api_key,
                                                       base_url=base_url)
        except AdminClientError as exc:
            self.post_message(self.Failed(exc))
            return
        self.post_message(self.Saved(CredentialsSaved(self.tenant.id, base_url)))

    def on_set_credentials_screen_saved(self, message: Saved) -> None:
        self.dismiss(message.saved)

    def on_set_credentials_screen_failed(self, message: Failed) -> None:
        self.query_one("#save", Button).disabled = False
        self._show_error(f"Not saved: {message.error}")
        error = message.error
        if isinstance(error, ApiError) and "base_url" in f"{error.code} {error.message}":
            self.query_one("#base_url", Input).focus()
        else:
            self.query_one("#api_key", Input).focus()
