"""What a JSON body may hold beyond being JSON (SPEC §1, docs/api.md "Requests"): nesting of
at most 64 levels, numbers within the 64-bit integer range, and no control characters in any
string.

Each check first asks a question of the raw bytes that C code answers (a count, a regular
expression) and walks the decoded value or the bytes in Python only when the answer says it
might fail, so an ordinary body, a 500-node flow included, pays a few scans of its bytes and
no walk. `http/openapi_values.py` says the same in the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Any

MAX_JSON_DEPTH = 64
# Every JSON number, integer or not, must lie in [-2**63, 2**64 - 1]: orjson decodes integers
# beyond it as (rounded) floats, and JSON Schema, which the document speaks, knows numbers, not
# spellings (`1e20` and `100000000000000000000` are the same number), so the bound is on value.
MIN_NUMBER = -(2**63)
MAX_NUMBER = 2**64 - 1
# A bound on the items of one 422, so a body of a million bad strings gets a short answer.
MAX_REPORTED = 20

# A number of magnitude 1e18 or more is spelled with 19 or more integer digits or with a
# positive exponent, right after what may precede a number in JSON. `_BIG_NUMBER_SPELLING` is
# the cheap question (a uuid `"123e4567-…"` is inside a string: it follows a quote);
# `_TOKENS` answers it exactly: strings are matched whole, so what remains are numbers.
_BIG_NUMBER_SPELLING = re.compile(rb"(?:^|[:\[,\s])-?(?:\d{19}|\d+(?:\.\d+)?[eE]\+?\d)")
_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?')

# Control characters: C0 (U+0000-U+001F), DEL and C1 (U+0080-U+009F). In JSON text a C0
# character can only reach a string as an escape (`\u0000`, `\b`, `\f`, `\n`, `\r`, `\t`;
# raw ones are not JSON), DEL and C1 also as raw UTF-8. The bytes question looks for every
# spelling except `\n`, `\r`, `\t` and their `\u` forms, which multi-line text may hold; an
# escape counts only after an even number of backslashes (`\\b` is a backslash and a `b`).
_CONTROL_SPELLINGS = re.compile(
    rb"(?<!\\)(?:\\\\)*\\(?:u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])|[bf])"
    rb"|\x7f|\xc2[\x80-\x9f]")
# The characters themselves: every control character but tab, line feed, carriage return.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# In one-line text (names, ids, query values) tab and line breaks are control characters too.
LINE_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_MESSAGE = ("String should not contain control characters (only tab, line feed and "
                   "carriage return are allowed)")


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when containers nest deeper than `limit` (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in item)
    return False


def may_nest_too_deep(raw: bytes | bytearray) -> bool:
    """Every nesting level needs its own bracket: with fewer brackets than the limit no value
    can be too deep, and most bodies are answered by this count alone."""
    return raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH


def number_out_of_range(raw: bytes | bytearray) -> int | None:
    """The byte offset of the first number outside [-2**63, 2**64 - 1], or None.

    Read from the bytes, not the decoded value: orjson turns `-9223372036854775809` into the
    float -2**63, which is in range."""
    if _BIG_NUMBER_SPELLING.search(raw) is None:
        return None
    for match in _TOKENS.finditer(raw):
        token = match.group()
        if token[0] == 0x22:  # a string
            continue
        exponent = b"e" in token or b"E" in token
        if len(token) < 19 and not exponent:
            continue  # fewer than 19 digits before any point: below 1e18
        value = float(token) if exponent or b"." in token else int(token)
        if not MIN_NUMBER <= value <= MAX_NUMBER:
            return match.start()
    return None


def control_character_items(raw: bytes | bytearray, value: Any,
                            prefix: tuple[str | int, ...] = ("body",)) -> list[dict[str, Any]]:
    """422 items for every string (object keys too) of `value` that holds a control character
    other than tab, line feed or carriage return; `raw` are the bytes `value` was decoded
    from, asked first."""
    if _CONTROL_SPELLINGS.search(raw) is None:
        return []
    items: list[dict[str, Any]] = []
    # Depth first, children pushed in reverse: items come out in document order.
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, prefix)]
    while stack and len(items) < MAX_REPORTED:
        item, loc = stack.pop()
        if isinstance(item, str):
            if CONTROL_CHARACTERS.search(item):
                items.append(control_item(list(loc)))
        elif isinstance(item, dict):
            for key in item:
                if CONTROL_CHARACTERS.search(key):
                    items.append(control_item([*loc, key, "[key]"]))
            stack.extend((child, (*loc, key)) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((item[index], (*loc, index)) for index in range(len(item) - 1, -1, -1))
    return items[:MAX_REPORTED]


def control_item(loc: list[Any]) -> dict[str, Any]:
    return {"loc": loc, "msg": CONTROL_MESSAGE, "type": "control_character"}
