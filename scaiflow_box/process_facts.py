"""Facts about this process and its files that the operator's views show (`/metrics`,
`GET /api/v1/admin/system`): each a system call of a few microseconds, fine on the loop."""

from __future__ import annotations

import os
from pathlib import Path


def file_size(path: Path) -> int:
    """Bytes; 0 for a file that is not there (a WAL after a truncating checkpoint)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-wal")


def resident_bytes() -> int | None:
    """Resident memory of this process (Linux), None where /proc does not say."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
