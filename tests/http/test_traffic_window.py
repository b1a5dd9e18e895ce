"""The dashboard's traffic figures (`http/metrics.py`): the last minute in 10-second slots,
totals since start, and latency percentiles estimated from histogram buckets."""

from __future__ import annotations

import pytest

from scaiflow_box.http.metrics import TrafficWindow, estimate_quantile


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_last_minute_and_the_totals() -> None:
    clock = Clock()
    window = TrafficWindow((0.01, 0.1, 1.0), clock=clock)
    clock.now += 20  # 20 s after start: the rate is over those 20 s
    for status in (200, 200, 404, 503):
        window.observe(status, 0.005, streamed=False)
    summary = window.summary()
    assert {k: summary[k] for k in ("requests", "client_errors", "server_errors",
                                    "error_rate", "requests_per_second")} == {
        "requests": 4, "client_errors": 1, "server_errors": 1, "error_rate": 0.25,
        "requests_per_second": 0.2}
    clock.now += 30  # still inside the minute
    window.observe(200, 0.5, streamed=False)
    assert window.summary()["requests"] == 5
    clock.now += 55  # the first four have left the window; the fifth is 55 s old
    summary = window.summary()
    assert (summary["requests"], summary["client_errors"], summary["server_errors"]) == (1, 0, 0)
    assert summary["latency_p99_seconds"] == pytest.approx(0.1 + 0.9 * 0.99)
    clock.now += 60  # nothing in the last minute
    summary = window.summary()
    assert (summary["requests"], summary["requests_per_second"],
            summary["latency_p99_seconds"]) == (0, 0.0, None)
    assert window.totals() == {"requests": 5, "client_errors": 1, "server_errors": 1}


def test_a_reused_slot_starts_from_zero() -> None:
    clock = Clock(0.0)
    window = TrafficWindow((1.0,), clock=clock)
    window.observe(500, 0.1, streamed=False)
    clock.now = 60.0  # the same slot index (6 slots of 10 s), a minute later
    window.observe(200, 0.1, streamed=False)
    summary = window.summary()
    assert (summary["requests"], summary["server_errors"]) == (1, 0)


def test_streams_are_counted_but_not_timed() -> None:
    clock = Clock()
    window = TrafficWindow((0.01, 1.0), clock=clock)
    window.observe(200, 0.002, streamed=False)
    window.observe(101, 600.0, streamed=True)  # a WebSocket session of ten minutes
    summary = window.summary()
    assert summary["requests"] == 2
    assert summary["latency_p99_seconds"] == pytest.approx(0.01 * 0.99)


@pytest.mark.parametrize(("q", "counts", "expected"), [
    (0.5, [10, 0, 0, 0], 0.05),  # inside the first bucket (0, 0.1]
    (0.5, [0, 10, 0, 0], 0.55),  # (0.1, 1]
    (0.99, [50, 50, 0, 0], 0.1 + 0.9 * 0.98),
    (0.99, [0, 0, 0, 5], 10.0),  # beyond the last bound: the last bound
    (0.5, [0, 0, 0, 0], None),
])
def test_quantile_estimate(q: float, counts: list[float], expected: float | None) -> None:
    result = estimate_quantile(q, (0.1, 1.0, 10.0), counts)
    assert result == (None if expected is None else pytest.approx(expected))
