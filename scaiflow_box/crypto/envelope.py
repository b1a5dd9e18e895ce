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


def load_or_create_master_key(path: Path, *, create: bool = True) -> MasterKey:
    """Read the base64 key file; create it (0600) on first start when allowed."""
    if path.exists():
        try:
            raw = base64.b64decode(path.read_text("ascii").strip(), validate=True)
        except (OSError, ValueError) as exc:
            raise MasterKeyError(f"master key file {path} is unreadable or not base64") from exc
        if len(raw) != KEY_BYTES:
            raise MasterKeyError(f"master key file {path} must hold {KEY_BYTES} bytes")
        return MasterKey(raw)
    if not create:
        raise MasterKeyError(f"master key file {path} does not exist (run `scaiflow-box init`)")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return MasterKey(key)


def aad_for(tenant_id: str, table: str, name: str) -> bytes:
    return f"{tenant_id}|{table}|{name}".encode()


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


# One registry of encrypted fields drives encrypt, rotate, backup checks and tests (§19.2).
ENCRYPTED_FIELDS: tuple[tuple[str, str], ...] = (
    ("data_keys", "wrapped"),
    ("issuer_keys", "private_key"),
    ("tenant_secrets", "value"),
)
