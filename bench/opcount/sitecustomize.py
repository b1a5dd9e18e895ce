"""Loaded by `bench/opcodes.py` into the server it starts (through PYTHONPATH), never by the
appliance itself: counts the Python bytecode each function executes, between SIGUSR1 (start)
and SIGUSR2 (stop, and write the counts to $SFB_OPCOUNT_OUT as tab-separated lines:
count, thread name, file:first line, function)."""

from __future__ import annotations

import collections
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

_COUNTS: collections.Counter[tuple[str, str, int, str]] = collections.Counter()
_ACTIVE = [False]


def _opcodes(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "opcode":
        code = frame.f_code
        _COUNTS[(threading.current_thread().name, code.co_filename, code.co_firstlineno,
                 code.co_name)] += 1
    return _opcodes


def _calls(frame: FrameType, event: str, arg: Any) -> Any:
    if not _ACTIVE[0]:
        return None
    frame.f_trace_opcodes = True
    frame.f_trace_lines = False
    return _opcodes


def _start(signum: int, frame: FrameType | None) -> None:
    _COUNTS.clear()
    _ACTIVE[0] = True
    sys.settrace(_calls)  # the main thread (signal handlers run on it)


def _stop(signum: int, frame: FrameType | None) -> None:
    _ACTIVE[0] = False
    sys.settrace(None)
    with open(os.environ["SFB_OPCOUNT_OUT"], "w", encoding="utf-8") as out:
        for (thread, filename, line, name), count in _COUNTS.most_common():
            out.write(f"{count}\t{thread}\t{filename}:{line}\t{name}\n")


if os.environ.get("SFB_OPCOUNT_OUT"):
    threading.settrace(_calls)  # every thread started from now on (the writer, the readers)
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
