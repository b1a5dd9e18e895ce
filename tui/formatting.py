"""How the screens write times, sizes and rates: short, and the same everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

from tui.models import parse_timestamp

SPARK_BARS = "▁▂▃▄▅▆▇█"


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "never fetched"
    whole = int(seconds)
    if whole < 120:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


def format_moment(timestamp: str | None, now: datetime | None = None) -> str:
    """The appliance's timestamp and how long ago it was."""
    moment = parse_timestamp(timestamp)
    if timestamp is None or moment is None:
        return timestamp or "-"
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    return f"{timestamp} ({format_age(seconds)} ago)"


def format_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns


def format_seconds(value: float | None) -> str:
    """A latency: ms below a second."""
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def clock_time(moment: datetime) -> str:
    """HH:MM:SS in UTC, as the appliance's timestamps are."""
    return moment.astimezone(UTC).strftime("%H:%M:%S")


def spark(values: list[float], width: int = 20) -> str:
    """The last `width` values as bars scaled to their maximum (flat when all are zero)."""
    shown = values[-width:]
    top = max(shown, default=0.0)
    if top <= 0:
        return SPARK_BARS[0] * len(shown)
    return "".join(SPARK_BARS[min(len(SPARK_BARS) - 1, int(v / top * (len(SPARK_BARS) - 1)))]
                   for v in shown)


def short_time(timestamp: str | None) -> str:
    """`2026-05-01T08:00:00.000Z` as `2026-05-01 08:00` (UTC); other text unchanged."""
    moment = parse_timestamp(timestamp)
    if moment is None:
        return timestamp or "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
