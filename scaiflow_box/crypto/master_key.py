"""Where the master key (the KEK) comes from, and the crash-safe protocol that replaces it.

`SCAIFLOW_MASTER_KEY` (base64 of 32 bytes) wins over the key file (`SCAIFLOW_MASTER_KEY_FILE`,
default `<data dir>/master.key`). A rotation never leaves the database without its key on disk:

1. the new key is written to `master.key.new` (0600, fsynced, directory fsynced) while the
   rotation's transaction holds the database's write lock (so no other process is between
   steps 1 and 2 at the same time);
2. the transaction re-wraps every data key and the issuer keys under it and commits;
3. the key `master.key` held is kept as `master.key.retired-<its kek id>` (0600, written to a
   temporary name, fsynced, renamed), then `master.key.new` is renamed over `master.key` and
   the directory fsynced.

At start-up (`crypto.keyring.open_keyring`), when `master.key` does not fit the database but
`master.key.new` does, the rotation stopped in step 3 and is finished there (retaining the old
key first: doing it twice is harmless); a `.new` that does not fit is a rotation that never
committed and is removed. Messages name files and key ids (a hash of the key), never a key.

Retired keys (SPEC §19.2) let `restore` open a backup taken before a rotation; they are listed
by `keys list` and removed only by `keys prune` (services/key_retention.py). A key from
`SCAIFLOW_MASTER_KEY` is never written to disk, so nothing retires it: the operator keeps the
old value (docs/operations.md).
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from scaiflow_box.crypto.envelope import (
    KeyFileTooOpen,
    MasterKey,
    MasterKeyError,
    read_key_file,
    write_key_file,
)

ENV_NAME = "SCAIFLOW_MASTER_KEY"


class MasterKeyMismatch(MasterKeyError):
    """The master key in use does not unwrap this database's keys (one line, no secret)."""

    def __init__(self, where: str, held: str, needed: str, hint: str) -> None:
        super().__init__(f"the master key in {where} (kek {held}) does not unwrap the data keys "
                         f"of this database (kek {needed}); {hint}")
        self.held = held
        self.needed = needed


