"""`scaiflow-box restore FILE` (SPEC §19.1): put a backup back as the data directory's database.

Refused while a server holds the data directory (its lock, `store/dir_lock.py`), for a file
that fails SQLite's integrity check or is not a scaiflow-box database, for a backup whose
schema is newer than this binary, and when the configured master key (`master.key` in the
data directory, or `SCAIFLOW_MASTER_KEY`) does not open the backup: a backup never contains
the key, the operator keeps it separately (`backup` names its id). The database
it replaces is kept as `scaiflow.db.before-restore-<UTC time>`; an older backup is migrated to
this binary's schema at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scaiflow_box.auth.issuer import LocalIssuer
from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import DecryptionFailed, MasterKeyError
from scaiflow_box.crypto.keyring import Keyring, kek_of_database
from scaiflow_box.services.bootstrap import master_key_source
from scaiflow_box.store import audit
from scaiflow_box.store.db import Database
from scaiflow_box.store.dir_lock import DataDirLock
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
        staged = stage_backup(backup, settings.db_path)
        try:
            with open_read_only(staged.path) as conn:
                needed = kek_of_database(conn)
                if needed is not None and needed != master.kek_id:
                    raise RestoreRefused(
                        f"this backup needs the master key kek {needed}; the one in "
                        f"{source.where} is kek {master.kek_id}: put the master.key that was "
                        "in use when the backup was made there")
                Keyring(source, master).verify(conn)  # every wrapped key unwraps
                issuer = LocalIssuer.load(conn, master)
        except (DecryptionFailed, MasterKeyError) as exc:
            discard(staged)
            raise RestoreRefused(f"the master key in {source.where} does not open this "
                                 f"backup ({exc})") from None
        except BaseException:
            discard(staged)
            raise
        if issuer is None:
            discard(staged)
            raise RestoreRefused("the backup holds no appliance keys (`init` never ran on it)")
        aside = swap_in(staged, settings.db_path)
        db = Database(settings.db_path, reader_threads=1)  # an older backup: migrate now
        try:
            # Into the restored database: its history now says it was put back, and from where.
            db.write_sync(lambda conn: audit.record(
                conn, tenant_id=None, actor="cli", action="backup.restored",
                target_type="database", target_id=str(settings.db_path.resolve()),
                details={"file": str(backup.resolve()), "backup_schema": staged.schema_version,
                         "schema": staged.known_version,
                         "kept_aside": str(aside) if aside is not None else None}))
        finally:
            db.close()
    return RestoreReport(aside, staged.schema_version, staged.known_version)
