"""Users and their admin roles (SPEC §12): list, grant tenant_admin / super_admin, remove."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from tui.client import AdminClientError, User
from tui.screens.base import ApiScreen
from tui.screens.confirm import ConfirmScreen
from tui.widgets.resource_table import ResourceTable

ROLE_NAMES = {"tenant_admin": "tenant admin", "super_admin": "super admin"}


def user_cells(user: User) -> list[str | None]:
    return [user.id, user.tenant_id, user.email, user.display_name, user.status,
            user.admin_role, user.admin_role_source]


def user_detail(user: User, session_sub: str | None) -> Text:
    text = Text(user.id, style="bold")
    if user.id == session_sub:
        text.append("  (the account this TUI signs in as)", style="italic")
    text.append(f"\ntenant {user.tenant_id} · status {user.status}")
    text.append(f"\nemail: {user.email or '-'}\nname:  {user.display_name or '-'}")
    role = f"{user.admin_role} (source {user.admin_role_source})" if user.admin_role else "none"
    text.append(f"\nadmin role: {role}")
    return text


class UsersScreen(ApiScreen):
    MODE: ClassVar[str] = "users"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "grant('tenant_admin')", "Grant tenant_admin",
                id="users.grant_tenant_admin"),
        Binding("s", "grant('super_admin')", "Grant super_admin",
                id="users.grant_super_admin"),
        Binding("x", "revoke_role", "Remove role", id="users.revoke_role"),
    ]

    users: reactive[tuple[User, ...]] = reactive((), init=False)
    session_sub: reactive[str | None] = reactive(None, init=False)

    class Loaded(Message):
        def __init__(self, users: list[User], session_sub: str | None) -> None:
            super().__init__()
            self.users = users
            self.session_sub = session_sub

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield ResourceTable(("ID", "Tenant", "Email", "Name", "Status", "Role", "Role source"),
                            id="users")
        yield Static("", id="detail")
        yield from self.compose_bottom()

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        try:
            users = await self.client.list_users()
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        try:
            session_sub: str | None = (await self.client.me()).sub
        except AdminClientError:
            session_sub = None  # only used to word a warning
        self.post_message(self.Loaded(users, session_sub))

    def on_users_screen_loaded(self, message: Loaded) -> None:
        self.loaded()
        self.session_sub = message.session_sub
        self.users = tuple(message.users)
        self.status_text = (f"{len(self.users)} user(s)." if self.users
                            else "No users yet: they appear when they first sign in or "
                                 "after a directory sync.")

    def watch_users(self, users: tuple[User, ...]) -> None:
        self.query_one("#users", ResourceTable).replace_rows(
            [(user.id, user_cells(user)) for user in users])
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        user = self.selected_user()
        self.query_one("#detail", Static).update(
            user_detail(user, self.session_sub) if user else "")

    def selected_user(self) -> User | None:
        key = self.query_one("#users", ResourceTable).selected_key
        return next((u for u in self.users if u.id == key), None)

    # -- role changes ----------------------------------------------------------------------
    def action_grant(self, role: str) -> None:
        user = self.selected_user()
        if user is None:
            self.action_text = "Select a user first."
            return
        if user.admin_role == role:
            self.action_text = f"{user.id} already has the {role} role."
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
            self.action_text = "Select a user first."
            return
        if not user.admin_role:
            self.action_text = f"{user.id} has no admin role."
            return
        question = f"Remove {user.admin_role} from {user.id} in {user.tenant_id}?"
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
                self.action_text = "Cancelled; nothing changed."

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
