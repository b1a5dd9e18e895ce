"""A strict reader for the YAML this compiler writes (``yaml_writer.dump_yaml``).

Importing a 500-node manifest through PyYAML costs ~160 ms of CPU: libyaml parses it in C,
but every node is then resolved and constructed in Python. Manifests written by ScaiFlow use
a small, fixed dialect (block mappings and sequences indented by two spaces, short flow
collections of scalars, plain or JSON-quoted strings, literal blocks, no anchors, tags,
comments or documents markers), which this reader turns straight into JSON values.

It reads only what the writer writes, the way PyYAML reads it (property-tested in
tests/compiler/test_yaml_reader.py against ``yaml.safe_load``). Anything else, including
every construct that could mean something else under YAML 1.1 (anchors, tags, merge keys,
``yes``/``on``, ``~``, octal or sexagesimal numbers, comments, tabs, reserved words in any
case), makes it give up with ``NotOurDialect``, and the importer reads the text with PyYAML,
which decides.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

MAX_DEPTH: Final = 100  # containers deep; the importer's own limit
MAX_VALUES: Final = 2_000_000  # the importer's budget of values


class NotOurDialect(Exception):
    """The text is not in the writer's dialect (PyYAML reads it instead)."""


# What the writer leaves plain (yaml_writer._PLAIN, minus the reserved words).
_PLAIN: Final = re.compile(r"[A-Za-z/][A-Za-z0-9 _./()'+-]*")
_RESERVED: Final = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})
_RESERVED_LEN: Final = max(map(len, _RESERVED))
_INT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT: Final = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+][0-9]+)?")
# Characters a YAML reader refuses, folds as line breaks (NEL, LS, PS) or strips (BOM): the
# writer escapes every one of them, so text that holds one raw is not its output.
_UNPRINTABLE: Final = re.compile(
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
    "\U00010000-\U0010ffff]")
# The same for text that is all ASCII (most manifests): the control characters but the line
# break, deleted by `str.translate` (its ASCII path is ten times faster than the pattern).
_ASCII_CONTROLS: Final = str.maketrans(
    "", "", "".join(chr(c) for c in (*range(0x20), 0x7F) if c != 0x0A))
