"""Syntax of the safe expression language: tokenizer, syntax tree and parser.

A hand-written tokenizer and recursive-descent parser over a whitelisted grammar
(docs/compiler.md, "Expressions"). Input length and nesting depth are bounded,
names starting with ``_`` and anything that looks like a call or arithmetic are
refused with a message that says where. Evaluation lives in ``expr``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from scaiflow_box.compiler.errors import CompilerError

MAX_EXPRESSION_LENGTH: Final = 1000
MAX_NESTING_DEPTH: Final = 32

KEYWORDS: Final = frozenset(
    {"and", "or", "not", "in", "true", "false", "null", "True", "False", "None"}
)
_CONSTANTS: Final[dict[str, Any]] = {
    "true": True,
    "True": True,
    "false": False,
    "False": False,
    "null": None,
    "None": None,
}
_COMPARE_OPS: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})


class ExpressionError(CompilerError, ValueError):
    """An expression that does not parse, or fails to evaluate."""


# Tokens ---------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>()\[\],.!-])
  | (?P<quote>['"])
    """,
    re.VERBOSE,
)
_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r", "/": "/"}


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # number | string | name | op | end
    text: str
    value: Any
    pos: int


def _read_string(text: str, start: int) -> tuple[str, int]:
    """The string literal opening at ``start``; returns (value, index after it)."""
    quote = text[start]
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= n:
                break
            esc = text[i + 1]
            if esc == "u":
                digits = text[i + 2 : i + 6]
                if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise ExpressionError(f"invalid \\u escape at position {i}")
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            if esc not in _ESCAPES:
                raise ExpressionError(f"invalid escape '\\{esc}' at position {i}")
            out.append(_ESCAPES[esc])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ExpressionError(f"unterminated string starting at position {start}")


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression is too long ({len(text)} characters; the limit is {MAX_EXPRESSION_LENGTH})"
        )
    tokens: list[Token] = []
    pos = 0
    n = len(text)
    while pos < n:
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] == "=":
                raise ExpressionError(f"unexpected '=' at position {pos} (use '==' to compare)")
            if text[pos] in "+*/%":
                raise ExpressionError(
                    f"unexpected {text[pos]!r} at position {pos} (there is no arithmetic)"
                )
            raise ExpressionError(f"unexpected character {text[pos]!r} at position {pos}")
        group = match.lastgroup
        value = match.group()
        if group == "quote":
            literal, end = _read_string(text, pos)
            tokens.append(Token("string", text[pos:end], literal, pos))
            pos = end
            continue
        if group == "number":
            tokens.append(Token("number", value, _number(value, pos), pos))
        elif group == "name":
            if value.startswith("_"):
                raise ExpressionError(
                    f"names starting with '_' are not allowed ({value!r} at position {pos})"
                )
            tokens.append(Token("name", value, value, pos))
        elif group == "op":
            tokens.append(Token("op", value, value, pos))
        pos = match.end()
    tokens.append(Token("end", "", None, n))
    return tokens


def _number(text: str, pos: int) -> int | float:
    if "." in text or "e" in text or "E" in text:
        value = float(text)
        if not math.isfinite(value):
            raise ExpressionError(f"number {text!r} at position {pos} is out of range")
        return value
    return int(text)  # at most MAX_EXPRESSION_LENGTH digits: below Python's int limit


# Syntax tree ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lit:
    value: Any


@dataclass(frozen=True, slots=True)
class Name:
    name: str


@dataclass(frozen=True, slots=True)
class Attr:
    obj: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    obj: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class ListOf:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Expr, ...]  # n-ary, so long chains never nest deeply


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # == != < <= > >= in "not in"
    left: Expr
    right: Expr


