"""What the operator does to a catalog package (the Catalog screen's actions): export a
version to a file, import a file into the session's tenant, change who sees a package, delete
one. A super admin's row of another tenant is named by its `tenant_id`; an import always goes
into the session's tenant (the route takes no tenant)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual import work

from tui.catalog_models import CatalogPackage
from tui.client import AdminClientError
from tui.data_dir_tools import ToolFailed
from tui.formatting import format_bytes
from tui.screens.catalog_forms import ExportForm, ImportForm, VisibilityForm
from tui.screens.catalog_text import read_package, write_new_file
from tui.screens.confirm import ConfirmScreen
from tui.screens.tenant_scoped import TenantScopedScreen


class CatalogActions(TenantScopedScreen):
    """The actions; `CatalogScreen` supplies the tables they read."""

    names_tenant: bool = False
    """The appliance takes a super admin's `tenant_id` on the routes of one package."""

    def selected_package(self) -> CatalogPackage | None:
        raise NotImplementedError

    def selected_version(self) -> str | None:
        """The version highlighted in the versions pane, when it has the focus."""
        raise NotImplementedError

    def _served(self) -> bool:
        raise NotImplementedError

    def tenant_param(self, package: CatalogPackage) -> str | None:
        """The `tenant_id` to name `package` by: its tenant when it is not the session's."""
        tenant = package.tenant_id
        return tenant if tenant and tenant != self.scope.session else None

    def _target(self) -> CatalogPackage | None:
        """The highlighted package, when one can be acted on."""
        package = self.selected_package()
        if not self._served():
            return None
        if package is None:
            self.say("Select a package first.")
            return None
        if self.tenant_param(package) and not self.names_tenant:
            self.say(f"{package.package_id} is {package.tenant_id}'s: this appliance takes no "
                     "tenant_id on the package routes, so only the session's tenant's "
                     "packages can be acted on.")
            return None
        return package

    # -- export -----------------------------------------------------------------------------------
    def action_export(self) -> None:
        package = self._target()
        if package is None:
            return
        version = self.selected_version() or package.version

        def chosen(path: str | None) -> None:
            if path is None:
                self.say("Cancelled; nothing exported.")
            else:
                self.export(package, version, path)

        self.app.push_screen(ExportForm(package.package_id, version,
                                        self.tenant_param(package) or ""), chosen)

    @work(exclusive=True, group="action")
    async def export(self, package: CatalogPackage, version: str, path: str) -> None:
        try:
            data = await self.client.download_package(package.package_id, version,
                                                      tenant_id=self.tenant_param(package))
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

        self.app.push_screen(ImportForm(self.scope.session), chosen)

    @work(exclusive=True, group="action")
    async def import_file(self, path: str) -> None:
        try:
            data = await asyncio.to_thread(read_package, Path(path))
            package = await self.client.import_package(data)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(f"Could not import {path}", exc))
            return
        except OSError as exc:
            self.post_message(self.ActionFinished(
                f"Could not read {path}", ToolFailed(exc.strerror or str(exc))))
            return
        self.post_message(self.ActionFinished(
            f"Imported {package.package_id} version {package.version} into "
            f"{package.tenant_id or self.scope.session}."))

    # -- visibility -------------------------------------------------------------------------------
    def action_change_visibility(self) -> None:
        package = self._target()
        if package is None:
            return

        def changed(result: CatalogPackage | None) -> None:
            if result is None:
                self.say("Cancelled; nothing changed.")
            else:
                self.post_message(self.ActionFinished(
                    f"{result.package_id} is visible to {result.visible_to}."))

        self.app.push_screen(VisibilityForm(self.client, package, self.tenant_param(package)),
                             changed)

    # -- delete -----------------------------------------------------------------------------------
    def action_delete_package(self) -> None:
        package = self._target()
        if package is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.delete_package(package)
            else:
                self.say("Cancelled; nothing changed.")

        of = f" of {package.tenant_id}" if self.tenant_param(package) else ""
        self.app.push_screen(ConfirmScreen(
            f"Delete {package.package_id} ({package.name}){of} from the catalog?\nNobody can "
            "install it from then on; importing its file again brings it back.",
            confirm_label="Delete"), answered)

    @work(exclusive=True, group="action")
    async def delete_package(self, package: CatalogPackage) -> None:
        try:
            await self.client.delete_package(package.package_id,
                                              tenant_id=self.tenant_param(package))
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"Could not delete {package.package_id}", exc))
            return
        self.post_message(self.ActionFinished(f"Deleted {package.package_id}."))
