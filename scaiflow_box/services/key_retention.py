"""Retired master keys (SPEC §19.2, §20 `keys list | keys prune KEK_ID`): what is kept, which
backups need it, and removing one on request.

A rotation keeps the key it replaces as `master.key.retired-<kek id>` (crypto/master_key.py),
so `restore` still opens backups taken before it. The appliance cannot know every copy of a
backup (a file copied elsewhere, a snapshot of the data directory), but it knows the ones
`scaiflow-box backup` made and the copies `restore` kept aside: each is recorded (table
`backups`: the file, when, the kek id), so `keys list` counts them per key and `keys prune`
names those a pruned key would orphan, and removes the key only when told (`--yes`) that none
of them matters any more.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scaiflow_box.auth.principal import Principal
from scaiflow_box.crypto.keyring import Keyring, kek_of_database
from scaiflow_box.crypto.master_key import MasterKeySource, RetiredKeyFile
from scaiflow_box.store import audit
from scaiflow_box.store import keys as key_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection, Row
from scaiflow_box.timestamps import iso, now_iso

# before_restore: the database a restore replaced, kept aside
BackupKind = Literal["backup", "before_restore"]
KeyState = Literal["current", "retired"]


@dataclass(frozen=True)
class RecordedBackup:
    file: str
    kek_id: str
    made_at: str
    kind: BackupKind = "backup"

    @property
    def on_disk(self) -> bool:
        """Whether a file is still where the backup was written (it may have been moved)."""
        return Path(self.file).is_file()


@dataclass(frozen=True)
class KeyEntry:
    kek_id: str
    status: KeyState
    where: str  # the key file, or SCAIFLOW_MASTER_KEY
    retired_at: str | None
    backups: tuple[RecordedBackup, ...]
    problem: str | None = None  # why a retired key file cannot be used


@dataclass(frozen=True)
class ListedKey:
    """A key as the admin API lists it: its entry, and for each of its recorded backups
    whether a file is still at that path (checked when listed, off the event loop)."""

    entry: KeyEntry
    on_disk: tuple[bool, ...]  # one per entry.backups, in the same order


class PruneRefused(Exception):
    """The key cannot be pruned (or not without confirmation); the message says why."""


def record_backup(conn: Connection, *, file: Path, kek_id: str | None,
                  size_bytes: int, kind: BackupKind = "backup", actor: str = "cli") -> None:
    """Remember a backup (or a copy kept aside by restore) and audit it (writer's
    connection). A database without any wrapped key (kek None) needs no key: not recorded."""
    if kek_id is None:
        return
    path = str(file.resolve())
    key_rows.insert_backup(conn, file=path, made_at=now_iso(), kek_id=kek_id,
                           size_bytes=size_bytes, kind=kind)
    audit.record(conn, tenant_id=None, actor=actor, action="backup.recorded",
                 target_type="backup", target_id=kek_id,
                 details={"file": path, "kind": kind, "size_bytes": size_bytes})


def backup_rows(conn: Connection) -> list[Row]:
    """Every recorded backup, for `restore` to carry over (any connection)."""
    return key_rows.list_backups(conn)


def carry_over(conn: Connection, rows: list[Row]) -> None:
    """Put the records of the database a restore replaced into the restored one."""
    for row in rows:
        key_rows.insert_backup(conn, file=row["file"], made_at=row["made_at"],
                               kek_id=row["kek_id"], size_bytes=row["size_bytes"],
                               kind=row["kind"])


def backups_of(rows: list[Row]) -> list[RecordedBackup]:
    return [RecordedBackup(row["file"], row["kek_id"], row["made_at"], row["kind"])
            for row in rows]


def recorded_backups(db: Database) -> list[RecordedBackup]:
    return backups_of(db.read_inline(key_rows.list_backups))


def list_keys(db: Database, source: MasterKeySource, current_kek: str) -> list[KeyEntry]:
    """The current master key, then every retired key file, each with the recorded backups
    made under it."""
    return keys_with(recorded_backups(db), source, current_kek)


def keys_with(backups: list[RecordedBackup], source: MasterKeySource,
              current_kek: str) -> list[KeyEntry]:
    """`list_keys` from backups already read (the server reads them on a reader thread);
    blocking: it reads the retired key files."""
    def made_with(kek_id: str) -> tuple[RecordedBackup, ...]:
        return tuple(b for b in backups if b.kek_id == kek_id)

    entries = [KeyEntry(current_kek, "current", source.where, None, made_with(current_kek))]
    for retired in source.retired():
        if retired.kek_id == current_kek:
            continue  # a copy of the current key (a rotation that was undone by hand)
        entries.append(KeyEntry(retired.kek_id, "retired", str(retired.path),
                                iso(retired.retired_at), made_with(retired.kek_id),
                                retired.problem))
    return entries


def prune_candidate(db: Database, source: MasterKeySource, current_kek: str,
                    kek_id: str) -> tuple[RetiredKeyFile, tuple[RecordedBackup, ...]]:
    """The retired key file `kek_id` and the recorded backups that need it; PruneRefused for
    the current key or a key that is not kept."""
    if kek_id == current_kek:
        raise PruneRefused(f"kek {kek_id} is the current master key ({source.where}): it is "
                           "never pruned (`scaiflow-box keys rotate` first)")
    found = next((r for r in source.retired() if r.kek_id == kek_id), None)
    if found is None:
        raise PruneRefused(f"no retired master key kek {kek_id} is kept beside {source.path} "
                           "(`scaiflow-box keys list` shows the kept ones)")
    return found, tuple(b for b in recorded_backups(db) if b.kek_id == kek_id)


def prune(db: Database, source: MasterKeySource, current_kek: str, kek_id: str, *,
          actor: str = "cli") -> tuple[RetiredKeyFile, tuple[RecordedBackup, ...]]:
    """Remove the retired key `kek_id` (the caller has the operator's confirmation); the
    removal is audited (`keys.pruned`, with the recorded backups it orphans)."""
    found, backups = prune_candidate(db, source, current_kek, kek_id)
    source.remove_retired(kek_id)
    db.write_sync(lambda conn: audit.record(
        conn, tenant_id=None, actor=actor, action="keys.pruned", target_type="master_key",
        target_id=kek_id, details={"backups": [b.file for b in backups]}))
    return found, backups


class KeyRetentionService:
    """`GET /api/v1/admin/keys`: what `scaiflow-box keys list` shows, from the running server.
    The backups are read on a reader thread, the key files and backup paths in an executor."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring

    async def list_keys(self, principal: Principal) -> list[ListedKey]:
        principal.require_super_admin()

        def read(conn: Connection) -> tuple[list[RecordedBackup], str | None]:
            return backups_of(key_rows.list_backups(conn)), kek_of_database(conn)

        backups, recorded_kek = await self.db.read(read)
        # The key the database names: `scaiflow-box keys rotate` may have run beside the
        # server, which then holds the old key until it next needs the new one.
        current = recorded_kek or self.keyring.master.kek_id
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._listed, backups, current)

    def _listed(self, backups: list[RecordedBackup], current_kek: str) -> list[ListedKey]:
        return [ListedKey(entry, tuple(b.on_disk for b in entry.backups))
                for entry in keys_with(backups, self.keyring.source, current_kek)]