Expr = Lit | Name | Attr | Index | ListOf | Not | BoolOp | Compare


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def _is(self, kind: str, text: str | None = None) -> bool:
        tok = self.tokens[self.i]
        return tok.kind == kind and (text is None or tok.text == text)

    def _advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _expect_op(self, text: str) -> None:
        if not self._is("op", text):
            raise self._unexpected(f"expected {text!r}")
        self.i += 1

    def _unexpected(self, hint: str = "") -> ExpressionError:
        tok = self.tok
        what = "end of expression" if tok.kind == "end" else repr(tok.text)
        suffix = f" ({hint})" if hint else ""
        return ExpressionError(f"unexpected {what} at position {tok.pos}{suffix}")

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING_DEPTH:
            raise ExpressionError(
                f"expression is nested too deeply (the limit is {MAX_NESTING_DEPTH})"
            )

    def parse(self) -> Expr:
        if self._is("end"):
            raise ExpressionError("empty expression")
        node = self.expr()
        if not self._is("end"):
            if self.tok.kind == "op" and self.tok.text in _COMPARE_OPS:
                raise ExpressionError(
                    f"chained comparison at position {self.tok.pos} is not supported; "
                    "combine comparisons with 'and'"
                )
            raise self._unexpected()
        return node

    def expr(self) -> Expr:
        self._enter()
        node = self._or()
        self.depth -= 1
        return node

    def _or(self) -> Expr:
        operands = [self._and()]
        while self._is("name", "or") or self._is("op", "||"):
            self.i += 1
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else BoolOp("or", tuple(operands))

    def _and(self) -> Expr:
        operands = [self._not()]
        while self._is("name", "and") or self._is("op", "&&"):
            self.i += 1
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else BoolOp("and", tuple(operands))

    def _not(self) -> Expr:
        if self._is("name", "not") or self._is("op", "!"):
            self.i += 1
            self._enter()
            node: Expr = Not(self._not())
            self.depth -= 1
            return node
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._postfix()
        tok = self.tok
        op: str | None = None
        if tok.kind == "op" and tok.text in _COMPARE_OPS:
            op = tok.text
            self.i += 1
        elif self._is("name", "in"):
            op = "in"
            self.i += 1
        elif self._is("name", "not") and self.tokens[self.i + 1].text == "in":
            op = "not in"
            self.i += 2
        if op is None:
            return left
        return Compare(op, left, self._postfix())

    def _postfix(self) -> Expr:
        node = self._primary()
        chain = 0
        while True:
            if self._is("op", ".") or self._is("op", "["):
                chain += 1
                if chain > MAX_NESTING_DEPTH:
                    raise ExpressionError(
                        f"expression is nested too deeply (the limit is {MAX_NESTING_DEPTH})"
                    )
            if self._is("op", "."):
                self.i += 1
                tok = self.tok
                if tok.kind != "name":
                    raise self._unexpected("expected an attribute name after '.'")
                self.i += 1
                node = Attr(node, tok.text)
            elif self._is("op", "["):
                self.i += 1
                index = self.expr()
                self._expect_op("]")
                node = Index(node, index)
            else:
                return node

    def _primary(self) -> Expr:
        tok = self.tok
        if tok.kind in ("number", "string"):
            self.i += 1
            return Lit(tok.value)
        if tok.kind == "op" and tok.text == "-":
            self.i += 1
            nxt = self.tok
            if nxt.kind != "number":
                raise ExpressionError(
                    f"'-' at position {tok.pos} is only allowed before a number (no arithmetic)"
                )
            self.i += 1
            return Lit(-nxt.value)
        if tok.kind == "name":
            if tok.text in _CONSTANTS:
                self.i += 1
                return Lit(_CONSTANTS[tok.text])
            if tok.text in KEYWORDS:
                raise self._unexpected("a keyword cannot be used here")
            self.i += 1
            if self._is("op", "("):
                raise ExpressionError(
                    f"function calls are not allowed ({tok.text!r} at position {tok.pos})"
                )
            return Name(tok.text)
        if self._is("op", "("):
            self.i += 1
            node = self.expr()
            self._expect_op(")")
            return node
        if self._is("op", "["):
            self.i += 1
            self._enter()
            items: list[Expr] = []
            while not self._is("op", "]"):
                items.append(self.expr())
                if self._is("op", ","):
                    self.i += 1
                elif not self._is("op", "]"):
                    raise self._unexpected("expected ',' or ']'")
            self.i += 1
            self.depth -= 1
            return ListOf(tuple(items))
        raise self._unexpected()


@lru_cache(maxsize=2048)
def parse(text: str) -> Expr:
    """Parse an expression; raises ``ExpressionError`` with the position of the problem."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be a string")
    return _Parser(tokenize(text)).parse()
