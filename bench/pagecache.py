"""Put a file into, or take it out of, the OS page cache (for the scale scenario).

Only the named file is touched: `posix_fadvise(DONTNEED)` drops that file's clean cached pages,
unlike `echo 3 > /proc/sys/vm/drop_caches`, which would disturb everything else on the box.
"""

from __future__ import annotations

import os
from pathlib import Path

_CHUNK = 8 * 1024 * 1024


def warm(path: Path) -> None:
    """Read the whole file so its pages are cached (a long-running server's steady state)."""
    with open(path, "rb", buffering=0) as handle:
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
        while handle.read(_CHUNK):
            pass


def evict(path: Path) -> None:
    """Drop the file's cached pages, so the next reads come from the disk."""
    with open(path, "rb", buffering=0) as handle:
        os.fsync(handle.fileno())
        os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
