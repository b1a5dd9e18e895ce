"""One flow (SPEC §3, §4): its versions (view one, a readable diff between two, restore one as
a new version), its explicit grants (add, change, revoke) and its current content. Opened
from Flows with enter; escape goes back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static, TabbedContent, TabPane, TextArea

from tui.client import AdminClient, AdminClientError
from tui.flow_models import Acl, FlowDetail, FlowVersion, TenantFlow, diff_lines
from tui.formatting import format_bytes
from tui.screens.acl_forms import AclForm, AclLevelForm, AclRequest
from tui.screens.base import ApiScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.flows_text import compiled_text, validation_text
from tui.screens.tenant_scoped import TenantScope
from tui.screens.text_viewer import TextViewerScreen
from tui.widgets.resource_table import ResourceTable

VERSIONS_SHOWN = 100


@dataclass(frozen=True)
class FlowView:
    detail: FlowDetail
    versions: tuple[FlowVersion, ...]
    more_versions: bool
    grants: tuple[Acl, ...]
    grants_problem: str | None = None


def version_key(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return ()


def version_cells(version: FlowVersion, marked: str | None) -> list[str | None]:
    mark = "◆ " if version.version == marked else ""
    return [mark + version.version, version.created_at, version.created_by,
            format_bytes(version.size_bytes), version.sha256[:12]]


def grant_cells(acl: Acl) -> list[str | None]:
    return [acl.principal_id, acl.principal_type, acl.level, acl.granted_by, acl.granted_at,
            acl.id]


def head_text(flow: TenantFlow, view: FlowView | None, tenant: str | None) -> Text:
    text = Text(flow.name, style="bold")
    version = view.detail.version if view else flow.version
    text.append(f"  {flow.id} · version {version} · tenant {tenant or '-'}")
    owner = flow.owner_id + (f" ({flow.owner_email})" if flow.owner_email else "")
    text.append(f"\nowner {owner or '-'} (implicit admin) · esc back to the flows",
                style="dim")
    return text


class FlowDetailScreen(ApiScreen):
    MODE: ClassVar[str] = "flows"
    HELP: ClassVar[str] = (
        "One flow. Versions: enter shows a version's content; space marks a version, D shows "
        "what changed between the marked and the highlighted one (without a mark: since the "
        "version before); R restores the highlighted version as a new one. Grants: a adds, e "
        "changes the level, x revokes (the owner and admins need none). Content: the current "
        "version's FlowGraph.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="flow.back", tooltip="Back to the flows"),
        Binding("space", "mark_version", "Mark", id="flow.mark_version", show=False,
                tooltip="Mark the version to diff against"),
        Binding("D", "diff_versions", "Diff", id="flow.diff_versions",
                tooltip="Diff two versions of the flow"),
        Binding("R", "restore_version", "Restore", id="flow.restore_version",
                tooltip="Restore a version of the flow as a new version"),
        Binding("a", "add_grant", "Grant", id="flow.add_grant",
                tooltip="Grant a user or group access to the flow"),
        Binding("e", "change_grant", "Level", id="flow.change_grant", show=False,
                tooltip="Change the level of a grant"),
        Binding("x", "revoke_grant", "Revoke", id="flow.revoke_grant", show=False,
                tooltip="Revoke a grant"),
        Binding("v", "validate", "Validate", id="flow.validate", show=False,
                tooltip="Validate the opened flow"),
        Binding("c", "compile", "Compile", id="flow.compile", show=False,
                tooltip="Compile the opened flow to YAML"),
    ]

    view: reactive[FlowView | None] = reactive(None, init=False)
    marked: reactive[str | None] = reactive(None, init=False)

    class Loaded(Message):
        def __init__(self, view: FlowView) -> None:
            super().__init__()
            self.view = view

    class Shown(Message):
        def __init__(self, title: str, text: str) -> None:
            super().__init__()
            self.title = title
            self.text = text

    def __init__(self, client: AdminClient, flow: TenantFlow, scope: TenantScope) -> None:
        super().__init__(client)
        self.flow = flow
        self.scope = scope

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static(head_text(self.flow, None, self.scope.current), id="flow-head")
        with TabbedContent(id="flow-tabs"):
            with TabPane("Versions", id="versions-tab"):
                yield ResourceTable(("Version", "Created", "By", "Size", "sha256"),
                                    id="versions")
            with TabPane("Grants", id="grants-tab"):
                yield ResourceTable(("Principal", "Type", "Level", "Granted by", "At", "ID"),
                                    id="grants")
            with TabPane("Content", id="content-tab"):
                yield TextArea("", id="content", read_only=True, show_line_numbers=True)
        yield from self.compose_bottom()

    def on_mount(self) -> None:  # the base class's runs too
        self.versions_table.focus()

    @property
    def versions_table(self) -> ResourceTable:
        return self.query_one("#versions", ResourceTable)

    @property
    def grants_table(self) -> ResourceTable:
        return self.query_one("#grants", ResourceTable)

    def focus_main(self) -> None:
        self.versions_table.focus()

    def action_back(self) -> None:
        self.dismiss(None)

    # -- loading --------------------------------------------------------------------------------
    @work(exclusive=True, group="load")
    async def load(self) -> None:
        tenant = self.scope.param
        try:
            detail = await self.client.get_flow(self.flow.id, tenant_id=tenant)
            page = await self.client.list_versions(self.flow.id, limit=VERSIONS_SHOWN,
                                                   tenant_id=tenant)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        grants: tuple[Acl, ...] = ()
        problem: str | None = None
        try:
            grants = tuple(await self.client.list_acls(self.flow.id, tenant_id=tenant))
        except AdminClientError as exc:
            problem = str(exc)
        self.post_message(self.Loaded(FlowView(detail, page.items, page.next_cursor is not None,
                                               grants, problem)))

    def on_flow_detail_screen_loaded(self, message: Loaded) -> None:
        self.loaded()
        self.view = message.view

    def watch_view(self, view: FlowView | None) -> None:
        if view is None:
            return
        self.query_one("#flow-head", Static).update(head_text(self.flow, view,
                                                              self.scope.current))
        self._show_versions()
        self.grants_table.replace_rows([(a.id, grant_cells(a)) for a in view.grants])
        content = self.query_one("#content", TextArea)
        text = json.dumps(dict(view.detail.content), indent=2, ensure_ascii=False)
        if content.text != text:
            content.load_text(text)
        more = f" (the newest {VERSIONS_SHOWN})" if view.more_versions else ""
        grants = view.grants_problem or f"{len(view.grants)} explicit grant(s)"
        self.status_text = f"{len(view.versions)} version(s){more}; {grants}."

    def watch_marked(self) -> None:
        self._show_versions()

    def _show_versions(self) -> None:
        versions = self.view.versions if self.view else ()
        self.versions_table.replace_rows(
            [(v.version, version_cells(v, self.marked)) for v in versions])

    def selected_version(self) -> FlowVersion | None:
        key = self.versions_table.selected_key
        versions = self.view.versions if self.view else ()
        return next((v for v in versions if v.version == key), None)

    def selected_grant(self) -> Acl | None:
        key = self.grants_table.selected_key
        grants = self.view.grants if self.view else ()
        return next((a for a in grants if a.id == key), None)

    def _on_tab(self, tab: str) -> None:
        self.query_one("#flow-tabs", TabbedContent).active = tab

    # -- versions -------------------------------------------------------------------------------
    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "versions":
            version = self.selected_version()
            if version is not None:
                self.show_version(version.version)

    @work(exclusive=True, group="show")
    async def show_version(self, version: str) -> None:
        try:
            content = await self.client.get_version(self.flow.id, version,
                                                    tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(f"Could not read version {version}", exc))
            return
        self.post_message(self.Shown(
            f"{self.flow.name} {version} (saved {content.created_at} by {content.created_by})",
            json.dumps(dict(content.content), indent=2, ensure_ascii=False)))

    def on_flow_detail_screen_shown(self, message: Shown) -> None:
        self.app.push_screen(TextViewerScreen(message.title, message.text))

    def action_mark_version(self) -> None:
        version = self.selected_version()
        if version is None:
            self.say("Highlight a version on the Versions tab first.")
            return
        self.marked = None if self.marked == version.version else version.version
        self.say(f"Marked {version.version}: highlight another and press D." if self.marked
                 else "Mark removed.")

    def action_diff_versions(self) -> None:
        version = self.selected_version()
        if version is None:
            self.say("Highlight a version on the Versions tab first.")
            return
        against = self.marked if self.marked != version.version else None
        newer, older = version.version, against
        if older is not None and version_key(older) > version_key(newer):
            newer, older = older, newer
        self.say(f"Comparing {older or 'the version before'} with {newer}…")
        self.diff(newer, older)

    @work(exclusive=True, group="show")
    async def diff(self, version: str, against: str | None) -> None:
        try:
            diff = await self.client.diff_versions(self.flow.id, version, against=against,
                                                   tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(f"Could not diff version {version}", exc))
            return
        self.post_message(self.Shown(f"{self.flow.name}: what changed from {diff.from_} to "
                                     f"{diff.to}", "\n".join(diff_lines(diff))))

    def action_restore_version(self) -> None:
        version = self.selected_version()
        current = self.view.detail.version if self.view else None
        if version is None:
            self.say("Highlight a version on the Versions tab first.")
            return
        if version.version == current:
            self.say(f"{version.version} is the current version already.")
            return
        self._confirm(f"Restore {self.flow.name} {version.version}?\nIts content is saved as "
                      f"a new version after {current}; no version is lost.", "Restore",
                      lambda: self.restore_version(version.version))

    @work(exclusive=True, group="action")
    async def restore_version(self, version: str) -> None:
        try:
            detail = await self.client.restore_version(self.flow.id, version,
                                                       tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(f"Could not restore {version}", exc))
            return
        self.post_message(self.ActionFinished(
            f"Restored {version} as the new version {detail.version}."))

    # -- grants ---------------------------------------------------------------------------------
    def action_add_grant(self) -> None:
        self._on_tab("grants-tab")

        def chosen(request: AclRequest | None) -> None:
            if request is None:
                self.say("Cancelled; no grant added.")
            else:
                self.add_grant(request)

        self.app.push_screen(AclForm(self.flow.name), chosen)

    @work(exclusive=True, group="action")
    async def add_grant(self, request: AclRequest) -> None:
        try:
            await self.client.create_acl(self.flow.id, principal_type=request.principal_type,
                                         principal_id=request.principal_id,
                                         level=request.level, tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"Could not grant {request.level} to {request.principal_id}", exc))
            return
        self.post_message(self.ActionFinished(
            f"Granted {request.level} on {self.flow.name} to {request.principal_type} "
            f"{request.principal_id}."))

    def _grant_or_say(self) -> Acl | None:
        grant = self.selected_grant()
        if grant is None:
            self._on_tab("grants-tab")
            self.say("Highlight a grant on the Grants tab first." if self.view and
                     self.view.grants else "This flow has no explicit grants.")
        return grant

    def action_change_grant(self) -> None:
        grant = self._grant_or_say()
        if grant is None:
            return

        def chosen(level: str | None) -> None:
            if level is None or level == grant.level:
                self.say("Level unchanged.")
            else:
                self.change_grant(grant, level)

        self.app.push_screen(AclLevelForm(grant.principal_id, grant.level), chosen)

    @work(exclusive=True, group="action")
    async def change_grant(self, grant: Acl, level: str) -> None:
        try:
            await self.client.change_acl(self.flow.id, grant.id, level=level,
                                         tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"Could not change the grant of {grant.principal_id}", exc))
            return
        self.post_message(self.ActionFinished(
            f"{grant.principal_id} now has {level} on {self.flow.name}."))

    def action_revoke_grant(self) -> None:
        grant = self._grant_or_say()
        if grant is None:
            return
        self._confirm(f"Revoke {grant.principal_type} {grant.principal_id}'s {grant.level} "
                      f"on {self.flow.name}?", "Revoke", lambda: self.revoke_grant(grant))

    @work(exclusive=True, group="action")
    async def revoke_grant(self, grant: Acl) -> None:
        try:
            await self.client.delete_acl(self.flow.id, grant.id, tenant_id=self.scope.param)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(
                f"Could not revoke the grant of {grant.principal_id}", exc))
            return
        self.post_message(self.ActionFinished(
            f"Revoked {grant.principal_id}'s {grant.level} on {self.flow.name}."))

    # -- validate and compile -------------------------------------------------------------------
    def action_validate(self) -> None:
        self.check(compile_it=False)

    def action_compile(self) -> None:
        self.check(compile_it=True)

    @work(exclusive=True, group="show")
    async def check(self, *, compile_it: bool) -> None:
        if self.view is None:
            return
        detail = self.view.detail
        try:
            if compile_it:
                text = compiled_text(await self.client.compile_content(detail.content))
            else:
                text = validation_text(detail.name, detail.version,
                                       await self.client.validate_content(detail.content))
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(f"Could not check {detail.name}", exc))
            return
        what = "the YAML manifest" if compile_it else "validation"
        self.post_message(self.Shown(f"{detail.name} {detail.version}: {what}", text))

    def _confirm(self, question: str, label: str, then: Callable[[], object]) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                then()
            else:
                self.say("Cancelled; nothing changed.")

        self.app.push_screen(ConfirmScreen(question, confirm_label=label), answered)
