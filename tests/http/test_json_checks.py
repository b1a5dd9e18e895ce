"""The bytes questions of `http/json_checks.py` against a plain reading of the same JSON: the
stdlib parser keeps every integer and (as Decimal) every number exactly, so it says which
number is out of range and which string holds a control character."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaiflow_box.http.json_checks import (
    MAX_NUMBER,
    MIN_NUMBER,
    control_character_items,
    json_depth_exceeds,
    number_out_of_range,
)

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def out_of_range(raw: bytes) -> bool:
    found: list[bool] = []

    def number(text: str) -> Decimal:
        value = Decimal(text)
        found.append(not MIN_NUMBER <= value <= MAX_NUMBER)
        return value

    json.loads(raw, parse_int=number, parse_float=number)
    return any(found)


def holds_control(value: Any) -> bool:
    if isinstance(value, str):
        return CONTROL.search(value) is not None
    if isinstance(value, dict):
        return any(holds_control(k) or holds_control(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_control(v) for v in value)
    return False


@pytest.mark.parametrize(("raw", "offset"), [
    (b'{"a": 123456789012345678901234567890}', 6),
    (b"[18446744073709551615]", None),
    (b"[18446744073709551616]", 1),
    (b"[-9223372036854775808]", None),
    (b"[-9223372036854775809]", 1),  # orjson rounds it to -2**63, in range
    (b'{"a":1.5e300}', 5),
    (b'{"a": 123456789012345678e9}', 6),
    (b'[1e18, 1E-300, 0.1234567890123456789012]', None),
    (b'{"id":"123e4567-e89b-12d3", "n":"a, 1e99", "d":"12345678901234567890123"}', None),
    (b'{"k\\\\":"x", "n": 1E+20}', 17),  # an escaped backslash ends the key
    (b'{"k\\"": 1e99}', 8),  # an escaped quote does not
])
def test_numbers_out_of_range_are_found_outside_strings(raw: bytes, offset: int | None) -> None:
    assert number_out_of_range(raw) == offset
    assert out_of_range(raw) == (offset is not None)


@pytest.mark.parametrize(("raw", "locs"), [
    (b'{"a": "x\\u0000y"}', [["body", "a"]]),
    (b'{"a": ["ok", "\\b"], "\\f": 1}', [["body", "\x0c", "[key]"], ["body", "a", 1]]),
    (b'{"a": "del\x7f", "b": "c1\xc2\x85"}', [["body", "a"], ["body", "b"]]),
    (b'{"a": "\\\\b \\\\u0000 \\n\\t\\r \\u00e9 \xc2\xa0"}', []),  # text, whitespace, é, nbsp
])
def test_control_characters_are_located(raw: bytes, locs: list[list[Any]]) -> None:
    items = control_character_items(raw, orjson.loads(raw))
    assert [item["loc"] for item in items] == locs
    assert all(item["type"] == "control_character" for item in items)


JSON_TEXT = st.text(alphabet=st.sampled_from(
    [*'abe019"\\ -+.,:[]{}', "\x00", "\x07", "\x7f", "\x85", "\xa0", "\n", "\t", "é"]),
    max_size=12)
NUMBERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 1e19, 2e19]))
VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), NUMBERS, JSON_TEXT),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(JSON_TEXT, children, max_size=4)),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans())
def test_the_bytes_questions_agree_with_a_plain_reading(value: Any, ascii_only: bool) -> None:
    """Whatever the strings hold (quotes, backslashes, digits, `e`) and however the client
    escapes them (ensure_ascii writes é and C1 as \\u00XX)."""
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert (number_out_of_range(raw) is not None) == out_of_range(raw), raw
    decoded = orjson.loads(raw)
    assert bool(control_character_items(raw, decoded)) == holds_control(decoded), raw


@pytest.mark.parametrize(("depth", "too_deep"), [(1, False), (64, False), (65, True),
                                                 (1000, True)])
def test_depth(depth: int, too_deep: bool) -> None:
    as_list: Any = []
    as_dict: Any = {}
    for _ in range(depth - 1):
        as_list = [1, "x", as_list]
        as_dict = {"k": as_dict, "n": None}
    assert json_depth_exceeds(as_list) is too_deep
    assert json_depth_exceeds(as_dict) is too_deep
    assert json_depth_exceeds("scalar") is False
