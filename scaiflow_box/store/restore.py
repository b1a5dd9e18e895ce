"""Putting a backup file (`scaiflow-box backup FILE`) back as the data directory's database.

The backup is first copied next to the database (same file system, so the final step is one
atomic rename) and checked there: SQLite's `integrity_check`, that it is a scaiflow-box
database, and that its schema is not newer than this binary's migrations. Only then is the
current database moved aside as `scaiflow.db.before-restore-<UTC time>` (its WAL folded into
it, mode 0600) and the copy renamed into place. Nothing here knows about keys:
`services/restore.py` checks that the master key opens the backup before it calls `swap_in`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scaiflow_box.store.migrations import available_migrations

SIDECARS = ("-wal", "-shm", "-journal")


class RestoreRefused(Exception):
    """The backup cannot be restored; the message (one line) says why and what to do."""


@dataclass(frozen=True)
class StagedBackup:
    path: Path  # the checked copy, next to the database
    schema_version: int  # the newest migration the backup has
    known_version: int  # the newest migration this binary ships


def known_schema_version() -> int:
    return max((number for number, _, _ in available_migrations()), default=0)


def _remove_with_sidecars(path: Path) -> None:
    for suffix in ("", *SIDECARS):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def stage_backup(backup: Path, db_path: Path) -> StagedBackup:
    """Copy `backup` next to `db_path` with SQLite's backup API and check the copy; raise
    RestoreRefused (removing the copy) when it must not be restored."""
    if not backup.is_file():
        raise RestoreRefused(f"{backup} is not a file")
    staged = db_path.with_name(f"{db_path.name}.restore-{os.getpid()}")
    _remove_with_sidecars(staged)
    try:
        with closing(sqlite3.connect(f"{backup.resolve().as_uri()}?mode=ro", uri=True)) as src, \
                closing(sqlite3.connect(staged)) as dest:
            src.backup(dest)
        os.chmod(staged, 0o600)
        version = check_database(staged)
    except sqlite3.DatabaseError as exc:
        _remove_with_sidecars(staged)
        raise RestoreRefused(f"{backup} is not a readable SQLite database ({exc})") from None
    except BaseException:
        _remove_with_sidecars(staged)
        raise
    known = known_schema_version()
    if version > known:
        _remove_with_sidecars(staged)
        raise RestoreRefused(
            f"{backup} has schema version {version}, newer than this binary knows ({known}); "
            "restore it with the scaiflow-box version that made it, or a newer one")
    return StagedBackup(staged, version, known)


def check_database(path: Path) -> int:
    """`PRAGMA integrity_check`, then the schema version; raises RestoreRefused."""
    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        problems = [line.strip() for row in conn.execute("PRAGMA integrity_check(20)")
                    for line in str(row[0]).splitlines()
                    if line.strip() and not line.startswith("*** in database")]
        if problems != ["ok"]:
            raise RestoreRefused(f"the backup fails SQLite's integrity check: {problems[0]}"
                                 + (f" (and {len(problems) - 1} more problem(s))"
                                    if len(problems) > 1 else ""))
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"schema_migrations", "meta", "issuer_keys"} <= tables:
            raise RestoreRefused("the file is a SQLite database but not a scaiflow-box one")
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)


def discard(staged: StagedBackup) -> None:
    _remove_with_sidecars(staged.path)


def _aside_path(db_path: Path, now: datetime) -> Path:
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    candidate = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
    n = 1
    while candidate.exists():
        candidate = db_path.with_name(f"{db_path.name}.before-restore-{stamp}-{n}")
        n += 1
    return candidate


def _fold_wal(db_path: Path) -> None:
    """Fold the old database's WAL into it and leave WAL mode, so the copy kept aside is one
    self-contained file with no `-wal`/`-shm` beside it (SQLite removes both when the last
    connection closes in rollback-journal mode). Best effort: a damaged database keeps its
    WAL, which is then moved aside with it."""
    try:
        with closing(sqlite3.connect(db_path)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            conn.execute("PRAGMA journal_mode = DELETE").fetchone()
    except sqlite3.Error:
        pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def swap_in(staged: StagedBackup, db_path: Path, now: datetime | None = None) -> Path | None:
    """Move the current database (if any) aside and the staged copy into its place; return
    where the old database was kept. The caller holds the data directory lock exclusively."""
    aside: Path | None = None
    if db_path.exists():
        _fold_wal(db_path)
        aside = _aside_path(db_path, now or datetime.now(UTC))
        os.replace(db_path, aside)
        os.chmod(aside, 0o600)  # the whole data of the box, like a backup
        for suffix in SIDECARS:
            # A WAL left beside the new file would be replayed into it: it goes with the old one.
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{db_path}{suffix}", f"{aside}{suffix}")
                os.chmod(f"{aside}{suffix}", 0o600)
    with closing(sqlite3.connect(staged.path)) as conn:  # flush anything the copy journalled
        conn.execute("PRAGMA user_version").fetchone()
    for suffix in SIDECARS:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{staged.path}{suffix}")
    os.replace(staged.path, db_path)
    _fsync_dir(db_path.parent)
    owner = db_path.parent.stat()
    if os.geteuid() == 0 and (owner.st_uid, owner.st_gid) != (0, 0):
        # Run as root on a packaged install: the service user must still own its database.
        os.chown(db_path, owner.st_uid, owner.st_gid)
    return aside


def open_read_only(path: Path) -> closing[sqlite3.Connection]:
    """A read-only connection to `path` (rows as `sqlite3.Row`, like the store's own), for the
    caller's checks of a staged copy."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return closing(conn)
