"""The audit log (SPEC §1, §12), newest first, one page at a time."""

from __future__ import annotations

import json
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from tui.client import AdminClientError, AuditEntry, AuditPage
from tui.screens.base import ApiScreen
from tui.widgets.resource_table import ResourceTable

PAGE_SIZE = 50


def compact_details(entry: AuditEntry) -> str:
    return json.dumps(dict(entry.details), sort_keys=True, separators=(", ", ": ")) \
        if entry.details else ""


def entry_cells(entry: AuditEntry) -> list[str | None]:
    target = f"{entry.target_type}:{entry.target_id}" if entry.target_id else entry.target_type
    return [entry.at, entry.actor, entry.action, entry.tenant_id, target,
            compact_details(entry)]


def entry_detail(entry: AuditEntry) -> Text:
    text = Text(f"#{entry.id} {entry.action}", style="bold")
    text.append(f"  {entry.at} by {entry.actor or '-'} in {entry.tenant_id or '-'}")
    if entry.target_id:
        text.append(f"\ntarget: {entry.target_type}:{entry.target_id}")
    if entry.details:
        text.append(f"\n{compact_details(entry)}")
    return text


class AuditScreen(ApiScreen):
    MODE: ClassVar[str] = "audit"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "load_more", "Load more", id="audit.load_more"),
    ]

    entries: reactive[tuple[AuditEntry, ...]] = reactive((), init=False)
    next_cursor: reactive[str | None] = reactive(None, init=False)

    class Loaded(Message):
        def __init__(self, page: AuditPage, *, append: bool) -> None:
            super().__init__()
            self.page = page
            self.append = append

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield ResourceTable(("When", "Actor", "Action", "Tenant", "Target", "Details"),
                            id="audit")
        yield Static("", id="detail")
        yield from self.compose_bottom()

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        await self._fetch(None, append=False)

    @work(exclusive=True, group="load")
    async def load_more(self, cursor: str) -> None:
        await self._fetch(cursor, append=True)

    async def _fetch(self, cursor: str | None, *, append: bool) -> None:
        try:
            page = await self.client.list_audit(cursor=cursor, limit=PAGE_SIZE)
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.Loaded(page, append=append))

    def action_load_more(self) -> None:
        if self.next_cursor is None:
            self.action_text = "That is the whole log." if self.entries else "Nothing to load."
            return
        self.status_text = "Loading more…"
        self.load_more(self.next_cursor)

    def on_audit_screen_loaded(self, message: Loaded) -> None:
        self.loaded()
        table = self.query_one("#audit", ResourceTable)
        rows = [(str(e.id), entry_cells(e)) for e in message.page.items]
        if message.append:
            known = {e.id for e in self.entries}
            self.entries = self.entries + tuple(e for e in message.page.items
                                                if e.id not in known)
            table.append_rows(rows)
        else:
            self.entries = message.page.items
            table.replace_rows(rows)
        self.next_cursor = message.page.next_cursor
        more = "m loads older entries" if self.next_cursor else "end of the log"
        self.status_text = (f"{len(self.entries)} entries, newest first; {more}."
                            if self.entries else "The audit log is empty.")
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.query_one("#audit", ResourceTable).selected_key
        entry = next((e for e in self.entries if str(e.id) == key), None)
        self.query_one("#detail", Static).update(entry_detail(entry) if entry else "")