# An escaped surrogate: JSON pairs two of them into one character, PyYAML does not.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
# A double-quoted JSON string as json.dumps writes it, escapes included.
_QUOTED: Final = re.compile(r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"')
# One line of a block: indentation, then `- ` items, then `key:` and what follows it.
_KEY: Final = re.compile(r'("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
                         r"|[A-Za-z/][A-Za-z0-9 _./()'+-]*):(?: (.*))?$")
_FLOW_ITEM: Final = re.compile(
    r'\s*("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"|[^,{}\[\]"]*?)\s*(,|$)')
_FLOW_PAIR: Final = re.compile(
    r'\s*("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"|[A-Za-z/][A-Za-z0-9 _./()\'+-]*)'
    r': ("(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"|[^,{}\[\]"]*?)\s*(,|$)')


def _scalar(token: str) -> Any:
    """A plain or quoted scalar as PyYAML resolves it; NotOurDialect for anything else."""
    if not token:
        raise NotOurDialect("empty value")
    first = token[0]
    if first == '"':
        if _QUOTED.fullmatch(token) is None or _SURROGATE_ESCAPE.search(token):
            raise NotOurDialect("quoted text")
        text: str = json.loads(token)
        return text
    if token == "true":
        return True
    if token == "false":
        return False
    if token == "null":
        return None
    if first == "-" or first.isdigit():
        if _INT.fullmatch(token):
            return int(token)
        if _FLOAT.fullmatch(token):
            return float(token)
        raise NotOurDialect(f"number {token!r}")
    if (_PLAIN.fullmatch(token) is None or token[-1] == " "
            or (len(token) <= _RESERVED_LEN and token.lower() in _RESERVED)):
        raise NotOurDialect(f"plain {token!r}")
    return token


def _key(token: str) -> str:
    value = _scalar(token)
    if not isinstance(value, str):
        raise NotOurDialect("a key that is not a string")
    return value


def _flow(text: str) -> Any:
    """`{a: 1, b: "x"}` or `[1, x]`: scalars only, as the writer's short collections."""
    if text == "{}":
        return {}
    if text == "[]":
        return []
    inner = text[1:-1]
    if text[0] == "{" and text[-1] == "}":
        mapping: dict[str, Any] = {}
        pos = 0
        while pos < len(inner):
            match = _FLOW_PAIR.match(inner, pos)
            if match is None or (match.group(3) == "," and match.end() == len(inner)):
                raise NotOurDialect("flow mapping")
            mapping[_key(match.group(1))] = _scalar(match.group(2))
            pos = match.end()
            if inner[pos - 1:pos] == ",":
                if inner[pos:pos + 1] != " ":
                    raise NotOurDialect("flow mapping spacing")
                pos += 1
        return mapping
    if text[0] == "[" and text[-1] == "]":
        items: list[Any] = []
        pos = 0
        while pos < len(inner):
            match = _FLOW_ITEM.match(inner, pos)
            if match is None or match.end() == pos:
                raise NotOurDialect("flow sequence")
            items.append(_scalar(match.group(1)))
            pos = match.end()
            if match.group(2) == ",":
                if inner[pos:pos + 1] != " " or pos == len(inner):
                    raise NotOurDialect("flow sequence spacing")
                pos += 1
        return items
    raise NotOurDialect("flow collection")


def _plain_entry(text: str) -> bool:
    """Whether `_KEY` matches `text`, for text that does not start with a quote."""
    colon = text.find(":")
    return (colon > 0 and text[colon + 1:colon + 2] in ("", " ")
            and _PLAIN.fullmatch(text, 0, colon) is not None)


class _Reader:
    def __init__(self, text: str) -> None:
        if (len(text.translate(_ASCII_CONTROLS)) != len(text) if text.isascii()
                else _UNPRINTABLE.search(text) is not None):
            raise NotOurDialect("tabs, carriage returns or characters YAML treats apart")
        if not text.endswith("\n"):
            raise NotOurDialect("no final newline")
        self.lines = text[:-1].split("\n")
        self.pos = 0
        # Values read, as the importer counts them: the document, every item of a block or
        # flow collection (added as each one ends).
        self.values = 1

        # Tokens repeat (keys, kinds, ports): each is resolved once. Scalars are immutable, so
        # the values can be shared; flow collections are rebuilt from their cached items.
        self.scalars: dict[str, Any] = {}
        self.flows: dict[str, tuple[bool, tuple[Any, ...]]] = {}
        self.entries: dict[str, tuple[str, str | None]] = {}
        # Whole lines already read as a mapping entry: (indentation, key, what follows).
        self.lines_read: dict[str, tuple[int, str, str | None]] = {}

    def scalar(self, token: str) -> Any:
        try:
            return self.scalars[token]
        except KeyError:
            value = self.scalars[token] = _scalar(token)
            return value

    def flow(self, text: str) -> Any:
        hit = self.flows.get(text)
        if hit is None:
            value = self.split_flow(text)
            if value is None:
                value = _flow(text)
            is_map = isinstance(value, dict)
            hit = self.flows[text] = (is_map, tuple(value.items()) if is_map else tuple(value))
        self.values += len(hit[1])
        return dict(hit[1]) if hit[0] else list(hit[1])

    def split_flow(self, text: str) -> Any:
        """A short collection in the writer's own layout (`{a: 1, "y": x}`, `[a, b]`): split
        at `, ` and `: `, each item read through the cache of scalars. None when any part is
        off (a quoted item holding `, ` or `: `, other spacing): `_flow` decides then."""
        opening = text[0]
        if text[-1] != ("}" if opening == "{" else "]"):
            return None
        inner = text[1:-1]
        scalar = self.scalar
        try:
            if opening == "{":
                mapping: dict[str, Any] = {}
                for part in inner.split(", "):
                    key, colon, value = part.partition(": ")
                    name = scalar(key)
                    if not colon or type(name) is not str:
                        return None
                    mapping[name] = scalar(value)
                return mapping
            return [scalar(item) for item in inner.split(", ")]
        except NotOurDialect:
            return None

    @staticmethod
    def indent_of(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    def value(self, rest: str | None, indent: int, depth: int) -> Any:
        """What follows `key:` or `-` on its line (None: a block below, at indent + 2)."""
        if depth > MAX_DEPTH:
            raise NotOurDialect("nested too deeply")
        if rest is None:
            return self.block(indent + 2, depth + 1)
        if not rest:
            raise NotOurDialect("empty value")
        if rest in ("|", "|-"):
            return self.literal(indent + 2, keep_newline=rest == "|")
        if rest[0] in "{[":
            return self.flow(rest)
        return self.scalar(rest)

    def literal(self, indent: int, *, keep_newline: bool) -> str:
        pad = " " * indent
        body: list[str] = []
        lines = self.lines
        while self.pos < len(lines):
            line = lines[self.pos]
            if line == "":
                body.append("")
            elif line.startswith(pad):
                body.append(line[indent:])
            else:
                break
            self.pos += 1
        while body and body[-1] == "":  # blank lines after the block belong to nothing
            body.pop()
            self.pos -= 1
        if not body or body[0].startswith(" ") or any(b.endswith(" ") for b in body):
            raise NotOurDialect("literal block")
        return "\n".join(body) + ("\n" if keep_newline else "")

    def block(self, indent: int, depth: int) -> Any:
        lines = self.lines
        if self.pos >= len(lines):
            raise NotOurDialect("missing block")
        line = lines[self.pos]
        if self.indent_of(line) != indent:
            raise NotOurDialect("indentation")
        if line.startswith("- ", indent):
            return self.sequence(indent, depth)
        return self.mapping(indent, depth, line[indent:])

    def entry(self, text: str) -> tuple[str, str | None]:
        """(key, what follows `key:`) of a mapping line (without its indentation)."""
        hit = self.entries.get(text)
        if hit is None:
            if text[:1] == '"':
                match = _KEY.match(text)
                if match is None:
                    raise NotOurDialect("mapping entry")
                token, rest = match.group(1), match.group(2)
            else:  # a plain key: up to the first colon, as `_KEY` reads it
                token, colon, after = text.partition(":")
                if not colon or after[:1] not in ("", " "):
                    raise NotOurDialect("mapping entry")
                rest = after[1:] if after else None
            if rest == "":
                raise NotOurDialect("empty value")
            key = self.scalar(token)  # for a plain key: what `_KEY` allows, no reserved word
            if type(key) is not str:
                raise NotOurDialect("a key that is not a string")
            hit = self.entries[text] = (key, rest)
        return hit

    def mapping(self, indent: int, depth: int, first: str) -> dict[str, Any]:
        """A block mapping whose first entry is `first` (its line may start with `- `)."""
        result: dict[str, Any] = {}
        lines = self.lines
        end = len(lines)
        scalar = self.scalar
        flow = self.flow
        known = self.lines_read.get
        key, rest = self.entry(first)
        pos = self.pos
        while True:
            pos += 1
            if key in result:
                raise NotOurDialect("duplicate key")
            if rest is None or rest[0] == "|":
                self.pos = pos  # a block or a literal moves on past its lines
                result[key] = self.value(rest, indent, depth)
                pos = self.pos
            elif rest[0] in "{[":
                if depth > MAX_DEPTH:
                    raise NotOurDialect("nested too deeply")
                result[key] = flow(rest)
            else:
                result[key] = scalar(rest)
            if pos >= end:
                break
            line = lines[pos]
            hit = known(line)
            if hit is None:
                at = self.indent_of(line)
                if at < indent:
                    if line == "":
                        raise NotOurDialect("blank line")
                    break  # less indented: the mapping ends
                if at > indent or line[at:at + 1] in ("-", ""):
                    raise NotOurDialect("indentation")
                key, rest = self.entry(line[at:])
                self.lines_read[line] = (at, key, rest)
            else:
                at, key, rest = hit
                if at != indent:
                    if at > indent:
                        raise NotOurDialect("indentation")
                    break
        self.pos = pos
        self.values += len(result)
        return result

    def sequence(self, indent: int, depth: int) -> list[Any]:
        """A block sequence at `indent`; every item starts with `- ` on its own line."""
        if depth > MAX_DEPTH:
            raise NotOurDialect("nested too deeply")
        result: list[Any] = []
        lines = self.lines
        end = len(lines)
        dash = " " * indent + "- "
        inner = indent + 2
        flow = self.flow
        pos = self.pos
        while True:
            rest = lines[pos][inner:]
            if rest[:1] in ("{", "["):  # a short collection: the most common item
                pos += 1
                result.append(flow(rest))
            elif rest.startswith("- "):
                # A sequence in a sequence: the writer puts its first item on the dash line,
                # the others two spaces further in.
                lines[pos] = " " * inner + rest
                self.pos = pos
                result.append(self.sequence(inner, depth + 1))
                pos = self.pos
            elif rest[:1] in ('"', "|") or rest in self.scalars or not _plain_entry(rest):
                self.pos = pos + 1
                result.append(self.value(rest, indent, depth))
                pos = self.pos
            else:
                # A mapping in a sequence: its first entry on the dash line, likewise.
                self.pos = pos
                result.append(self.mapping(inner, depth + 1, rest))
                pos = self.pos
            if pos >= end:
                break
            line = lines[pos]
            if not line.startswith(dash):
                if line == "":
                    raise NotOurDialect("blank line")
                if self.indent_of(line) >= indent:  # not an item, yet not less indented
                    raise NotOurDialect("indentation")
                break
        self.pos = pos
        self.values += len(result)
        return result


def read_yaml(text: str) -> Any:
    """The JSON value of a document in the writer's dialect; NotOurDialect otherwise."""
    reader = _Reader(text)
    if not reader.lines or reader.lines[0].startswith(("---", "%", " ")):
        raise NotOurDialect("document marker, directive or indented start")
    value = reader.block(0, 1)
    if reader.pos != len(reader.lines):
        raise NotOurDialect("trailing text")
    if reader.values > MAX_VALUES:
        raise NotOurDialect("too many values")
    return value
