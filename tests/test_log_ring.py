"""The in-memory ring of recent log lines (`log_ring.py`) behind `GET /api/v1/admin/logs`."""

from __future__ import annotations

import logging

from scaiflow_box.log_ring import MAX_MESSAGE_CHARS, LogRing


def record(message: str, level: int = logging.INFO, name: str = "scaiflow_box.x"
           ) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_bounded_and_tailed() -> None:
    ring = LogRing(capacity=3)
    for n in range(1, 6):
        ring.handle(record(f"line {n}"))
    page = ring.page(after=None, limit=10)
    assert [(line.seq, line.message) for line in page.lines] == [
        (3, "line 3"), (4, "line 4"), (5, "line 5")]
    assert (page.next_after, page.first_seq, page.missed, page.capacity) == (5, 3, False, 3)
    # a client that last saw line 1 missed line 2
    behind = ring.page(after=1, limit=10)
    assert behind.missed and [line.seq for line in behind.lines] == [3, 4, 5]
    # one that saw line 2 missed nothing; with a limit it pages forward
    first = ring.page(after=2, limit=2)
    assert not first.missed and [line.seq for line in first.lines] == [3, 4]
    assert first.next_after == 4
    rest = ring.page(after=first.next_after, limit=2)
    assert [line.seq for line in rest.lines] == [5] and rest.next_after == 5


def test_level_filter_skips_ahead() -> None:
    ring = LogRing()
    ring.handle(record("quiet", logging.DEBUG))
    ring.handle(record("loud", logging.ERROR))
    ring.handle(record("quiet again", logging.INFO))
    page = ring.page(after=0, level=logging.WARNING, limit=10)
    assert [(line.level, line.message) for line in page.lines] == [("error", "loud")]
    assert page.next_after == 3  # the filtered lines are not scanned again


def test_a_long_message_keeps_its_end() -> None:
    ring = LogRing()
    ring.handle(record("x" * (MAX_MESSAGE_CHARS + 100) + "the end"))
    [line] = ring.page(after=None).lines
    assert len(line.message) == MAX_MESSAGE_CHARS + 1
    assert line.message.startswith("…") and line.message.endswith("the end")


def test_an_empty_ring() -> None:
    page = LogRing().page(after=None)
    assert (page.lines, page.next_after, page.first_seq, page.missed) == ([], 0, 0, False)