@dataclass(frozen=True)
class RetiredKeyFile:
    """A retired key file as found on disk. `problem` says why it cannot be used (unreadable,
    open to others, holds another key than its name says); None when it is sound."""

    kek_id: str
    path: Path
    retired_at: datetime  # when the file was written: the rotation that retired the key
    problem: str | None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MasterKeySource:
    """The configured master key: from the environment or from the key file (and its pending
    replacement during a rotation). Every method is blocking file I/O (small files)."""

    def __init__(self, path: Path, env_value: str | None = None) -> None:
        self.path = path
        self._env_value = env_value

    def __repr__(self) -> str:
        return f"MasterKeySource({self.where})"

    @property
    def from_env(self) -> bool:
        return self._env_value is not None

    @property
    def where(self) -> str:
        """Where the key is read from, for messages."""
        return ENV_NAME if self.from_env else str(self.path)

    @property
    def hint(self) -> str:
        """What to do when the key does not fit the database."""
        if self.from_env:
            return (f"set {ENV_NAME} to the key this database was initialised or last rotated "
                    "with")
        return "restore the right master.key (the one this database was last rotated with)"

    @property
    def pending_path(self) -> Path:
        return self.path.with_name(self.path.name + ".new")

    def retired_path(self, kek_id: str) -> Path:
        """Where the key `kek_id` is kept once a rotation replaced it: beside the key file."""
        return self.path.with_name(f"{self.path.name}.retired-{kek_id}")

    def exists(self) -> bool:
        return self.from_env or self.path.is_file()

    def load(self, *, create: bool = False) -> MasterKey:
        """The current key; with `create`, a missing key file is created (0600)."""
        if self._env_value is not None:
            try:
                return MasterKey.from_base64(self._env_value)
            except ValueError as exc:
                raise MasterKeyError(f"{ENV_NAME} is malformed ({exc})") from None
        if self.path.is_file() or not create:
            if not self.path.exists():
                raise MasterKeyError(f"no master key at {self.path}")
            return read_key_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = MasterKey.generate()
        write_key_file(self.path, key)
        _fsync_dir(self.path.parent)
        return key

    def load_pending(self) -> MasterKey | None:
        """The key a rotation staged, if a readable one is there (never for an env key)."""
        if self.from_env or not self.pending_path.is_file():
            return None
        try:
            return read_key_file(self.pending_path)
        except KeyFileTooOpen:
            raise  # someone changed its mode: neither use nor remove it
        except MasterKeyError:
            return None  # a rotation that crashed while writing it: it never committed

    def find(self, kek_id: str) -> MasterKey | None:
        """Re-read the configured key (and a staged one) looking for `kek_id`: a server keeps
        working after `scaiflow-box keys rotate` ran in another process."""
        candidates: list[MasterKey] = []
        with contextlib.suppress(MasterKeyError):
            candidates.append(self.load())
        pending = self.load_pending()
        if pending is not None:
            candidates.append(pending)
        return next((key for key in candidates if key.kek_id == kek_id), None)

    # -- the rotation protocol (key file only) --------------------------------------------
    def stage(self, key: MasterKey) -> None:
        """Step 1: write `key` to the pending file, replacing any leftover."""
        self._refuse_env()
        with contextlib.suppress(FileNotFoundError):
            self.pending_path.unlink()
        write_key_file(self.pending_path, key)
        _fsync_dir(self.pending_path.parent)

    def promote(self, key: MasterKey) -> None:
        """Step 3: the key file's key is retired, then the pending file becomes the key file.
        Idempotent: another process that opened the data directory in between may have
        finished it already."""
        self._refuse_env()
        self._retire_current(key)
        try:
            os.replace(self.pending_path, self.path)
        except FileNotFoundError:
            if self.load().kek_id != key.kek_id:
                raise MasterKeyError(f"the rotated key vanished before it replaced {self.path}"
                                     ) from None
            return
        _fsync_dir(self.path.parent)

    def discard_pending(self, key: MasterKey | None = None) -> bool:
        """Remove the pending file (only if it holds `key`, when given); True if removed."""
        if self.from_env or not self.pending_path.exists():
            return False
        if key is not None:
            staged = self.load_pending()
            if staged is None or staged.kek_id != key.kek_id:
                return False
        self.pending_path.unlink()
        _fsync_dir(self.pending_path.parent)
        return True

    # -- retired keys (SPEC §19.2) --------------------------------------------------------
    def _retire_current(self, new: MasterKey) -> None:
        """Keep the key file's key (unless it already is `new`) before it is replaced."""
        if not self.path.is_file():
            return
        try:
            current = read_key_file(self.path)
        except KeyFileTooOpen:
            raise  # the operator must see it: neither used nor replaced
        except MasterKeyError:
            return  # unreadable: nothing a backup could need
        if current.kek_id != new.kek_id:
            self.retain(current)

    def retain(self, key: MasterKey) -> Path:
        """Write `key` as a retired key (0600, atomically, fsynced); idempotent."""
        target = self.retired_path(key.kek_id)
        with contextlib.suppress(MasterKeyError):
            if target.is_file() and read_key_file(target).kek_id == key.kek_id:
                return target
        temporary = target.with_name(target.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        write_key_file(temporary, key)
        os.replace(temporary, target)
        _fsync_dir(target.parent)
        return target

    def retired(self) -> list[RetiredKeyFile]:
        """Every retired key file beside the key file, oldest first."""
        pattern = re.compile(re.escape(self.path.name) + r"\.retired-([0-9a-f]{12})")
        found: list[RetiredKeyFile] = []
        if not self.path.parent.is_dir():
            return found
        for entry in self.path.parent.iterdir():
            match = pattern.fullmatch(entry.name)
            if match is None or not entry.is_file():
                continue
            kek_id = match.group(1)
            problem: str | None = None
            try:
                if read_key_file(entry).kek_id != kek_id:
                    problem = "holds another key than its name says"
            except KeyFileTooOpen:
                problem = "accessible by group or others: chmod 600"
            except MasterKeyError:
                problem = "unreadable or malformed"
            when = datetime.fromtimestamp(entry.stat().st_mtime, UTC)
            found.append(RetiredKeyFile(kek_id, entry, when, problem))
        found.sort(key=lambda item: (item.retired_at, item.kek_id))
        return found

    def load_retired(self, kek_id: str) -> MasterKey | None:
        """The retired key `kek_id`, or None when none is kept (KeyFileTooOpen when its file
        is open to others, MasterKeyError when it is damaged)."""
        path = self.retired_path(kek_id)
        if not path.is_file():
            return None
        key = read_key_file(path)
        if key.kek_id != kek_id:
            raise MasterKeyError(f"{path} holds kek {key.kek_id}, not the kek its name says")
        return key

    def remove_retired(self, kek_id: str) -> bool:
        """Delete the retired key file `kek_id`; False when there is none."""
        path = self.retired_path(kek_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    def _refuse_env(self) -> None:
        if self.from_env:
            raise MasterKeyError(f"the master key comes from {ENV_NAME}; there is no key file "
                                 "to replace")
