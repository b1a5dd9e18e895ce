"""The rules every stored display name and outside id obeys, as pydantic validators: shared by
the API's request models and the `.scaipkg` reader (`package.json`), which must agree."""

from __future__ import annotations

import re

from scaiflow_box.ids import is_plain_id

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def display_name(value: str) -> str:
    """A name shown to people: no control character, not blank."""
    if CONTROL.search(value):
        raise ValueError("must not contain control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def plain_id(value: str) -> str:
    """An id taken from outside (`usr_…`, `tnt_…`): 1-200 of `A-Z a-z 0-9 . _ : @ -`."""
    if not is_plain_id(value):
        raise ValueError("must be 1-200 letters, digits or ._:@- (an id such as usr_…)")
    return value
