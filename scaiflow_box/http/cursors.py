"""Opaque, tamper-evident pagination cursors (SPEC §1).

A cursor is `base64url(json values) . base64url(mac)`, where the MAC (HMAC-SHA256, 128 bits)
covers the values and a context naming the operation, the tenant and the path parameters.
A cursor that was edited, forged, or issued for another list, tenant or flow fails the MAC and
is answered 400 `invalid_cursor`. The key is derived from the master key, so cursors stay valid
across restarts and become invalid when the master key changes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import orjson

from scaiflow_box.errors import InvalidInput

MAC_BYTES = 16
MAX_CURSOR_CHARS = 1024


def invalid_cursor() -> InvalidInput:
    return InvalidInput("the cursor is not one this list issued", code="invalid_cursor",
                        fix="Pass the next_cursor of the previous page unchanged.")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_master_key(cls, master_key: bytes) -> CursorCodec:
        return cls(hmac.new(master_key, b"scaiflow-box cursor key v1", hashlib.sha256).digest())

    def _mac(self, context: str, payload: bytes) -> bytes:
        message = context.encode() + b"\x00" + payload
        return hmac.new(self._key, message, hashlib.sha256).digest()[:MAC_BYTES]

    def encode(self, context: str, values: list[Any]) -> str:
        payload = orjson.dumps(values)
        return f"{_b64encode(payload)}.{_b64encode(self._mac(context, payload))}"

    def decode(self, context: str, cursor: str, arity: int) -> list[Any]:
        if len(cursor) > MAX_CURSOR_CHARS or cursor.count(".") != 1:
            raise invalid_cursor()
        body, _, mac = cursor.partition(".")
        try:
            payload = _b64decode(body)
            given = _b64decode(mac)
        except (binascii.Error, ValueError):
            raise invalid_cursor() from None
        if not hmac.compare_digest(given, self._mac(context, payload)):
            raise invalid_cursor()
        try:
            values = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise invalid_cursor() from None
        if not isinstance(values, list) or len(values) != arity:
            raise invalid_cursor()
        return values
