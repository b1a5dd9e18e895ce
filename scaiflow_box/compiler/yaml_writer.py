"""A small, fast, deterministic YAML writer for JSON-shaped data.

PyYAML's dumper spends ~140 ms on the manifest of a 500-node flow (its
representer is pure Python even with libyaml), which alone breaks the compile
budget, so manifests are written here: block style, 2-space indents, short leaf
collections in flow style (``{x: 0, y: 120}``), multi-line text as literal
blocks, every other string either plain (when it cannot be read back as anything
but that string, by YAML 1.1 or 1.2 rules) or double-quoted with JSON escapes.
No anchors, no tags, keys in insertion order, so the same input always gives the
same bytes. ``yaml.safe_load(dump_yaml(x)) == x`` for every JSON value ``x``
(property-tested in tests/compiler/test_yaml_writer.py).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

_FLOW_WIDTH: Final = 80
_MAX_SIMPLE_KEY: Final = 1000  # YAML limits implicit keys to 1024 characters
# Plain scalars: start with a letter or '/'; no ':', '#', ',', brackets or quotes
# at the start, so nothing can end the scalar early, in block or flow context.
_PLAIN = re.compile(r"[A-Za-z/][A-Za-z0-9 _./()'+-]*")
# Words some YAML version reads as booleans or null.
_RESERVED: Final = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})
# Characters a YAML reader refuses or folds: escape them in double-quoted text.
_NEEDS_ESCAPE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
_LITERAL_SAFE = re.compile(
    "[^\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff\t\r]*"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xD800 <= code <= 0xDFFF:
        return "\\ufffd"  # a lone surrogate is not Unicode text; libyaml refuses it
    return f"\\u{code:04x}"


def _quoted(text: str) -> str:
    out = json.dumps(text, ensure_ascii=False)
    return _NEEDS_ESCAPE.sub(_escape, out)


def _plain_ok(text: str) -> bool:
    if not text or text[-1] == " " or text.lower() in _RESERVED:
        return False
    return _PLAIN.fullmatch(text) is not None


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "." not in text and "e" in text:  # 1e+16 -> 1.0e+16 (YAML 1.1 wants the dot)
        text = text.replace("e", ".0e", 1)
    return text


def _literal_lines(text: str) -> tuple[str, list[str]] | None:
    """(indicator, lines) when ``text`` can be a literal block scalar."""
    if "\n" not in text or not _LITERAL_SAFE.fullmatch(text):
        return None
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    if trailing > 1 or not body:
        return None
    lines = body.split("\n")
    if any(line.endswith(" ") for line in lines):
        return None
    first = next(line for line in lines if line)
    if first.startswith(" "):
        return None  # would need an indentation indicator
    return ("|" if trailing else "|-"), lines


_SCALAR_TYPES: Final = (str, int, float, bool, type(None))


def _scalar_slow(value: Any, flow: bool) -> str | None:
    """Inline form of a scalar (None for containers and literal-block strings)."""
    if isinstance(value, str):
        if "\n" in value:
            if not flow and _literal_lines(value) is not None:
                return None
            return _quoted(value)
        return value if _plain_ok(value) else _quoted(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    return None


def dump_yaml(data: Any) -> str:
    """``data`` (dicts with string keys, lists, str, int, float, bool, None) as YAML."""
    lines: list[str] = []
    append = lines.append
    # Single-line strings repeat a lot (keys, kinds, ports): remember their form.
    # The hot loops below look the cache up inline; function calls dominate otherwise.
    cache: dict[str, str] = {}
    cached = cache.get

    def inline(value: Any, flow: bool) -> str | None:
        if type(value) is str:
            hit = cache.get(value)
            if hit is not None:
                return hit
            text = _scalar_slow(value, flow)
            if text is not None and "\n" not in value:
                cache[value] = text
            return text
        return _scalar_slow(value, flow)

    def key(k: object) -> str:
        if type(k) is str:
            hit = cache.get(k)
            if hit is not None:
                return hit
            text = _quoted(k) if "\n" in k else (k if _plain_ok(k) else _quoted(k))
            if "\n" not in k:
                cache[k] = text
            return text
        raise TypeError(f"mapping keys must be strings, got {type(k).__name__}")

    def short(value: dict[Any, Any] | list[Any]) -> str | None:
        """``{a: 1}`` / ``[1, 2]`` for short collections of scalars, else None."""
        size = 2
        parts = []
        if type(value) is dict:
            for k, v in value.items():
                if type(v) not in _SCALAR_TYPES:
                    return None
                shown = (cached(v) if type(v) is str else None) or inline(v, True)
                text = f"{cached(k) or key(k)}: {shown}"
                size += len(text) + 2
                if size > _FLOW_WIDTH:
                    return None
                parts.append(text)
            return "{" + ", ".join(parts) + "}"
        for v in value:
            if type(v) not in _SCALAR_TYPES:
                return None
            item = (cached(v) if type(v) is str else None) or inline(v, True)
            if item is None:  # not expressible in flow style: write the block form
                return None
            size += len(item) + 2
            if size > _FLOW_WIDTH:
                return None
            parts.append(item)
        return "[" + ", ".join(parts) + "]"

    def write(prefix: str, value: Any, indent: int) -> None:
        """``prefix`` (``"key:"`` or ``"-"``, already indented), then ``value``."""
        t = type(value)
        if t is dict or t is list:
            if not value:
                append(prefix + (" {}" if t is dict else " []"))
                return
            text = short(value)
            if text is not None:
                append(f"{prefix} {text}")
                return
            if prefix[-1] == "-":
                start = len(lines)
                block(value, indent + 2)
                lines[start] = prefix + " " + lines[start][indent + 2 :]
            else:
                append(prefix)
                block(value, indent + 2)
            return
        text = inline(value, False)
        if text is not None:
            append(f"{prefix} {text}")
            return
        if isinstance(value, str):
            literal = _literal_lines(value)
            if literal is None:  # inline() only refuses strings a literal block can hold
                raise ValueError("string cannot be written as YAML")
            indicator, body = literal
            append(f"{prefix} {indicator}")
            pad = " " * (indent + 2)
            lines.extend(pad + line if line else "" for line in body)
            return
        if isinstance(value, dict | list):  # subclasses
            write(prefix, dict(value) if isinstance(value, dict) else list(value), indent)
            return
        raise TypeError(f"cannot write a {type(value).__name__} as YAML")

    def block(value: dict[Any, Any] | list[Any], indent: int) -> None:
        pad = " " * indent
        if type(value) is list:
            dash = pad + "-"
            for item in value:
                write(dash, item, indent)
            return
        for k, v in value.items():  # type: ignore[union-attr]
            text = cached(k) or key(k)
            if len(text) > _MAX_SIMPLE_KEY:
                append(f"{pad}? {text}")
                write(pad + ":", v, indent)
                continue
            tv = type(v)
            if tv is str:  # fast path: a string seen before
                hit = cached(v)
                if hit is not None:
                    append(f"{pad}{text}: {hit}")
                    continue
            elif tv is int:
                append(f"{pad}{text}: {v}")
                continue
            write(f"{pad}{text}:", v, indent)

    if type(data) in (dict, list) and data:
        block(data, 0)
    else:
        write("---", data, 0)
        if not lines[0].startswith("--- |"):
            lines[0] = lines[0][4:]  # a plain top-level scalar needs no document marker
    return "\n".join(lines) + "\n"
