"""Users, groups and the directory sync (SPEC §12): users and the mirrored groups filtered by
tenant (and users by group), admin role grant/revoke, and "sync now" with its counters."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Label, Static

from tui.client import (
    LIST_MOST,
    AdminClient,
    AdminClientError,
    ApiError,
    Group,
    SyncResult,
    User,
)
from tui.directory_models import counters_lines, users_method_text
from tui.screens.base import ApiScreen
from tui.screens.confirm import ConfirmScreen
from tui.widgets.resource_table import ResourceTable

SCAIKEY_SETTINGS = ("SCAIKEY_BASE_URL, SCAIFLOW_SCAIKEY_CLIENT_ID and "
                    "SCAIFLOW_SCAIKEY_CLIENT_SECRET")
LIST_LIMIT = LIST_MOST  # the most users (and groups) the screen reads, page by page
SYNC_QUESTION = (
    "Sync users, groups and memberships from ScaiKey now?\n"
    "What ScaiKey no longer lists is soft-deleted (a later sync restores it); members of "
    "SCAIFLOW_SUPER_ADMIN_GROUPS are elected super admin again. Manual and bootstrap roles are "
    "never touched.")


@dataclass(frozen=True)
class Filters:
    """What the screen lists: None is "all"."""

    tenant_id: str | None = None
    group_id: str | None = None
    include_deleted: bool = False


def user_cells(user: User) -> list[str | None]:
    status = f"{user.status} (deleted)" if user.deleted_at else user.status
    return [user.id, user.tenant_id, user.email, user.display_name, status,
            user.admin_role, user.admin_role_source]


def user_detail(user: User, session_sub: str | None) -> Text:
    text = Text(user.id, style="bold")
    if user.id == session_sub:
        text.append("  (the account this TUI signs in as)", style="italic")
    text.append(f"\ntenant {user.tenant_id} · status {user.status}")
    if user.deleted_at:
        text.append(f" · soft-deleted {user.deleted_at}", style="red")
    text.append(f" · last synced from ScaiKey {user.last_synced_at or 'never'}")
    text.append(f"\nemail: {user.email or '-'}\nname:  {user.display_name or '-'}")
    role = f"{user.admin_role} (source {user.admin_role_source})" if user.admin_role else "none"
    text.append(f"\nadmin role: {role}")
    return text


def group_cells(group: Group) -> list[str | None]:
    return [group.id, group.tenant_id, group.name, str(group.member_count),
            "yes" if group.super_admin_group else None, group.last_synced_at,
            group.deleted_at]


def group_detail(group: Group, *, filtered: bool) -> Text:
    text = Text(group.id, style="bold")
    if group.name and group.name != group.id:
        text.append(f"  {group.name}")
    text.append(f"\ntenant {group.tenant_id} · {group.member_count} live member(s)")
    if group.super_admin_group:
        text.append(" · super-admin group (SCAIFLOW_SUPER_ADMIN_GROUPS)", style="yellow")
    if group.deleted_at:
        text.append(f" · soft-deleted {group.deleted_at}", style="red")
    text.append(f"\ncreated {group.created_at or '-'} · last synced from ScaiKey "
                f"{group.last_synced_at or 'never'}")
    text.append("\nenter or g: " + ("show every user again" if filtered
                                    else "show only its members"), style="italic")
    return text


def sync_result_text(result: SyncResult) -> str:
    head = (f"Directory synced in {result.duration_seconds:.2f} s via "
            f"{users_method_text(result.users_method)}.")
    return "\n".join((head, *counters_lines(result)))


def sync_failure_note(error: AdminClientError) -> str:
    if isinstance(error, ApiError):
        if error.status == 502:
            return "Nothing was changed: users keep signing in against the mirror as it is."
        return ""
    return ("The appliance did not answer: the sync may still be running; the Dashboard (1) "
            "shows the last sync once it ends.")


class UsersScreen(ApiScreen):
    MODE: ClassVar[str] = "users"
    HELP: ClassVar[str] = (
        "Users and groups as mirrored from ScaiKey (or created by their first token), their "
        "admin roles, and the directory sync. Filters: f cycles the tenant, g (or enter on a "
        "group) shows its members, d shows soft-deleted ones, / narrows the tables.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "grant('tenant_admin')", "Tenant admin", id="users.grant_tenant_admin",
                tooltip="Grant tenant_admin to the user"),
        Binding("s", "grant('super_admin')", "Super admin", id="users.grant_super_admin",
                tooltip="Grant super_admin to the user"),
        Binding("x", "revoke_role", "No role", id="users.revoke_role",
                tooltip="Remove the user's admin role"),
        Binding("f", "next_tenant", "Tenant", id="users.next_tenant", show=False,
                tooltip="Show the next tenant's users and groups"),
        Binding("g", "filter_group", "Group", id="users.filter_group", show=False,
                tooltip="Show only the members of the highlighted group"),
        Binding("d", "toggle_deleted", "Soft-deleted", id="users.toggle_deleted", show=False,
                tooltip="Show or hide soft-deleted users and groups"),
        Binding("S", "sync_now", "Sync", id="users.sync_now",
                tooltip="Sync users and groups from ScaiKey now"),
    ]

    users: reactive[tuple[User, ...]] = reactive((), init=False)
    groups: reactive[tuple[Group, ...]] = reactive((), init=False)
    tenant_ids: reactive[tuple[str, ...]] = reactive((), init=False)
    """Every tenant (the filter cycles through them)."""
    session_sub: reactive[str | None] = reactive(None, init=False)
    filters: reactive[Filters] = reactive(Filters, init=False)
    syncing: reactive[bool] = reactive(False, init=False)

    class Loaded(Message):
        def __init__(self, filters: Filters, tenant_ids: list[str], groups: list[Group],
                     users: list[User], session_sub: str | None) -> None:
            super().__init__()
            self.filters = filters
            self.tenant_ids = tenant_ids
            self.groups = groups
            self.users = users
            self.session_sub = session_sub

    def __init__(self, client: AdminClient) -> None:
        super().__init__(client)
        self._group_names: dict[str, str] = {}
        """Names of groups seen, to describe a group filter whose group is not listed."""

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="filters", markup=False)
        yield Label("Groups", id="groups-title", classes="section", markup=False)
        yield ResourceTable(("Group", "Tenant", "Name", "Members", "Super admins",
                             "Last synced", "Deleted"), id="groups")
        yield Label("Users", id="users-title", classes="section", markup=False)
        yield ResourceTable(("ID", "Tenant", "Email", "Name", "Status", "Role", "Role source"),
                            id="users")
        yield Static("", id="detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:
        self.watch_filters(self.filters)
        self.users_table.focus()

    @property
    def users_table(self) -> ResourceTable:
        return self.query_one("#users", ResourceTable)

    @property
    def groups_table(self) -> ResourceTable:
        return self.query_one("#groups", ResourceTable)

    # -- loading ---------------------------------------------------------------------------
    @work(exclusive=True, group="load")
    async def load(self) -> None:
        filters = self.filters
        try:
            tenants = await self.client.list_tenants()
            groups = await self.client.list_groups(tenant_id=filters.tenant_id,
                                                   include_deleted=filters.include_deleted)
            users = await self.client.list_users(tenant_id=filters.tenant_id,
                                                 group_id=filters.group_id,
                                                 include_deleted=filters.include_deleted)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        try:
            session_sub: str | None = (await self.client.me()).sub
        except AdminClientError:
            session_sub = None  # only used to word a warning
        self.post_message(self.Loaded(filters, [t.id for t in tenants], groups, users,
                                      session_sub))

    def on_users_screen_loaded(self, message: Loaded) -> None:
        if message.filters != self.filters:
            return  # the operator changed a filter meanwhile: its own load follows
        self.loaded()
        self.session_sub = message.session_sub
        self.tenant_ids = tuple(message.tenant_ids)
        self._group_names.update({g.id: g.name for g in message.groups})
        self.groups = tuple(message.groups)
        self.users = tuple(message.users)
        self._update_titles()
        self._update_status()

    def _update_status(self) -> None:
        if self.users or self.groups:
            status = f"{len(self.users)} user(s), {len(self.groups)} group(s)."
            if max(len(self.users), len(self.groups)) >= LIST_LIMIT:
                status += (f" This screen reads at most {LIST_LIMIT} of each: filter by "
                           "tenant (f) or group (g) to see the rest.")
            self.status_text = status
        elif self.filters != Filters():
            self.status_text = "No users or groups match these filters (f, g, d change them)."
        else:
            self.status_text = ("No users yet: they appear when they first sign in or after a "
                                "directory sync (S).")

    def watch_users(self, users: tuple[User, ...]) -> None:
        self.users_table.replace_rows([(user.id, user_cells(user)) for user in users])
        self._show_detail()

    def watch_groups(self, groups: tuple[Group, ...]) -> None:
        self.groups_table.replace_rows([(group.id, group_cells(group)) for group in groups])
        self._show_detail()

    def watch_filters(self, filters: Filters) -> None:
        self.query_one("#filters", Static).update(self._filters_text(filters))

    def _filters_text(self, filters: Filters) -> str:
        tenant = filters.tenant_id or "all tenants"
        group = "any"
        if filters.group_id:
            name = self._group_names.get(filters.group_id)
            group = f"members of {filters.group_id}" + (
                f" ({name})" if name and name != filters.group_id else "")
        deleted = "shown" if filters.include_deleted else "hidden"
        return (f"Tenant: {tenant}  ·  Group: {group}  ·  Soft-deleted: {deleted}"
                "      f next tenant · g/enter group · d soft-deleted")

    def _update_titles(self) -> None:
        where = f" of {self.filters.tenant_id}" if self.filters.tenant_id else ""
        self.query_one("#groups-title", Label).update(
            f"Groups{where}: {len(self.groups)}" if self.groups
            else f"Groups{where}: none (ScaiKey's groups arrive by sync or webhook)")
        members = f", members of {self.filters.group_id}" if self.filters.group_id else ""
        self.query_one("#users-title", Label).update(
            f"Users{where}{members}: {len(self.users)}")

    # -- selection and detail ----------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_descendant_focus(self) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "groups":
            self.action_filter_group()

    def _show_detail(self) -> None:
        detail = self.query_one("#detail", Static)
        group = self.selected_group()
        if self.groups_table.has_focus and group is not None:
            detail.update(group_detail(group, filtered=group.id == self.filters.group_id))
            return
        user = self.selected_user()
        detail.update(user_detail(user, self.session_sub) if user else "")

    def selected_user(self) -> User | None:
        key = self.users_table.selected_key
        return next((u for u in self.users if u.id == key), None)

    def selected_group(self) -> Group | None:
        key = self.groups_table.selected_key
        return next((g for g in self.groups if g.id == key), None)

    # -- filters -----------------------------------------------------------------------------
    def _refilter(self, filters: Filters, said: str) -> None:
        self.filters = filters
        self.say(said)
        self.status_text = "Loading…"
        self.load()

    def action_next_tenant(self) -> None:
        """All tenants, then each tenant in turn, then all again."""
        if not self.tenant_ids:
            self.say("No tenants loaded: press r to load them.")
            return
        cycle: list[str | None] = [None, *self.tenant_ids]
        current = self.filters.tenant_id
        position = cycle.index(current) if current in cycle else 0
        tenant_id = cycle[(position + 1) % len(cycle)]
        group_id = self.filters.group_id
        group_tenant = next((g.tenant_id for g in self.groups if g.id == group_id), None)
        if tenant_id is not None and group_tenant not in (None, tenant_id):
            group_id = None  # a group belongs to one tenant: its filter ends here
        self._refilter(replace(self.filters, tenant_id=tenant_id, group_id=group_id),
                       f"Showing {tenant_id or 'all tenants'}.")

    def action_filter_group(self) -> None:
        """Only the highlighted group's members; the same group again shows everyone."""
        group = self.selected_group()
        if self.filters.group_id is not None and (
                group is None or group.id == self.filters.group_id):
            self._refilter(replace(self.filters, group_id=None), "Showing every user again.")
            return
        if group is None:
            self.say("No group to filter by." if not self.groups
                     else "Highlight a group first (tab moves between the tables).")
            return
        self._refilter(replace(self.filters, group_id=group.id),
                       f"Showing the members of {group.id} ({group.name}).")

    def action_toggle_deleted(self) -> None:
        include = not self.filters.include_deleted
        self._refilter(replace(self.filters, include_deleted=include),
                       "Showing soft-deleted users and groups too." if include
                       else "Hiding soft-deleted users and groups.")

    # -- sync now ------------------------------------------------------------------------------
    def action_sync_now(self) -> None:
        if self.syncing:
            self.say("A sync is already running: its counters follow when it ends.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.syncing = True
                self.say("Syncing from ScaiKey…")
                self.sync_now()
            else:
                self.say("Cancelled; nothing synced.")

        self.app.push_screen(ConfirmScreen(SYNC_QUESTION, confirm_label="Sync now"), answered)

    @work(exclusive=True, group="sync")
    async def sync_now(self) -> None:
        try:
            result = await self.client.sync_directory()
        except AdminClientError as exc:
            self.post_message(self.ActionFinished("Sync failed", exc,
                                                  note=sync_failure_note(exc)))
            return
        finally:
            self.syncing = False
        if result.not_configured:
            self.post_message(self.ActionFinished(
                "ScaiKey is not configured: nothing was synced.",
                note=f"Set {SCAIKEY_SETTINGS} and restart the appliance "
                     "(docs/operations.md).", warning=True))
            return
        self.post_message(self.ActionFinished(sync_result_text(result)))

    # -- role changes ----------------------------------------------------------------------
    def action_grant(self, role: str) -> None:
        user = self.selected_user()
        if user is None:
            self.say("Select a user first.")
            return
        if user.admin_role == role:
            self.say(f"{user.id} already has the {role} role.")
            return
        question = f"Grant {role} to {user.id} ({user.email or user.display_name or '-'}) " \
                   f"in {user.tenant_id}?"
        if role == "super_admin":
            question += "\nA super admin can act on every tenant of this appliance."
        if user.id == self.session_sub and role == "tenant_admin":
            question += ("\nThis is the account this TUI signs in as: without super_admin the "
                         "admin screens stop working.")
        self._confirm_then_change(question, f"Grant {role}", user, role)

    def action_revoke_role(self) -> None:
        user = self.selected_user()
        if user is None:
            self.say("Select a user first.")
            return
        if not user.admin_role:
            self.say(f"{user.id} has no admin role.")
            return
        question = f"Remove {user.admin_role} from {user.id} in {user.tenant_id}?"
        if user.admin_role_source == "group":
            question += ("\nThe role comes from a super-admin group: the next sync elects "
                         f"{user.id} again while they are a member.")
        if user.id == self.session_sub:
            question += ("\nThis is the account this TUI signs in as: the admin screens stop "
                         "working.")
        self._confirm_then_change(question, "Remove role", user, None)

    def _confirm_then_change(self, question: str, label: str, user: User,
                             role: str | None) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.change_role(user, role)
            else:
                self.say("Cancelled; nothing changed.")

        self.app.push_screen(ConfirmScreen(question, confirm_label=label), answered)

    @work(exclusive=True, group="action")
    async def change_role(self, user: User, role: str | None) -> None:
        try:
            if role is None:
                await self.client.revoke_role(user.id)
            else:
                await self.client.grant_role(user.id, role)
        except AdminClientError as exc:
            self.post_message(self.ActionFinished(f"Could not change the role of {user.id}",
                                                  exc))
            return
        self.post_message(self.ActionFinished(
            f"{user.id} is now {role} (source manual)." if role
            else f"{user.id} no longer has an admin role."))
