"""The audit log (SPEC §1, §12), newest first, one page at a time, filtered on the appliance by
action, actor, tenant and time (f), and narrowed further on screen with /."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Static

from tui.client import AdminClientError, AuditEntry, AuditPage
from tui.models import parse_timestamp
from tui.screens.base import ApiScreen
from tui.screens.form import Field, FormError, FormScreen
from tui.widgets.resource_table import ResourceTable

PAGE_SIZE = 50
_RELATIVE = re.compile(r"^(\d+)\s*([mhd])$")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


@dataclass(frozen=True)
class AuditFilters:
    action: str = ""
    actor: str = ""
    tenant_id: str = ""
    since: str = ""  # as typed: 30m, 24h, 7d or an RFC 3339 timestamp

    @property
    def any(self) -> bool:
        return bool(self.action or self.actor or self.tenant_id or self.since)

    def describe(self) -> str:
        parts = [f"{name} {value}" for name, value in (
            ("action", self.action), ("actor", self.actor), ("tenant", self.tenant_id),
            ("since", self.since)) if value]
        return ", ".join(parts) or "none"


def since_timestamp(text: str, now: datetime) -> str | None:
    """`30m`, `24h`, `7d` (before `now`) or an RFC 3339 timestamp, as the API's `since`."""
    if not text:
        return None
    match = _RELATIVE.match(text.lower())
    if match:
        moment = now - int(match.group(1)) * _UNIT[match.group(2)]
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if parse_timestamp(text) is None:
        raise ValueError("Since: 30m, 24h, 7d or a timestamp like 2026-05-01T00:00:00Z")
    return text


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


class AuditFilterForm(FormScreen[AuditFilters]):
    TITLE_TEXT = "Filter the audit log"
    HINT = ("Action: exact, e.g. service_token.minted, flow.deleted, keys.rotated. Since: 30m, "
            "24h, 7d or a timestamp. Empty fields do not filter.")
    SUBMIT_LABEL = "Filter"

    def __init__(self, current: AuditFilters, now: datetime) -> None:
        super().__init__()
        self.current = current
        self.now = now

    def fields(self) -> list[Field]:
        current = self.current
        return [Field("action", "Action", "e.g. flow.deleted", current.action),
                Field("actor", "Actor", "user id, tui, cli, …", current.actor),
                Field("tenant", "Tenant", "e.g. tnt_local", current.tenant_id),
                Field("since", "Since", "30m, 24h, 7d or a timestamp", current.since)]

    def build(self, values: Mapping[str, str]) -> AuditFilters:
        try:
            since_timestamp(values["since"], self.now)
        except ValueError as exc:
            raise FormError("since", str(exc)) from None
        return AuditFilters(values["action"], values["actor"], values["tenant"],
                            values["since"])


class AuditScreen(ApiScreen):
    MODE: ClassVar[str] = "audit"
    HELP: ClassVar[str] = (
        "Every change anyone made, newest first: f filters on the appliance by action, actor, "
        "tenant and time; / narrows the rows shown; m loads older entries.")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "edit_filters", "Filters", id="audit.edit_filters",
                tooltip="Filter the audit log by action, actor, tenant and time"),
        Binding("c", "clear_filters", "Clear", id="audit.clear_filters",
                tooltip="Clear the audit filters"),
        Binding("m", "load_more", "More", id="audit.load_more",
                tooltip="Load older audit entries"),
    ]

    entries: reactive[tuple[AuditEntry, ...]] = reactive((), init=False)
    next_cursor: reactive[str | None] = reactive(None, init=False)
    filters: reactive[AuditFilters] = reactive(AuditFilters, init=False)

    class Loaded(Message):
        def __init__(self, page: AuditPage, filters: AuditFilters, *, append: bool) -> None:
            super().__init__()
            self.page = page
            self.filters = filters
            self.append = append

    def compose(self) -> ComposeResult:
        yield from self.compose_top()
        yield Static("", id="filters", markup=False)
        yield ResourceTable(("When", "Actor", "Action", "Tenant", "Target", "Details"),
                            id="audit")
        yield Static("", id="detail")
        yield from self.compose_bottom()

    def on_mount(self) -> None:  # the base class's runs too (Textual calls each in the MRO)
        self.watch_filters(self.filters)

    def watch_filters(self, filters: AuditFilters) -> None:
        self.query_one("#filters", Static).update(
            f"Filters: {filters.describe()}      f change · c clear")

    @work(exclusive=True, group="load")
    async def load(self) -> None:
        await self._fetch(None, append=False)

    @work(exclusive=True, group="load")
    async def load_more(self, cursor: str) -> None:
        await self._fetch(cursor, append=True)

    async def _fetch(self, cursor: str | None, *, append: bool) -> None:
        filters = self.filters
        try:
            page = await self.client.list_audit(
                cursor=cursor, limit=PAGE_SIZE, action=filters.action or None,
                actor=filters.actor or None, tenant_id=filters.tenant_id or None,
                since=since_timestamp(filters.since, self.console.now()))
        except AdminClientError as exc:
            self.post_message(self.LoadFailed(exc))
            return
        self.post_message(self.Loaded(page, filters, append=append))

    def action_load_more(self) -> None:
        if self.next_cursor is None:
            self.say("That is the whole log." if self.entries else "Nothing to load.")
            return
        self.status_text = "Loading more…"
        self.load_more(self.next_cursor)

    def action_edit_filters(self) -> None:
        def chosen(filters: AuditFilters | None) -> None:
            if filters is None:
                self.say("Filters unchanged.")
                return
            self._refilter(filters)

        self.app.push_screen(AuditFilterForm(self.filters, self.console.now()), chosen)

    def action_clear_filters(self) -> None:
        if not self.filters.any:
            self.say("No filters to clear.")
            return
        self._refilter(AuditFilters())

    def _refilter(self, filters: AuditFilters) -> None:
        self.filters = filters
        self.say(f"Filters: {filters.describe()}.")
        self.status_text = "Loading…"
        self.reload()

    def on_audit_screen_loaded(self, message: Loaded) -> None:
        if message.filters != self.filters:
            return  # the operator changed the filters meanwhile: their load follows
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
        if self.entries:
            self.status_text = f"{len(self.entries)} entries, newest first; {more}."
        elif self.filters.any:
            self.status_text = "No entries match these filters (f changes them, c clears)."
        else:
            self.status_text = "The audit log is empty."
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        key = self.query_one("#audit", ResourceTable).selected_key
        entry = next((e for e in self.entries if str(e.id) == key), None)
        self.query_one("#detail", Static).update(entry_detail(entry) if entry else "")
