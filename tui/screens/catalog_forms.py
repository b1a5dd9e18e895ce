"""The forms of the Catalog: where to write an exported `.scaipkg`, which file to import, and
who sees a package (a form that asks the appliance itself and shows its refusal inline)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from tui.catalog_models import CatalogPackage
from tui.client import AdminClient, AdminClientError, ApiError
from tui.screens.form import Field, FormError, FormScreen, existing_file, new_file, one_of

VISIBILITIES = ("tenant", "groups")


class ExportForm(FormScreen[str]):
    HINT = ("The version's .scaipkg exactly as stored (its sha256 is on the screen); carry it "
            "to another appliance and import it there.")
    SUBMIT_LABEL = "Export"

    def __init__(self, package_id: str, version: str, tenant_id: str = "") -> None:
        super().__init__()
        self.package_id = package_id
        self.version = version
        self.tenant_id = tenant_id

    def title_text(self) -> str:
        of = f" of {self.tenant_id}" if self.tenant_id else ""
        return f"Export {self.package_id} {self.version}{of}"

    def fields(self) -> list[Field]:
        return [Field("file", "Save as", "a new file",
                      f"{self.package_id}-{self.version}.scaipkg")]

    def build(self, values: Mapping[str, str]) -> str:
        return new_file("file", values["file"])


class ImportForm(FormScreen[str]):
    HINT = ("Always into the session's tenant (named above), whichever tenant the file came "
            "from or the table shows: the appliance imports into the caller's own tenant. It "
            "checks the archive, validates and compiles the flow again, and adds the package "
            "or its version.")
    SUBMIT_LABEL = "Import"

    def __init__(self, session_tenant: str | None) -> None:
        super().__init__()
        self.session_tenant = session_tenant

    def title_text(self) -> str:
        tenant = self.session_tenant or "the session's tenant"
        return f"Import a .scaipkg into {tenant}"

    def fields(self) -> list[Field]:
        return [Field("file", "File", "e.g. ~/support-agent-0.1.0.scaipkg")]

    def build(self, values: Mapping[str, str]) -> str:
        return existing_file("file", values["file"])


def parse_visibility(visibility: str, groups: str) -> tuple[str, list[str]]:
    """The form's two fields as the route's body; what the appliance would refuse as
    invalid_visibility is said here first (the ids themselves are the appliance's to check)."""
    visibility = one_of("visibility", "Visible to", visibility.strip().lower(), VISIBILITIES)
    ids = [part.strip() for part in groups.split(",") if part.strip()]
    if visibility == "groups" and not ids:
        raise FormError("groups", "Group ids: at least one for groups (comma-separated).")
    if visibility == "tenant" and ids:
        raise FormError("groups", "Group ids: leave empty for tenant (every member sees it).")
    return visibility, ids


class VisibilityForm(ModalScreen[CatalogPackage | None]):
    """Sends `PUT /catalog/{id}/visibility` itself and stays open on a refusal (the
    appliance's 400/422 shown under the fields); dismisses with the changed package, or
    None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="visibility.cancel"),
        Binding("ctrl+s", "submit", "Save", id="visibility.submit"),
    ]

    class Changed(Message):
        def __init__(self, package: CatalogPackage) -> None:
            super().__init__()
            self.package = package

    class Failed(Message):
        def __init__(self, error: AdminClientError) -> None:
            super().__init__()
            self.error = error

    def __init__(self, client: AdminClient, package: CatalogPackage,
                 tenant_id: str | None) -> None:
        """`tenant_id`: the super admin's parameter for another tenant's package, else None."""
        super().__init__()
        self.client = client
        self.package = package
        self.tenant_id = tenant_id

    def compose(self) -> ComposeResult:
        package = self.package
        of = f" of {package.tenant_id}" if package.tenant_id else ""
        with Vertical(id="dialog", classes="dialog form"):
            yield Static(f"Who sees {package.package_id}{of}? (now {package.visible_to})",
                         classes="title", markup=False)
            with Grid(id="fields"):
                yield Label("Visible to")
                yield Input(package.visibility if package.visibility in VISIBILITIES
                            else "tenant", id="visibility", placeholder="tenant or groups",
                            compact=True)
                yield Label("Group ids")
                yield Input(", ".join(package.visibility_group_ids), id="groups",
                            placeholder="for groups: grp_a, grp_b", compact=True)
            yield Static("tenant: every member of the package's tenant; groups: members of "
                         "those groups of its tenant (the author and admins always see it). "
                         "Enter or ctrl+s saves.", classes="hint", markup=False)
            yield Static("", id="form-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#visibility", Input).focus()

    def _show_error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(text)

    @on(Button.Pressed, "#save")
    @on(Input.Submitted)
    def action_submit(self) -> None:
        try:
            visibility, ids = parse_visibility(self.query_one("#visibility", Input).value,
                                               self.query_one("#groups", Input).value)
        except FormError as exc:
            self._show_error(str(exc))
            self.query_one(f"#{exc.field_id}", Input).focus()
            return
        self._show_error("Saving…")
        self.query_one("#save", Button).disabled = True
        self.save(visibility, ids)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="save")
    async def save(self, visibility: str, group_ids: list[str]) -> None:
        try:
            package = await self.client.set_package_visibility(
                self.package.package_id, visibility, group_ids, tenant_id=self.tenant_id)
        except AdminClientError as exc:
            self.post_message(self.Failed(exc))
            return
        self.post_message(self.Changed(package))

    def on_visibility_form_changed(self, message: Changed) -> None:
        self.dismiss(message.package)

    def on_visibility_form_failed(self, message: Failed) -> None:
        self.query_one("#save", Button).disabled = False
        self._show_error(f"Not changed: {message.error}")
        error = message.error
        about_groups = isinstance(error, ApiError) and (
            "group" in f"{error.code} {error.message}")
        self.query_one("#groups" if about_groups else "#visibility", Input).focus()
