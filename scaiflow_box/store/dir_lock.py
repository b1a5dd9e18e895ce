"""The data directory's lock file: a serving process holds it shared for its whole life,
`restore` holds it exclusive while it swaps the database file.

`flock(2)` locks belong to the open file and go away with the process however it ends
(`kill -9` included), so a crashed server never leaves a stale lock behind, and no pid file
has to be trusted. Commands that only read or write rows (`token mint`, `backup`, ...) do not
take it: SQLite's own locking is enough for them.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

LOCK_NAME = "scaiflow.lock"


class DataDirBusy(Exception):
    """The lock is held in a mode that excludes ours; the message (one line) says by whom."""


class DataDirLock:
    """`with DataDirLock(data_dir, exclusive=...):` — non-blocking; raises DataDirBusy."""

    def __init__(self, data_dir: Path, *, exclusive: bool) -> None:
        self.path = data_dir / LOCK_NAME
        self.exclusive = exclusive
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        mode = fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            where = self.path.parent.resolve()
            if self.exclusive:
                raise DataDirBusy(
                    f"a scaiflow-box server (or another restore) is using {where}; stop it "
                    "first (e.g. `systemctl stop scaiflow-box`)") from None
            raise DataDirBusy(f"a restore is in progress on {where}; start the server "
                              "when it has finished") from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
