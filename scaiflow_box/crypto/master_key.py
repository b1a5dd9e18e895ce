"""Where the master key (the KEK) comes from, and the crash-safe protocol that replaces it.

`SCAIFLOW_MASTER_KEY` (base64 of 32 bytes) wins over the key file (`SCAIFLOW_MASTER_KEY_FILE`,
default `<data dir>/master.key`). A rotation never leaves the database without its key on disk:

1. the new key is written to `master.key.new` (0600, fsynced, directory fsynced) while the
   rotation's transaction holds the database's write lock (so no other process is between
   steps 1 and 2 at the same time);
2. the transaction re-wraps every data key and the issuer keys under it and commits;
3. `master.key.new` is renamed over `master.key` and the directory fsynced.

At start-up (`crypto.keyring.open_keyring`), when `master.key` does not fit the database but
`master.key.new` does, the rotation stopped between 2 and 3 and is finished there; a `.new`
that does not fit is a rotation that never committed and is removed. Messages name files and
key ids (a hash of the key), never a key.
"""

from __future__ import annotations

import contextlib
import os
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
        """Step 3: the pending file becomes the key file. Idempotent: another process that
        opened the data directory in between may have finished it already."""
        self._refuse_env()
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

    def _refuse_env(self) -> None:
        if self.from_env:
            raise MasterKeyError(f"the master key comes from {ENV_NAME}; there is no key file "
                                 "to replace")
