"""Server-to-client WebSocket frames (RFC 6455 §5.2), encoded once and written to many sockets.

The live-editing relay sends one message to every client of a flow: encoding the frame once
and writing the same bytes to each connection costs a `transport.write` per client and nothing
more. Server frames are never masked, and the relay's sockets negotiate no extension
(permessage-deflate is off), so a frame is a FIN bit, an opcode, a length and the payload.
"""

from __future__ import annotations

import struct

OPCODE_TEXT = 0x1
OPCODE_BINARY = 0x2
_FIN = 0x80


def server_frame(payload: bytes, *, opcode: int = OPCODE_BINARY) -> bytes:
    """One complete, unfragmented, unmasked frame carrying `payload`."""
    first = _FIN | opcode
    length = len(payload)
    if length < 126:
        header = bytes((first, length))
    elif length < 65536:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


def binary_frame(payload: bytes) -> bytes:
    return server_frame(payload, opcode=OPCODE_BINARY)


def text_frame(text: bytes) -> bytes:
    """`text` must be UTF-8 (the relay's JSON, from orjson, always is)."""
    return server_frame(text, opcode=OPCODE_TEXT)
