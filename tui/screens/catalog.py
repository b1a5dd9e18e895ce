"""Catalog (SPEC §14): a tenant's packages with their version, visibility and author; the
highlighted package's versions; export a version to a `.scaipkg` file, import one, delete a
package. / searches on the appliance; T switches tenants (a super admin's `tenant_id`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Label, Static

from tui.catalog_client import MAX_PACKAGE_BYTES
from tui.catalog_models import CatalogPackage, PackageDetail
from tui.client import AdminClientError
from tui.data_dir_tools import ToolFailed
from tui.formatting import format_bytes
from tui.screens.catalog_forms import ExportForm, ImportForm
from tui.screens.confirm import ConfirmScreen
from tui.screens.tenant_scoped import TenantScopedScreen
from tui.system_models import CATALOG
from tui.widgets.resource_table import ResourceTable

PAGE_SIZE = 100
NOT_SERVED = ("This appliance version serves no catalog (no /api/v1/catalog): packages "
              "arrive with a newer version.")


@dataclass(frozen=True)
class CatalogView:
    served: bool
    packages: tuple[CatalogPackage, ...] = ()
    next_cursor: str | None = None


def package_cells(package: CatalogPackage) -> list[str | None]:
    return [package.package_id, package.name, package.version, package.visible_to,
            package.author_email or package.author_id, package.updated_at]


def package_detail(package: CatalogPackage, detail: PackageDetail | None) -> Text:
    text = Text(f"{package.package_id}  {package.name}", style="bold")
    text.append(f" · version {package.version} · visible to {package.visible_to}")
    text.append(f"\nby {package.author_email or package.author_id or '-'} · created "
                f"{package.created_at or '-'} · updated {package.updated_at or '-'}")
    if package.description:
        text.append(f"\n{package.description}")
    if detail is not None and detail.readme:
        text.append(f"\nREADME: {detail.readme.strip().splitlines()[0]}", style="dim")
    return text


class CatalogScreen(TenantScopedScreen):
    MODE: ClassVar[str] = "catalog"
    TENANT_ROUTE: ClassVar[str] = CATALOG
    HELP: ClassVar[str] = (
        "The packages published to a tenant's catalog, the highlighted one's versions below "
        "(tab moves there). e exports the highlighted version (or the latest) as a .scaipkg "
        "file, i imports one (e.g. from another appliance), x deletes a package; / searches.")
    FILTER_HINT: ClassVar[str] = "search packages (on the appliance) · enter searches · " \
                                 "esc clears"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "export", "Export", id="catalog.export",
                tooltip="Export a package version to a .scaipkg file"),
        Binding("i", "import_package", "Import", id="catalog.import",
                tooltip="Import a .scaipkg file into the catalog"),
        Binding("x", "delete_package", "Delete", id="catalog.delete", show=False,
                tooltip="Delete the package from the catalog"),
        Binding("m", "load_more", "More", id="catalog.load_more", show=False,
                tooltip="Load more packages"),
    ]

    view: reactive[CatalogView | None] = reactive(None, init=False)
    detail: reactive[PackageDetail | None] = reactive(None, init=False)
    search: reactive[str] = reactive("", init=False)

    class Loaded(Message):
        def __init__(self, view: CatalogView, tenant: str | None, *, append: bool) -> None:
            super().__init__()
            self.view = view
            self.tenant = tenant
            self.append = append

    class DetailLoaded(Message):
        def __init__(self, detail: PackageDetail) -> None:
            super().__init__()
            self.detail = detail

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="scope", markup=False)
        yield ResourceTable(("Package", "Name", "Version", "Visible to", "Author", "Updated"),
                            id="packages")
        yield Label("Versions", id="versions-title", classes="section", markup=False)
        yield ResourceTable(("Version", "Size", "sha256", "Created"), id="package-versions")
        yield Static("", id="detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:  # the base class's runs too
        self.packages_table.focus()

    @property
    def packages_table(self) -> ResourceTable:
        return self.query_one("#packages", ResourceTable)

    @property
    def versions_table(self) -> ResourceTable:
        return self.query_one("#package-versions", ResourceTable)

    @property
    def packages(self) -> tuple[CatalogPackage, ...]:
        return self.view.packages if self.view else ()

    def watch_scope(self) -> None:
        search = f" · search “{self.search}”" if self.search else ""
        self.query_one("#scope", Static).update(self.scope.describe() + search)

    # -- loading --------------------------------------------------------------------------------
    @work(exclusive=True, group="load")
    async def load(self) -> None:
        await self._fetch(None, append=False)

    @work(exclusive=True, group="load")
    async def load_more_packages(self, cursor: str) -> None:
        await self._fetch(cursor, append=True)

    async def _fetch(self, cursor: str | None, *, append: bool) -> None:
        try:
            scope = await self.know_scope()
            if scope != self.scope:
                self.scope = scope
            capabilities = await self.console.capabilities()
            if capabilities is not None and not capabilities.has("GET", CATALOG):
                self.post_message(self.Loaded(CatalogView(False), scope.current, append=False))
                return
            page = await self.client.list_packages(search=self.search or None,
                                                   limit=PAGE_SIZE, cursor=cursor,
                                                   tenant_id=scope.param)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.Loaded(CatalogView(True, page.items, page.next_cursor),
                                      scope.current, append=append))

    def on_catalog_screen_loaded(self, message: Loaded) -> None:
        if message.tenant != self.scope.current:
            return
        self.loaded()
        view = message.view
        if message.append and self.view is not None:
            known = {p.package_id for p in self.view.packages}
            view = CatalogView(True, self.view.packages + tuple(
                p for p in view.packages if p.package_id not in known), view.next_cursor)
        self.view = view
        self.watch_scope()

    def watch_view(self, view: CatalogView | None) -> None:
        if view is None:
            return
        self.packages_table.replace_rows([(p.package_id, package_cells(p))
                                          for p in view.packages])
        if not view.served:
            self.status_text = NOT_SERVED
        elif not view.packages:
            self.status_text = (f"No packages match “{self.search}”." if self.search else
                                "No packages in this tenant's catalog yet: publish one from "
                                "the canvas, or import a .scaipkg (i).")
        else:
            more = "m loads more" if view.next_cursor else "all shown"
            self.status_text = f"{len(view.packages)} package(s); {more}."
        self._package_changed()

    def selected_package(self) -> CatalogPackage | None:
        key = self.packages_table.selected_key
        return next((p for p in self.packages if p.package_id == key), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "packages":
            self._package_changed()

    def _package_changed(self) -> None:
        package = self.selected_package()
        if package is None:
            self.detail = None
            self.versions_table.replace_rows([])
            self.query_one("#versions-title", Label).update("Versions")
            self.query_one("#detail", Static).update("")
            return
        self.query_one("#detail", Static).update(package_detail(package, None))
        if self.detail is None or self.detail.package.package_id != package.package_id:
            self.load_detail(package.package_id)

    @work(exclusive=True, group="detail")
    async def load_detail(self, package_id: str) -> None:
        try:
            detail = await self.client.get_package(package_id, tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.DetailLoaded(detail))

    def on_catalog_screen_detail_loaded(self, message: DetailLoaded) -> None:
        package = self.selected_package()
        if package is None or package.package_id != message.detail.package.package_id:
            return
        self.detail = message.detail
        self.versions_table.replace_rows([(v.version, [
            v.version, format_bytes(v.size_bytes), v.sha256[:16], v.created_at])
            for v in message.detail.versions])
        self.query_one("#versions-title", Label).update(
            f"Versions of {package.package_id}: {len(message.detail.versions)}")
        self.query_one("#detail", Static).update(package_detail(package, message.detail))

    # -- search and paging ----------------------------------------------------------------------
    def apply_filter(self, text: str, *, final: bool) -> None:
        if not final or text.strip() == self.search:
            return
        self.search = text.strip()
        self.filter_note = f"search “{self.search}”" if self.search else ""
        self.status_text = "Searching…"
        self.reload()

    def action_load_more(self) -> None:
        if self.view is None or self.view.next_cursor is None:
            self.say("All packages are shown." if self.packages else "No packages to load.")
            return
        self.load_more_packages(self.view.next_cursor)

    def tenant_changed(self) -> None:
        self.view = CatalogView(True)
        super().tenant_changed()

    def _served(self) -> bool:
        if self.view is not None and not self.view.served:
            self.say(NOT_SERVED)
            return False
        return True

    # -- export -----------------------------------------------------------------------------------
    def action_export(self) -> None:
        package = self.selected_package()
        if not self._served():
            return
        if package is None:
            self.say("Select a package first.")
            return
        version = package.version
        if self.versions_table.has_focus and self.versions_table.selected_key:
            version = self.versions_table.selected_key

        def chosen(path: str | None) -> None:
            if path is None:
                self.say("Cancelled; nothing exported.")
            else:
                self.export(package, version, path)

        self.app.push_screen(ExportForm(package.package_id, version), chosen)

    @work(exclusive=True, group="action")
    async def export(self, package: CatalogPackage, version: str, path: str) -> None:
        try:
            data = await self.client.download_package(package.package_id, version,
                                                      tenant_id=self.scope.param)
            await asyncio.to_thread(write_new_file, Path(path), data)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"Could not export {package.package_id} {version}", exc))
            return
        except OSError as exc:
            self.post_message(self.ActionFinished(
                f"Could not write {path}", ToolFailed(exc.strerror or str(exc))))
            return
        self.post_message(self.ActionFinished(
            f"Exported {package.package_id} {version} to {path} ({format_bytes(len(data))})."))

    # -- import -----------------------------------------------------------------------------------
    def action_import_package(self) -> None:
        if not self._served():
            return

        def chosen(path: str | None) -> None:
            if path is None:
                self.say("Cancelled; nothing imported.")
            else:
                self.import_file(path)

        self.app.push_screen(ImportForm(), chosen)

    @work(exclusive=True, group="action")
    async def import_file(self, path: str) -> None:
        try:
            data = await asyncio.to_thread(read_package, Path(path))
            package = await self.client.import_package(data, tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(f"Could not import {path}", exc))
            return
        except OSError as exc:
            self.post_message(self.ActionFinished(
                f"Could not read {path}", ToolFailed(exc.strerror or str(exc))))
            return
        self.post_message(self.ActionFinished(
            f"Imported {package.package_id} version {package.version} into "
            f"{self.scope.current}."))

    # -- delete -----------------------------------------------------------------------------------
    def action_delete_package(self) -> None:
        package = self.selected_package()
        if not self._served():
            return
        if package is None:
            self.say("Select a package first.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_package(package)
            else:
                self.say("Cancelled; nothing changed.")

        self.app.push_screen(ConfirmScreen(
            f"Delete {package.package_id} ({package.name}) from the catalog?\nNobody can "
            "install it from then on; importing its file again brings it back.",
            confirm_label="Delete"), answered)

    @work(exclusive=True, group="action")
    async def delete_package(self, package: CatalogPackage) -> None:
        try:
            await self.client.delete_package(package.package_id, tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"Could not delete {package.package_id}", exc))
            return
        self.post_message(self.ActionFinished(f"Deleted {package.package_id}."))


def write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to a file that must not exist yet (the form checked; this holds it)."""
    with path.open("xb") as out:
        out.write(data)


def read_package(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_PACKAGE_BYTES:
        raise OSError(f"{path} is {format_bytes(size)}: packages are at most "
                      f"{format_bytes(MAX_PACKAGE_BYTES)}")
    return path.read_bytes()
