"""Validation of 5-field cron expressions (``entry_schedule.config.cron``).

Standard (Vixie) syntax: each field is a comma-separated list of ``*``, ``N`` or
``N-M``, each optionally ``/STEP``; months and weekdays also take English
three-letter names (case-insensitive); weekday 7 is Sunday like 0.
"""

from __future__ import annotations

from typing import Final

FIELD_NAMES: Final = ("minute", "hour", "day of month", "month", "day of week")
_RANGES: Final = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS: Final = {
    name: n
    for n, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DAYS: Final = {name: n for n, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}


def _value(text: str, position: int) -> int | None:
    names = _MONTHS if position == 3 else _DAYS if position == 4 else {}
    if text.lower() in names:
        return names[text.lower()]
    if text.isdigit() and len(text) <= 2:
        low, high = _RANGES[position]
        number = int(text)
        return number if low <= number <= high else None
    return None


def _item_ok(item: str, position: int) -> bool:
    base, slash, step = item.partition("/")
    if slash and not (step.isdigit() and 0 < int(step) <= _RANGES[position][1] + 1):
        return False
    if base == "*":
        return True
    start, dash, end = base.partition("-")
    first = _value(start, position)
    if first is None:
        return False
    if not dash:
        return True
    last = _value(end, position)
    return last is not None and first <= last


def cron_problem(expression: str) -> str | None:
    """``None`` for a valid expression, else what is wrong with it."""
    fields = expression.split()
    if len(fields) != 5:
        return (
            "must be a cron expression of 5 fields (minute hour day month weekday), "
            f"got {len(fields)} field(s)"
        )
    for position, field in enumerate(fields):
        if not all(item and _item_ok(item, position) for item in field.split(",")):
            low, high = _RANGES[position]
            return f"has an invalid {FIELD_NAMES[position]} field {field!r} (allowed {low}-{high})"
    return None
