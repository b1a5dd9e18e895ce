"""The y-websocket wire codec (collab/yprotocol.py) and the frames the relay writes
(collab/ws_frames.py): round trips, the byte layouts y-protocols and lib0 use, refusals."""

from __future__ import annotations

import pycrdt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaiflow_box.collab import yprotocol as yp
from scaiflow_box.collab.replica import build_replica, decode_state_vector
from scaiflow_box.collab.ws_frames import binary_frame, text_frame


@given(st.integers(min_value=0, max_value=2**53 - 1))
def test_varuints_round_trip(value: int) -> None:
    encoded = yp.write_var_uint(value)
    assert yp.read_var_uint(encoded + b"rest", 0) == (value, len(encoded))


def test_varuints_are_lib0s_layout() -> None:
    # 7 bits per byte, least significant group first (lib0 encoding.writeVarUint)
    assert yp.write_var_uint(0) == b"\x00"
    assert yp.write_var_uint(127) == b"\x7f"
    assert yp.write_var_uint(128) == b"\x80\x01"
    assert yp.write_var_uint(300) == b"\xac\x02"
    with pytest.raises(yp.ProtocolError, match="ends inside"):
        yp.read_var_uint(b"\x80\x80", 0)
    with pytest.raises(yp.ProtocolError, match="larger than 2\\^53"):
        yp.read_var_uint(b"\xff" * 9 + b"\x01", 0)


@given(st.binary(max_size=300))
def test_sync_messages_round_trip(payload: bytes) -> None:
    for build, step in ((yp.sync_step1, yp.SYNC_STEP1), (yp.sync_step2, yp.SYNC_STEP2),
                        (yp.sync_update, yp.SYNC_UPDATE)):
        message = build(payload)
        assert yp.parse(message) == yp.Message(yp.MESSAGE_SYNC, step, payload)


def test_message_layouts_match_y_protocols() -> None:
    # messageSync, messageYjsUpdate, writeVarUint8Array(update)
    assert yp.sync_update(b"\x01\x02") == b"\x00\x02\x02\x01\x02"
    assert yp.sync_step1(b"\x00") == b"\x00\x00\x01\x00"
    assert yp.step2_as_update(yp.sync_step2(b"ab")) == yp.sync_update(b"ab")
    assert yp.parse(b"\x03") == yp.Message(yp.MESSAGE_QUERY_AWARENESS)
    assert yp.parse(b"\x7f\x01\x02") == yp.Message(127)  # undefined types parse, to relay
    assert yp.KEEPALIVE == b"\x01\x01\x00"  # awareness, var bytes [0 entries]
    with pytest.raises(ValueError):
        yp.step2_as_update(yp.sync_update(b"ab"))


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"\x00", "ends inside"),
    (b"\x00\x07\x00", "unknown sync step 7"),
    (b"\x00\x02\x05ab", "shorter than the length"),
    (b"\x01\x09\x00", "shorter than the length"),
])
def test_malformed_messages_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(yp.ProtocolError, match=reason):
        yp.parse(data)


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**40),
                          st.one_of(st.just("null"), st.text(max_size=40))), max_size=5))
def test_awareness_updates_round_trip(items: list[tuple[int, int, str]]) -> None:
    entries = [yp.AwarenessEntry(*item) for item in items]
    assert yp.parse_awareness(yp.encode_awareness(entries)) == entries
    message = yp.parse(yp.awareness_message(entries))
    assert message.kind == yp.MESSAGE_AWARENESS
    assert yp.parse_awareness(message.payload) == entries


def test_awareness_matches_pycrdt_and_refuses_bad_text() -> None:
    # pycrdt's own encoder (the Python port of y-protocols' awareness) reads ours back
    doc: pycrdt.Doc[pycrdt.Map[object]] = pycrdt.Doc()
    awareness = pycrdt.Awareness(doc)
    entry = yp.AwarenessEntry(12345, 3, '{"user":{"name":"Ada"}}')
    awareness.apply_awareness_update(yp.encode_awareness([entry]), "test")
    assert awareness.states[12345] == {"user": {"name": "Ada"}}
    assert yp.AwarenessEntry(1, 1, "null").removed
    with pytest.raises(yp.ProtocolError, match="not UTF-8"):
        yp.parse_awareness(b"\x01\x01\x01\x02\xff\xfe")


def test_state_vectors_and_coverage() -> None:
    source: pycrdt.Doc[pycrdt.Text] = pycrdt.Doc()
    text = source.get("t", type=pycrdt.Text)
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    text += "a"
    text += "b"
    replica = build_replica(None, [updates[1]])  # depends on the first: pending
    assert replica.covered(updates) == [False, False]
    assert replica.encode() == yp.EMPTY_UPDATE  # pending structs are not in a snapshot
    replica.apply(updates[0])
    assert replica.covered(updates) == [True, True]
    assert decode_state_vector(replica.state_vector()) == {source.client_id: 2}
    with pytest.raises(yp.InvalidUpdate):
        replica.apply(b"\x01\x02garbage")
    with pytest.raises(yp.InvalidUpdate):
        replica.diff(b"\xff\xff")


@pytest.mark.parametrize(("size", "header"), [
    (0, b"\x82\x00"), (125, b"\x82\x7d"), (126, b"\x82\x7e\x00\x7e"),
    (65535, b"\x82\x7e\xff\xff"), (65536, b"\x82\x7f" + (65536).to_bytes(8, "big")),
])
def test_frames_follow_rfc_6455(size: int, header: bytes) -> None:
    # FIN + opcode 2, no mask bit, then the 7-bit, 16-bit or 64-bit length (RFC 6455 5.2);
    # the relay test sends messages of these sizes through real WebSocket clients.
    payload = bytes(size)
    assert binary_frame(payload) == header + payload
    assert text_frame(b"{}") == b"\x81\x02{}"
