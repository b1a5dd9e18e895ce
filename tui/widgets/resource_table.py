"""A row-cursor DataTable keyed by resource id that keeps the cursor on the same resource
across reloads and keeps over-long values from stretching the screen."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

MAX_CELL_CHARS = 40


def shorten(value: str | None, limit: int = MAX_CELL_CHARS) -> str:
    """`-` for nothing; over-long values end in an ellipsis (full value in the detail line)."""
    if not value:
        return "-"
    value = " ".join(value.split())  # no newlines or tabs inside a cell
    return value if len(value) <= limit else value[: limit - 1] + "…"


class ResourceTable(DataTable[Text]):
    """Rows are `(key, cells)`; `selected_key` is the key under the cursor."""

    def __init__(self, columns: Sequence[str], *, id: str | None = None,
                 max_cell_chars: int = MAX_CELL_CHARS) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._column_names = tuple(columns)
        self._max_cell_chars = max_cell_chars

    def on_mount(self) -> None:
        self.add_columns(*self._column_names)

    def replace_rows(self, rows: Sequence[tuple[str, Sequence[str | None]]]) -> None:
        previous = self.selected_key
        self.clear()
        for key, cells in rows:
            self.add_row(*self._cells(cells), key=key)
        keys = [key for key, _ in rows]
        if previous in keys:
            self.move_cursor(row=keys.index(previous), animate=False)

    def select_key(self, key: str) -> bool:
        """Move the cursor onto the row `key`; False when there is no such row."""
        keys = [row.value for row in self.rows]
        if key not in keys:
            return False
        self.move_cursor(row=keys.index(key), animate=False)
        return True

    def append_rows(self, rows: Sequence[tuple[str, Sequence[str | None]]]) -> None:
        for key, cells in rows:
            if key not in self.rows:
                self.add_row(*self._cells(cells), key=key)

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
