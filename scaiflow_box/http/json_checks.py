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

# The bytes questions are answered at memchr speed: single-byte searches, and regular
# expressions that start with a literal byte (one that starts with a character class, such as
# `\d{19}`, ran 10-70 times slower on a 200 KB flow).

# A number of magnitude 1e18 or more is spelled with 19 or more integer digits or with a
# positive exponent. Both are searched in the body's *shape*: the bytes after one `translate`
# that writes every digit as `0` and `E` as `e` (`0000000000000000000`, `0e0`, `0e+0`). Such a
# spelling may also sit in a string (a uuid `123e4567-…`): `_NUMBER` reads the literal at
# each spelling outside strings.
_SHAPE = bytes.maketrans(b"0123456789E", b"0" * 10 + b"e")
_NINETEEN_DIGITS = b"0" * 19
_EXPONENT = re.compile(rb"0e\+?0")
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NUMBER_BYTES = frozenset(b"0123456789.-+eE")

# Control characters: C0 (U+0000-U+001F), DEL and C1 (U+0080-U+009F). In JSON text a C0
# character can only reach a string as an escape (`\u0000`, `\b`, `\f`, `\n`, `\r`, `\t`;
# raw ones are not JSON), DEL and C1 also as raw UTF-8 (`\x7f`, `\xc2\x80`-`\xc2\x9f`). The
# bytes say whether one may be there (an escape may still be text: `\\b` is a backslash and
# a `b`), and only then is the decoded value walked. `\n`, `\r`, `\t` are never asked about:
# multi-line text may hold them.
_CONTROL_ESCAPE = re.compile(
    rb"\\(?:[bf]|u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF]|[89][0-9a-fA-F]))")
_C1 = re.compile(rb"\xc2[\x80-\x9f]")
# The characters themselves: every control character but tab, line feed, carriage return.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# In one-line text (names, ids, query values) tab and line breaks are control characters too.
LINE_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_MESSAGE = ("String should not contain control characters (only tab, line feed and "
                   "carriage return are allowed)")


def _nests_deeper(container: Any, levels: int) -> bool:
    """True when `container` (a dict or a list) holds containers more than `levels` levels
    below itself."""
    for child in (container.values() if type(container) is dict else container):
        kind = type(child)
        if (kind is dict or kind is list) and (levels == 0 or _nests_deeper(child, levels - 1)):
            return True
    return False


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when containers nest deeper than `limit`. Recursive, which is safe: it stops at
    `limit` levels (64 frames), and ten times faster than a walk with its own stack (a
    500-node flow: 2.5 ms against 25 ms), since scalars are only looked at."""
    kind = type(value)
    return (kind is dict or kind is list) and _nests_deeper(value, limit - 1)


def may_nest_too_deep(raw: bytes | bytearray) -> bool:
    """Every nesting level needs its own bracket: with fewer brackets than the limit no value
    can be too deep, and most bodies are answered by this count alone."""
    return raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH


def _in_strings(cleaned: bytes, positions: list[int]) -> list[bool]:
    """For ascending `positions`, whether each is inside a JSON string: an odd number of
    quotes before it (`cleaned` has its escaped backslashes and quotes blanked)."""
    inside: list[bool] = []
    quotes = last = 0
    for position in positions:
        quotes += cleaned.count(b'"', last, position)
        last = position
        inside.append(quotes % 2 == 1)
    return inside


def number_out_of_range(raw: bytes | bytearray) -> int | None:
    """The byte offset of the first number outside [-2**63, 2**64 - 1], or None.

    Read from the bytes, not the decoded value: orjson turns `-9223372036854775809` into the
    float -2**63, which is in range."""
    data = bytes(raw)
    shape = data.translate(_SHAPE)
    candidates = [match.start() for match in _EXPONENT.finditer(shape)]
    position = shape.find(_NINETEEN_DIGITS)
    while position >= 0:
        candidates.append(position)
        position = shape.find(_NINETEEN_DIGITS, position + 1)
    if not candidates:
        return None
    candidates.sort()
    cleaned = data.replace(b"\\\\", b"\0\0").replace(b'\\"', b"\0\0")
    for position, inside in zip(candidates, _in_strings(cleaned, candidates), strict=True):
        if inside:
            continue
        start = position
        while start > 0 and data[start - 1] in _NUMBER_BYTES:
            start -= 1
        match = _NUMBER.match(data, start)
        if match is None:
            continue
        token = match.group()
        integral = token.lstrip(b"-").isdigit()
        value = int(token) if integral else float(token)
        if not MIN_NUMBER <= value <= MAX_NUMBER:
            return start
    return None


def control_character_items(raw: bytes | bytearray, value: Any,
                            prefix: tuple[str | int, ...] = ("body",)) -> list[dict[str, Any]]:
    """422 items for every string (object keys too) of `value` that holds a control character
    other than tab, line feed or carriage return; `raw` are the bytes `value` was decoded
    from, asked first."""
    if not (b"\x7f" in raw or (b"\xc2" in raw and _C1.search(raw) is not None)
            or _CONTROL_ESCAPE.search(raw) is not None):
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
