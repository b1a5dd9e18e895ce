"""A row-cursor DataTable keyed by resource id that keeps the cursor on the same resource
across reloads, keeps over-long values from stretching the screen, and filters its rows
(`/` on every screen) without losing them."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

MAX_CELL_CHARS = 40
Row = tuple[str, Sequence[str | None]]


def shorten(value: str | None, limit: int = MAX_CELL_CHARS) -> str:
    """`-` for nothing; over-long values end in an ellipsis (full value in the detail line)."""
    if not value:
        return "-"
    value = " ".join(value.split())  # no newlines or tabs inside a cell
    return value if len(value) <= limit else value[: limit - 1] + "…"


def matches(cells: Sequence[str | None], needle: str) -> bool:
    """Case-insensitive substring of any cell's full value."""
    return not needle or any(needle in (cell or "").casefold() for cell in cells)


class ResourceTable(DataTable[Text]):
    """Rows are `(key, cells)`; `selected_key` is the key under the cursor."""

    def __init__(self, columns: Sequence[str], *, id: str | None = None,
                 max_cell_chars: int = MAX_CELL_CHARS) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._column_names = tuple(columns)
        self._max_cell_chars = max_cell_chars
        self._all: list[Row] = []
        self._needle = ""

    def on_mount(self) -> None:
        self.add_columns(*self._column_names)

    @property
    def total_rows(self) -> int:
        """Every row, shown or filtered out."""
        return len(self._all)

    @property
    def filter_text(self) -> str:
        return self._needle

    def set_filter(self, text: str) -> None:
        needle = text.strip().casefold()
        if needle != self._needle:
            self._needle = needle
            self._show(self.selected_key)

    def replace_rows(self, rows: Sequence[Row]) -> None:
        previous = self.selected_key
        self._all = list(rows)
        self._show(previous)

    def append_rows(self, rows: Sequence[Row]) -> None:
        known = {key for key, _ in self._all}
        for key, cells in rows:
            if key in known:
                continue
            self._all.append((key, cells))
            if matches(cells, self._needle):
                self.add_row(*self._cells(cells), key=key)

    def _show(self, keep: str | None) -> None:
        self.clear()
        keys = []
        for key, cells in self._all:
            if matches(cells, self._needle):
                self.add_row(*self._cells(cells), key=key)
                keys.append(key)
        if keep in keys:
            self.move_cursor(row=keys.index(keep), animate=False)

    def select_key(self, key: str) -> bool:
        """Move the cursor onto the row `key`; False when there is no such row (shown)."""
        keys = [row.value for row in self.rows]
        if key not in keys:
            return False
        self.move_cursor(row=keys.index(key), animate=False)
        return True

    def _cells(self, cells: Sequence[str | None]) -> list[Text]:
        return [Text(shorten(cell, self._max_cell_chars)) for cell in cells]

    @property
    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return row_key.value

    def row_texts(self) -> list[list[str]]:
        """The displayed cells as plain strings (for tests and the detail line)."""
        return [[cell.plain for cell in self.get_row_at(i)] for i in range(self.row_count)]
