"""The appliance's recent log lines, kept in memory for super admins (`GET /api/v1/admin/logs`,
the TUI's Logs view).

A `logging.Handler` on the root logger that keeps the last `capacity` records as plain lines,
each numbered in order (`seq`), so a client tails the log by asking for the lines after the
last number it saw. It holds exactly what the log holds, which never carries a secret: tokens,
keys and query strings are never logged (docs/operations.md, "Logs"). Bounded: the oldest line
goes when a new one comes.

Records arrive from any thread (the writer, readers, the event loop); reads take the handler's
own lock for the copy of at most `limit` lines.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from scaiflow_box.timestamps import iso

DEFAULT_CAPACITY = 2000
MAX_MESSAGE_CHARS = 8000  # a traceback longer than this keeps its end, where the error is
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}


@dataclass(frozen=True)
class LogLine:
    seq: int
    at: str  # RFC 3339 UTC
    level: str  # debug | info | warning | error | critical
    logger: str
    message: str  # with the traceback, when the record has one


@dataclass(frozen=True)
class LogPage:
    lines: list[LogLine]
    next_after: int  # pass as `after` to get the lines that follow
    first_seq: int  # the oldest line still kept (0 when none yet)
    missed: bool  # lines between `after` and the oldest kept were dropped
    capacity: int  # how many lines the ring keeps


class LogRing(logging.Handler):
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(logging.NOTSET)
        self.capacity = capacity
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._seq = 0
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + self._formatter.formatException(record.exc_info)
            if len(message) > MAX_MESSAGE_CHARS:
                message = "…" + message[-MAX_MESSAGE_CHARS:]
            self._seq += 1  # under the handler's lock (Handler.handle)
            self._lines.append(LogLine(
                self._seq, iso(datetime.fromtimestamp(record.created, UTC)),
                record.levelname.lower(), record.name, message))
        except Exception:  # a broken record must not break the caller's logging
            self.handleError(record)

    @property
    def last_seq(self) -> int:
        return self._seq

    def page(self, *, after: int | None, level: int = logging.NOTSET,
             limit: int = 200) -> LogPage:
        """With `after`: the oldest lines after it (up to `limit`), to follow the log. Without:
        the newest `limit` lines, oldest first, to start. Only lines at `level` or above."""
        if self.lock is None:  # created in Handler.__init__; for the type checker
            raise RuntimeError("log ring without a lock")
        with self.lock:
            lines = list(self._lines)
            last = self._seq
        first = lines[0].seq if lines else 0
        wanted = [line for line in lines if LEVELS[line.level] >= level]
        if after is None:
            picked = wanted[-limit:] if limit else []
            return LogPage(picked, last, first, False, self.capacity)
        newer = [line for line in wanted if line.seq > after]
        picked = newer[:limit]
        # Where to go on from: the last line returned when there is more to read, else the
        # newest line scanned (lines filtered out by `level` are not scanned again).
        next_after = picked[-1].seq if len(newer) > len(picked) else max(last, after)
        return LogPage(picked, next_after, first, bool(lines) and after < first - 1,
                       self.capacity)
