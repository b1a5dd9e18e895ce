"""Signed pagination cursors (http/cursors.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaiflow_box.errors import InvalidInput
from scaiflow_box.http.cursors import CursorCodec

CODEC = CursorCodec.from_master_key(b"k" * 32)
VALUES = st.lists(st.one_of(st.integers(-2**53, 2**53), st.text(max_size=40)), max_size=3)


@given(VALUES)
def test_a_cursor_decodes_to_what_was_encoded(values: list[object]) -> None:
    cursor = CODEC.encode("list_flows|tnt_a|", values)
    assert CODEC.decode("list_flows|tnt_a|", cursor, len(values)) == values


@given(VALUES, st.sampled_from(["list_flows|tnt_b|", "list_versions|tnt_a|flow_1", ""]))
def test_a_cursor_is_refused_in_another_context(values: list[object], context: str) -> None:
    cursor = CODEC.encode("list_flows|tnt_a|", values)
    with pytest.raises(InvalidInput) as caught:
        CODEC.decode(context, cursor, len(values))
    assert caught.value.code == "invalid_cursor"


def test_edits_other_keys_and_wrong_arity_are_refused() -> None:
    cursor = CODEC.encode("ctx", [1, "a"])
    body, mac = cursor.split(".")
    for bad in (f"{body}x.{mac}", f"{body}.{mac[:-2]}", cursor + ".", body, "",
                "a" * 2000, "é.é"):
        with pytest.raises(InvalidInput):
            CODEC.decode("ctx", bad, 2)
    with pytest.raises(InvalidInput):
        CODEC.decode("ctx", cursor, 3)
    with pytest.raises(InvalidInput):
        CursorCodec.from_master_key(b"j" * 32).decode("ctx", cursor, 2)
