"""`scaiflow-box restore FILE` (SPEC §19.1): put a backup back as the data directory's database.

Refused while a server holds the data directory (its lock, `store/dir_lock.py`), for a file
that fails SQLite's integrity check or is not a scaiflow-box database, for a backup whose
schema is newer than this binary, and when neither the configured master key (`master.key` in
the data directory, or `SCAIFLOW_MASTER_KEY`) nor a retired key kept beside it
(`master.key.retired-<kek id>`, SPEC §19.2) opens the backup: a backup never contains the key,
the operator keeps it separately (`backup` names its id). A backup that needs a retired key
(taken before a rotation) is migrated and re-wrapped under the current key in its staged copy
before it replaces anything, so `master.key` stays what it is. The database it replaces is
kept as `scaiflow.db.before-restore-<UTC time>`; an older backup is migrated to this binary's
schema at once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from scaiflow_box.auth.issuer import LocalIssuer
from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import (
    DecryptionFailed,
    KeyFileTooOpen,
    MasterKey,
    MasterKeyError,
)
from scaiflow_box.crypto.keyring import Keyring, kek_of_database
from scaiflow_box.crypto.master_key import MasterKeySource
from scaiflow_box.services.bootstrap import master_key_source
from scaiflow_box.services.key_retention import backup_rows, carry_over, record_backup
from scaiflow_box.services.key_rotation import rewrap_database
from scaiflow_box.store import audit
from scaiflow_box.store.db import Database  # SQLite only: MariaDB has no file to restore
from scaiflow_box.store.dir_lock import DataDirLock
from scaiflow_box.store.engine import Connection, Row
from scaiflow_box.store.restore import (
    RestoreRefused,
    discard,
    open_read_only,
    stage_backup,
    swap_in,
)

__all__ = ["RestoreRefused", "RestoreReport", "restore_backup"]


@dataclass(frozen=True)
class RestoreReport:
    kept_aside: Path | None  # where the replaced database is now (None: there was none)
    schema_version: int  # the backup's
    known_version: int  # this binary's (the database's now)
    rewrapped_from: str | None = None  # the retired kek the backup needed, if it did


def _rewrap_staged(staged: Path, source: MasterKeySource, retired: MasterKey,
                   current: MasterKey) -> None:
    """Bring a staged backup from a retired key to the current one: migrate it, then the
    rotation's own transaction re-wraps every data key and issuer key (SPEC §19.2)."""
    db = Database(staged, reader_threads=1)
    try:
        keyring = Keyring(source, retired)
        db.write_sync(lambda conn: rewrap_database(conn, keyring, current, reencrypt=False,
                                                   actor="restore"))
    finally:
        db.close()


def restore_backup(settings: Settings, backup: Path) -> RestoreReport:
    """Blocking (CLI). Raises RestoreRefused, DataDirBusy or MasterKeyError with one line."""
    data_dir = settings.data_dir
    if not data_dir.is_dir():
        raise RestoreRefused(
            f"{data_dir.resolve()} does not exist; create it (mode 0700), copy the master.key "
            "that belongs to the backup into it, and run restore again")
    source = master_key_source(settings)
    if not source.exists():
        raise RestoreRefused(
            f"no master key at {source.where}; a backup does not contain it: copy there the "
            "master.key that was in use when the backup was made (`backup` printed its kek id)")
    master = source.load()
    with DataDirLock(data_dir, exclusive=True):
        replaced = _replaced_database(settings.db_path)
        staged = stage_backup(backup, settings.db_path)
        retired: MasterKey | None = None
        try:
            with open_read_only(staged.path) as conn:
                needed = kek_of_database(conn)
                if needed is not None and needed != master.kek_id:
                    retired = _retired_key(source, needed, master)
                opener = retired or master
                Keyring(source, opener).verify(conn)  # every wrapped key unwraps
                issuer = LocalIssuer.load(conn, opener)
            if issuer is not None and retired is not None:
                _rewrap_staged(staged.path, source, retired, master)
        except KeyFileTooOpen as exc:
            discard(staged)
            raise RestoreRefused(str(exc)) from None
        except (DecryptionFailed, MasterKeyError) as exc:
            discard(staged)
            which = (f"the retired master key kek {retired.kek_id}" if retired is not None
                     else f"the master key in {source.where}")
            raise RestoreRefused(f"{which} does not open this backup ({exc})") from None
        except BaseException:
            discard(staged)
            raise
        if issuer is None:
            discard(staged)
            raise RestoreRefused("the backup holds no appliance keys (`init` never ran on it)")
        aside = swap_in(staged, settings.db_path)
        db = Database(settings.db_path, reader_threads=1)  # an older backup: migrated now
        try:
            def remember(conn: Connection) -> None:
                _remember_backups(conn, replaced, aside)
                # Into the restored database: its history now says it was put back, and from
                # where.
                audit.record(
                    conn, tenant_id=None, actor="cli", action="backup.restored",
                    target_type="database", target_id=str(settings.db_path.resolve()),
                    details={"file": str(backup.resolve()),
                             "backup_schema": staged.schema_version,
                             "schema": staged.known_version,
                             "kept_aside": str(aside) if aside is not None else None})

            db.write_sync(remember)
        finally:
            db.close()
    return RestoreReport(aside, staged.schema_version, staged.known_version,
                         retired.kek_id if retired is not None else None)


@dataclass(frozen=True)
class _Replaced:
    """What the database about to be replaced knows of backups, and the key it needs."""

    records: list[Row]
    kek_id: str | None


def _replaced_database(db_path: Path) -> _Replaced:
    """Best effort: a damaged or older database may have nothing to give."""
    if not db_path.is_file():
        return _Replaced([], None)
    try:
        with open_read_only(db_path) as conn:
            kek_id = kek_of_database(conn)
            try:
                return _Replaced(backup_rows(conn), kek_id)
            except sqlite3.Error:
                return _Replaced([], kek_id)
    except (sqlite3.Error, DecryptionFailed):
        return _Replaced([], None)


def _remember_backups(conn: Connection, replaced: _Replaced,
                      aside: Path | None) -> None:
    """The restored database keeps knowing every backup (`keys list`, `keys prune`): those the
    replaced one knew, and the replaced one itself, kept aside."""
    carry_over(conn, replaced.records)
    if aside is not None:
        record_backup(conn, file=aside, kek_id=replaced.kek_id, kind="before_restore",
                      size_bytes=aside.stat().st_size, actor="restore")


def _retired_key(source: MasterKeySource, needed: str, current: MasterKey) -> MasterKey:
    """The retired key a backup needs; RestoreRefused saying what to do when none is kept."""
    retired = source.load_retired(needed)
    if retired is None:
        raise RestoreRefused(
            f"this backup needs the master key kek {needed}; the one in {source.where} is kek "
            f"{current.kek_id} and no retired key kek {needed} is kept beside "
            f"{source.path} (`scaiflow-box keys list`): put the master.key that was in use "
            f"when the backup was made there as {source.retired_path(needed).name} (mode 0600)")
    return retired
