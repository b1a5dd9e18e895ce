"""The y-websocket wire protocol, as pure functions on bytes (no I/O, no Yjs document).

Checked against the source of y-protocols 1.0.7 (`sync.js`, `awareness.js`, `auth.js`) and of
y-websocket 3.0.0 (`src/y-websocket.js`), which encode with lib0: a *varuint* is 7 bits per byte,
least significant group first, the high bit set on every byte but the last; a *var bytes* is a
varuint length and that many bytes; a *var string* is var bytes holding UTF-8.

One WebSocket binary message is one y-websocket message:

    varuint message type
      0 sync             varuint step, then var bytes:
                           0 step 1: the sender's state vector ("what I have")
                           1 step 2: an update with what the step 1's sender lacks
                           2 update: an update made since
      1 awareness        var bytes: varuint n, then n times (varuint client id, varuint clock,
                         var string state as JSON; `null` when that client has left)
      2 auth             varuint 0 (permission denied), var string reason (server → client)
      3 query awareness  nothing: "send me every awareness state you know"

lib0's decoders ignore bytes after the message; so does this module. Anything shorter than its
own lengths, or a varuint over 2^53 (lib0's limit), is a `ProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass

MESSAGE_SYNC = 0
MESSAGE_AWARENESS = 1
MESSAGE_AUTH = 2
MESSAGE_QUERY_AWARENESS = 3

SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2

# A Yjs update with no structs and an empty delete set: what a client with nothing new sends
# as its step 2.
EMPTY_UPDATE = b"\x00\x00"
MAX_VARUINT = 2**53  # Number.MAX_SAFE_INTEGER + 1: lib0 refuses anything larger


class ProtocolError(ValueError):
    """Bytes that are not a y-websocket message (the text says what is wrong, never the bytes)."""


class InvalidUpdate(ValueError):
    """Bytes that Yrs cannot decode as an update or a state vector (collab/replica.py raises
    it; it lives here so that catching it does not load pycrdt)."""


def write_var_uint(value: int) -> bytes:
    if value < 0:
        raise ValueError("a varuint cannot be negative")
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def read_var_uint(data: bytes, pos: int) -> tuple[int, int]:
    """The varuint at `pos` and the position after it."""
    value = 0
    shift = 0
    end = len(data)
    while pos < end:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if value >= MAX_VARUINT or shift > 56:
            raise ProtocolError("a varuint is larger than 2^53")
    raise ProtocolError("the message ends inside a varuint")


def write_var_bytes(payload: bytes) -> bytes:
    return write_var_uint(len(payload)) + payload


def read_var_bytes(data: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_var_uint(data, pos)
    end = pos + length
    if end > len(data):
        raise ProtocolError("the message is shorter than the length it announces")
    return data[pos:end], end


@dataclass(frozen=True, slots=True)
class Message:
    """A parsed message: its type, the sync step (sync messages only) and the var-bytes
    payload (sync and awareness; empty for the others)."""

    kind: int
    step: int | None = None
    payload: bytes = b""


def parse(data: bytes) -> Message:
    """Parse one message. Types this module does not define parse as `Message(kind)`."""
    if not data:
        raise ProtocolError("an empty message")
    kind, pos = read_var_uint(data, 0)
    if kind == MESSAGE_SYNC:
        step, pos = read_var_uint(data, pos)
        if step not in (SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE):
            raise ProtocolError(f"unknown sync step {step}")
        payload, _ = read_var_bytes(data, pos)
        return Message(kind, step, payload)
    if kind == MESSAGE_AWARENESS:
        payload, _ = read_var_bytes(data, pos)
        return Message(kind, None, payload)
    return Message(kind)


def sync_step1(state_vector: bytes) -> bytes:
    return bytes((MESSAGE_SYNC, SYNC_STEP1)) + write_var_bytes(state_vector)


def sync_step2(update: bytes) -> bytes:
    return bytes((MESSAGE_SYNC, SYNC_STEP2)) + write_var_bytes(update)


def sync_update(update: bytes) -> bytes:
    return bytes((MESSAGE_SYNC, SYNC_UPDATE)) + write_var_bytes(update)


def step2_as_update(message: bytes) -> bytes:
    """A client's step 2, re-labelled as an update for the other clients: they did not ask for
    it, and a step 2 would tell a client still waiting for the box's answer that it is synced.
    Both type bytes are single-byte varuints, so only the second byte changes."""
    if message[:2] != bytes((MESSAGE_SYNC, SYNC_STEP2)):
        raise ValueError("not a sync step 2 message")
    return bytes((MESSAGE_SYNC, SYNC_UPDATE)) + message[2:]


# -- awareness -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One client's awareness state: `state` is its JSON text, `null` once it has left."""

    client_id: int
    clock: int
    state: str

    @property
    def removed(self) -> bool:
        return self.state == "null"


def parse_awareness(update: bytes) -> list[AwarenessEntry]:
    count, pos = read_var_uint(update, 0)
    entries: list[AwarenessEntry] = []
    for _ in range(count):
        client_id, pos = read_var_uint(update, pos)
        clock, pos = read_var_uint(update, pos)
        raw, pos = read_var_bytes(update, pos)
        try:
            state = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("an awareness state is not UTF-8") from None
        entries.append(AwarenessEntry(client_id, clock, state))
    return entries


def encode_awareness(entries: list[AwarenessEntry]) -> bytes:
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        parts += [write_var_uint(entry.client_id), write_var_uint(entry.clock),
                  write_var_bytes(entry.state.encode("utf-8"))]
    return b"".join(parts)


def awareness_message(entries: list[AwarenessEntry]) -> bytes:
    return bytes((MESSAGE_AWARENESS,)) + write_var_bytes(encode_awareness(entries))


# An awareness message with no entries: y-websocket counts any message as a sign of life (it
# reconnects after 30 s of silence), and applying it changes nothing. The box sends it to a
# client it has had nothing to send to for a while.
KEEPALIVE = awareness_message([])
