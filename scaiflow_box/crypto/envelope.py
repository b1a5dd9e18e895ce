"""Envelope encryption (SPEC §19.2): a master key (KEK) wraps per-tenant data keys (DEKs);
secrets are AES-256-GCM with a random 96-bit nonce and AAD = `tenant_id|table|name`, so a
ciphertext copied to another tenant or field fails to decrypt.

Stored format: `sfb1:<kek_id>:<dek_id>:<base64(nonce‖ciphertext‖tag)>`. Values wrapped by the
KEK itself (DEKs, the local issuer's private key) use `-` as the dek id.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = "sfb1"
NONCE_BYTES = 12
KEY_BYTES = 32


class MasterKeyError(Exception):
    """The master key is missing, unreadable or malformed (message names no secret)."""


class DecryptionFailed(Exception):
    """Wrong key, wrong AAD or tampered ciphertext."""


@dataclass(frozen=True)
class MasterKey:
    key: bytes = field(repr=False)

    @property
    def kek_id(self) -> str:
        return hashlib.sha256(b"sfb-kek-id|" + self.key).hexdigest()[:12]

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def from_base64(cls, text: str) -> MasterKey:
        """The key from its base64 text; ValueError (naming no secret) when malformed."""
        try:
            raw = base64.b64decode(text.strip(), validate=True)
        except ValueError:
            raise ValueError("not base64") from None
        if len(raw) != KEY_BYTES:
            raise ValueError(f"must hold {KEY_BYTES} bytes")
        return cls(raw)

    def to_base64(self) -> str:
        return base64.b64encode(self.key).decode("ascii")


class KeyFileTooOpen(MasterKeyError):
    """A key file that group or others may read (or write): refused, as OpenSSH refuses such
    a private key, rather than used silently (SPEC §19.2)."""

    def __init__(self, path: Path, mode: int) -> None:
        super().__init__(f"master key file {path} is accessible by group or others (mode "
                         f"{mode:04o}); a master key must be readable by its owner only: run "
                         f"`chmod 600 {path}`")


def check_key_file_mode(path: Path) -> None:
    """KeyFileTooOpen when any group or other permission bit is set on `path`."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise MasterKeyError(f"master key file {path} is unreadable") from exc
    if mode & 0o077:
        raise KeyFileTooOpen(path, mode)


def read_key_file(path: Path) -> MasterKey:
    """The key in a base64 key file; MasterKeyError (naming the file, not the key) otherwise,
    KeyFileTooOpen when group or others have any access to it."""
    check_key_file_mode(path)
    try:
        text = path.read_text("ascii")
    except (OSError, ValueError) as exc:
        raise MasterKeyError(f"master key file {path} is unreadable") from exc
    try:
        return MasterKey.from_base64(text)
    except ValueError as exc:
        raise MasterKeyError(f"master key file {path} is malformed ({exc})") from None


def write_key_file(path: Path, key: MasterKey) -> None:
    """Create `path` (mode 0600, never overwriting) holding `key`, flushed to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.to_base64() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def load_or_create_master_key(path: Path, *, create: bool = True) -> MasterKey:
    """Read the base64 key file; create it (0600) on first start when allowed."""
    if path.exists():
        return read_key_file(path)
    if not create:
        raise MasterKeyError(f"master key file {path} does not exist (run `scaiflow-box init`)")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = MasterKey.generate()
    write_key_file(path, key)
    return key


def seal(key: bytes, plaintext: bytes, aad: bytes) -> str:
    nonce = secrets.token_bytes(NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext, aad)).decode("ascii")


def open_sealed(key: bytes, sealed: str, aad: bytes) -> bytes:
    try:
        blob = base64.b64decode(sealed, validate=True)
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("ciphertext does not decrypt under this key and context") from exc


def encrypt_value(key: bytes, kek_id: str, dek_id: str, plaintext: bytes, aad: bytes) -> str:
    return f"{FORMAT}:{kek_id}:{dek_id}:{seal(key, plaintext, aad)}"


def split_stored(stored: str) -> tuple[str, str, str]:
    """(kek_id, dek_id, sealed) of a stored value; DecryptionFailed when not our format."""
    parts = stored.split(":", 3)
    if len(parts) != 4 or parts[0] != FORMAT:
        raise DecryptionFailed("value is not in the sfb1 format")
    return parts[1], parts[2], parts[3]


def wrap_with_master(master: MasterKey, plaintext: bytes, aad: bytes) -> str:
    return encrypt_value(master.key, master.kek_id, "-", plaintext, aad)


def unwrap_with_master(master: MasterKey, stored: str, aad: bytes) -> bytes:
    kek_id, _dek, sealed = split_stored(stored)
    if kek_id != master.kek_id:
        raise DecryptionFailed(
            f"value is wrapped by key {kek_id}, the master key in use is {master.kek_id}"
        )
    return open_sealed(master.key, sealed, aad)
