"""Catalog (SPEC §14): the packages the session sees with their version, visibility, author
and the size of their version, and (for a super admin, whose list spans every tenant) their
tenant; the highlighted package's versions; export a version to a `.scaipkg` file, import
one, change who sees a package, delete one. / searches on the appliance; T shows one tenant of
a super admin's list (a filter on the screen: the list route takes no `tenant_id`)."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Label, Static

from tui.catalog_client import PACKAGE_ROUTE
from tui.catalog_models import CatalogPackage, PackageDetail
from tui.client import AdminClient, AdminClientError
from tui.formatting import format_bytes, short_time
from tui.screens.catalog_actions import CatalogActions
from tui.screens.catalog_text import (
    NOT_SERVED,
    WIDE,
    CatalogView,
    Layout,
    package_detail,
    scope_text,
)
from tui.screens.tenant_picker import TenantPickerScreen
from tui.screens.tenant_scoped import TenantScope
from tui.system_models import CATALOG
from tui.widgets.resource_table import ResourceTable

PAGE_SIZE = 100
EVERY_TENANT = "*"  # the picker's "every tenant" (no tenant id has a `*`)


class CatalogScreen(CatalogActions):
    MODE: ClassVar[str] = "catalog"
    TENANT_ROUTE: ClassVar[str] = CATALOG
    HELP: ClassVar[str] = (
        "The packages the session sees (a super admin: every tenant's, T shows one tenant), "
        "the highlighted one's versions below (tab moves there). e exports the highlighted "
        "version (or the latest) as a .scaipkg file, i imports one into the session's tenant "
        "(e.g. from another appliance), v changes who sees a package, x deletes it; / "
        "searches.")
    FILTER_HINT: ClassVar[str] = "search packages (on the appliance) · enter searches · " \
                                 "esc clears"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "export", "Export", id="catalog.export",
                tooltip="Export a package version to a .scaipkg file"),
        Binding("i", "import_package", "Import", id="catalog.import",
                tooltip="Import a .scaipkg file into the session's tenant"),
        Binding("v", "change_visibility", "Visibility", id="catalog.visibility", show=False,
                tooltip="Change who sees the package (its tenant, or groups)"),
        Binding("x", "delete_package", "Delete", id="catalog.delete", show=False,
                tooltip="Delete the package from the catalog"),
        Binding("m", "load_more", "More", id="catalog.load_more", show=False,
                tooltip="Load more packages"),
    ]

    view: reactive[CatalogView | None] = reactive(None, init=False)
    detail: reactive[PackageDetail | None] = reactive(None, init=False)
    search: reactive[str] = reactive("", init=False)

    class Loaded(Message):
        def __init__(self, view: CatalogView, *, append: bool) -> None:
            super().__init__()
            self.view = view
            self.append = append

    class DetailLoaded(Message):
        def __init__(self, detail: PackageDetail) -> None:
            super().__init__()
            self.detail = detail

    class TenantChoices(Message):
        def __init__(self, tenants: list[tuple[str, str]]) -> None:
            super().__init__()
            self.tenants = tenants

    def __init__(self, client: AdminClient) -> None:
        super().__init__(client)
        self.table_layout = Layout(spanning=False, wide=True)

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="scope", markup=False)
        yield ResourceTable(self.table_layout.columns(), id="packages")
        yield Label("Versions", id="versions-title", classes="section", markup=False)
        yield ResourceTable(("Version", "Published at", "Size", "sha256"),
                            id="package-versions")
        yield Static("", id="detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:  # the base class's runs too
        self.packages_table.focus()

    def on_resize(self) -> None:
        if self.table_layout.wide != (self.size.width >= WIDE):
            self.show_packages()

    @property
    def packages_table(self) -> ResourceTable:
        return self.query_one("#packages", ResourceTable)

    @property
    def versions_table(self) -> ResourceTable:
        return self.query_one("#package-versions", ResourceTable)

    @property
    def packages(self) -> tuple[CatalogPackage, ...]:
        """The packages shown: the list, narrowed to the tenant picked with T."""
        listed = self.view.packages if self.view else ()
        chosen = self.scope.chosen
        return listed if chosen is None else tuple(p for p in listed if p.tenant_id == chosen)

    def watch_scope(self) -> None:
        served = self.view is None or self.view.served
        self.query_one("#scope", Static).update(
            scope_text(self.scope, self.search) if served else "")

    # -- loading --------------------------------------------------------------------------------
    async def know_scope(self) -> TenantScope:
        """The session's tenant; switchable (a filter here) when the list spans every tenant,
        i.e. for a super admin. The list route takes no `tenant_id`: the one-package routes
        do, and that decides whether another tenant's row can be acted on."""
        scope = self.scope
        if scope.session is None:
            me = await self.client.me()
            capabilities = await self.console.capabilities()
            self.names_tenant = capabilities is not None and capabilities.takes(
                "GET", PACKAGE_ROUTE, "tenant_id")
            scope = replace(scope, session=me.tenant_id,
                            switchable=me.admin_role == "super_admin")
        return scope

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
                self.post_message(self.Loaded(CatalogView(False), append=False))
                return
            page = await self.client.list_packages(search=self.search or None,
                                                   limit=PAGE_SIZE, cursor=cursor)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.Loaded(CatalogView(True, page.items, page.next_cursor),
                                      append=append))

    def on_catalog_screen_loaded(self, message: Loaded) -> None:
        self.loaded()
        view = message.view
        if message.append and self.view is not None:
            known = {p.key for p in self.view.packages}
            view = CatalogView(True, self.view.packages + tuple(
                p for p in view.packages if p.key not in known), view.next_cursor)
        self.view = view
        self.watch_scope()

    def watch_view(self, view: CatalogView | None) -> None:
        if view is not None:
            self.show_packages()

    def show_packages(self) -> None:
        view = self.view
        if view is None:
            return
        table = self.packages_table
        layout = Layout(spanning=self.scope.switchable, wide=self.size.width >= WIDE)
        if layout != self.table_layout:  # a super admin's list has the Tenant column
            self.table_layout = layout
            table.clear(columns=True)
            table.add_columns(*layout.columns())
        shown = self.packages
        table.replace_rows([(p.key, layout.cells(p)) for p in shown])
        if not view.served:
            self.status_text = NOT_SERVED
        elif not view.packages:
            self.status_text = (f"No packages match “{self.search}”." if self.search else
                                "No packages yet: publish one from the canvas, or "
                                "import a .scaipkg (i).")
        else:
            more = "m loads more" if view.next_cursor else "all shown"
            of = "" if len(shown) == len(view.packages) else \
                f" of {len(view.packages)} listed"
            self.status_text = f"{len(shown)} package(s){of}; {more}."
        self._package_changed()

    def selected_package(self) -> CatalogPackage | None:
        key = self.packages_table.selected_key
        return next((p for p in self.packages if p.key == key), None)

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
        # read again when another package is highlighted or this one got a new version
        known = self.detail
        detail = known if known and (known.package.key, known.package.version) == (
            package.key, package.version) else None
        self.query_one("#detail", Static).update(package_detail(package, detail))
        if detail is None:
            self.load_detail(package)

    @work(exclusive=True, group="detail")
    async def load_detail(self, package: CatalogPackage) -> None:
        try:
            detail = await self.client.get_package(package.package_id,
                                                   tenant_id=self.tenant_param(package))
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.DetailLoaded(detail))

    def on_catalog_screen_detail_loaded(self, message: DetailLoaded) -> None:
        package = self.selected_package()
        if package is None or package.key != message.detail.package.key:
            return
        self.detail = message.detail
        self.versions_table.replace_rows([(v.version, [
            v.version, short_time(v.created_at), format_bytes(v.size_bytes), v.sha256[:16]])
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

    # -- T: one tenant of a super admin's list ---------------------------------------------------
    def action_switch_tenant(self) -> None:
        if not self.scope.switchable:
            self.say(f"The list holds the session's tenant ({self.scope.session or '?'}) only: "
                     "a super admin's spans every tenant, and T shows one of them.")
            return
        self.list_tenant_choices()

    @work(exclusive=True, group="tenants")
    async def list_tenant_choices(self) -> None:
        listed = {p.tenant_id for p in (self.view.packages if self.view else ())
                  if p.tenant_id}
        try:
            tenants = [(t.id, f"{t.id}  {t.name if t.name != t.id else ''}".rstrip())
                       for t in await self.client.list_tenants()]
        except AdminClientError:  # the packages' own tenants are choice enough
            tenants = []
        known = {tenant_id for tenant_id, _ in tenants}
        tenants += [(t, t) for t in sorted(listed - known)]
        self.post_message(self.TenantChoices(
            [(EVERY_TENANT, "every tenant (the whole list)"), *tenants]))

    def on_catalog_screen_tenant_choices(self, message: TenantChoices) -> None:
        def picked(tenant_id: str | None) -> None:
            if tenant_id is None:
                self.say("Cancelled; the same packages are shown.")
                return
            chosen = None if tenant_id == EVERY_TENANT else tenant_id
            self.scope = replace(self.scope, chosen=chosen)
            self.say(f"Showing {chosen}'s packages." if chosen else
                     "Showing every tenant's packages.")
            self.show_packages()

        self.app.push_screen(TenantPickerScreen(
            message.tenants, self.scope.chosen or EVERY_TENANT,
            note="Narrows the list on this screen (the appliance lists every tenant's "
                 "packages to a super admin)."), picked)

    def _served(self) -> bool:
        if self.view is not None and not self.view.served:
            self.say(NOT_SERVED)
            return False
        return True

    def selected_version(self) -> str | None:
        table = self.versions_table
        return table.selected_key if table.has_focus else None
