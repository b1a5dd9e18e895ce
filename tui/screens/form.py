"""A small form dialog: labelled fields, a hint, the error inline under the fields (the form
stays open and focuses the field at fault), submit with enter or ctrl+s, cancel with escape.

Subclasses name their fields and turn the values into their result (`build`), raising
`FormError` for a value that cannot be used."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

T = TypeVar("T")


@dataclass(frozen=True)
class Field:
    id: str
    label: str
    placeholder: str = ""
    value: str = ""
    password: bool = False


class FormError(ValueError):
    def __init__(self, field_id: str, message: str) -> None:
        super().__init__(message)
        self.field_id = field_id


def existing_file(field_id: str, value: str) -> str:
    """An absolute path to a readable file (the TUI's own file system)."""
    if not value:
        raise FormError(field_id, "File: required.")
    path = Path(value).expanduser()
    if not path.is_file():
        raise FormError(field_id, f"File: {path} does not exist or is not a file.")
    return str(path.resolve())


def new_file(field_id: str, value: str) -> str:
    """An absolute path where no file is yet, in a directory that exists."""
    if not value:
        raise FormError(field_id, "File: required.")
    path = Path(value).expanduser()
    if path.exists():
        raise FormError(field_id, f"File: {path} exists; choose a new name.")
    if not path.parent.is_dir():
        raise FormError(field_id, f"File: {path.parent} is not a directory.")
    return str(path.resolve())


def one_of(field_id: str, label: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise FormError(field_id, f"{label}: one of {', '.join(choices)}.")
    return value


class FormScreen(ModalScreen[T | None], Generic[T]):
    """Dismisses with the result of `build`, or None when cancelled."""

    TITLE_TEXT: ClassVar[str] = ""
    HINT: ClassVar[str] = ""
    SUBMIT_LABEL: ClassVar[str] = "Save"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="form.submit"),
    ]

    def fields(self) -> list[Field]:
        raise NotImplementedError

    def build(self, values: Mapping[str, str]) -> T:
        raise NotImplementedError

    def title_text(self) -> str:
        return self.TITLE_TEXT

    def compose(self) -> ComposeResult:
        fields = self.fields()
        with Vertical(id="dialog", classes="dialog form"):
            yield Static(self.title_text(), classes="title", markup=False)
            with Grid(id="fields"):
                for spec in fields:
                    yield Label(spec.label)
                    yield Input(spec.value, id=spec.id, placeholder=spec.placeholder,
                                password=spec.password, compact=True)
            if self.HINT:
                yield Static(self.HINT, classes="hint", markup=False)
            yield Static("", id="form-error", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.SUBMIT_LABEL} (ctrl+s)", id="submit", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query(Input).first().focus()

    def show_error(self, text: str) -> None:
        self.query_one("#form-error", Static).update(text)

    @on(Button.Pressed, "#submit")
    @on(Input.Submitted)
    def action_submit(self) -> None:
        values = {field.id or "": field.value.strip() for field in self.query(Input)}
        try:
            result = self.build(values)
        except FormError as exc:
            self.show_error(str(exc))
            self.query_one(f"#{exc.field_id}", Input).focus()
            return
        self.dismiss(result)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
