"""`now_iso` keeps the text of the current second and adds the milliseconds: it must write
what `iso` writes, across second boundaries too."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from scaiflow_box import timestamps
from scaiflow_box.timestamps import iso, now_iso, parse_iso, utc_now


def test_now_is_rfc3339_with_milliseconds_and_within_the_call() -> None:
    before = utc_now() - timedelta(milliseconds=1)
    text = now_iso()
    after = utc_now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    assert before <= parse_iso(text) <= after


@pytest.mark.parametrize("nanos", [
    1_700_000_000_000_000_000, 1_700_000_000_999_999_999, 1_700_000_001_000_000_000,
    1_700_000_001_000_999_999, 1_700_000_001_001_000_000, 1_704_067_199_999_000_000,
    1_704_067_200_000_000_000,  # a new year
])
def test_each_instant_is_written_as_iso_writes_it(monkeypatch: pytest.MonkeyPatch,
                                                  nanos: int) -> None:
    monkeypatch.setattr(timestamps.time, "time_ns", lambda: nanos)
    moment = datetime.fromtimestamp(nanos // 1000 / 1_000_000, UTC)
    assert now_iso() == iso(moment.replace(microsecond=moment.microsecond // 1000 * 1000))


def test_the_second_is_written_anew_when_it_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    for nanos in (1_700_000_000_999_000_000, 1_700_000_001_000_000_000,
                  1_700_000_000_500_000_000):  # a clock set back a second, too
        monkeypatch.setattr(timestamps.time, "time_ns", lambda nanos=nanos: nanos)
        seen.append(now_iso())
    assert seen == ["2023-11-14T22:13:20.999Z", "2023-11-14T22:13:21.000Z",
                    "2023-11-14T22:13:20.500Z"]
