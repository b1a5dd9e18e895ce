"""The keyring: encrypts and decrypts tenant secrets under per-tenant data keys (DEKs) wrapped
by the master key (KEK), SPEC §19.2.

- One DEK per tenant in `data_keys`, created on first use, wrapped by the KEK with AAD
  `tenant_id|data_keys|<dek id>`.
- A secret is AES-256-GCM under its tenant's DEK with AAD `tenant_id|<table>|<name>`, stored as
  `sfb1:<kek id>:<dek id>:<base64(nonce‖ciphertext‖tag)>` (the kek id names the key that wraps
  the DEK; a rotation keeps it current).
- Unwrapped DEKs are cached in memory. A DEK wrapped by a KEK the keyring does not hold makes
  it re-read the configured master key (`MasterKeySource.find`), so a server keeps working
  after `scaiflow-box keys rotate` ran in another process.

Thread-safe: the writer thread encrypts, readers and the event loop decrypt.
"""

from __future__ import annotations

import logging
import threading

from scaiflow_box.crypto.envelope import (
    KEY_BYTES,
    DecryptionFailed,
    MasterKey,
    MasterKeyError,
    encrypt_value,
    open_sealed,
    split_stored,
    unwrap_with_master,
    wrap_with_master,
)
from scaiflow_box.crypto.master_key import MasterKeyMismatch, MasterKeySource
from scaiflow_box.ids import new_id
from scaiflow_box.store import secrets as secret_rows
from scaiflow_box.store.encrypted_fields import DATA_KEYS, ENCRYPTED_FIELDS, EncryptedField
from scaiflow_box.store.engine import Connection

log = logging.getLogger(__name__)


def kek_of_database(conn: Connection) -> str | None:
    """The id of the master key this database's keys are wrapped by: the recorded one, else
    (a database from before it was recorded) the one its wrapped values name; None when the
    database holds no wrapped value yet."""
    recorded = secret_rows.get_kek_id(conn)
    if recorded is not None:
        return recorded
    for field in ENCRYPTED_FIELDS:
        if field.protected_by == "master_key":
            for _tenant, _name, value in secret_rows.encrypted_values(conn, field)[:1]:
                return split_stored(value)[0]
    return None


class Keyring:
    def __init__(self, source: MasterKeySource, master: MasterKey) -> None:
        self.source = source
        self._masters: dict[str, MasterKey] = {master.kek_id: master}
        self._primary = master.kek_id
        self._deks: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Keyring(kek={self._primary}, source={self.source.where})"

    # -- master keys ---------------------------------------------------------------------
    @property
    def master(self) -> MasterKey:
        """The master key the database was opened with, or last rotated to by this process."""
        return self._masters[self._primary]

    def adopt(self, master: MasterKey) -> None:
        """Make `master` the key in use (after this process committed a rotation to it)."""
        with self._lock:
            self._masters[master.kek_id] = master
            self._primary = master.kek_id

    def master_for(self, kek_id: str) -> MasterKey:
        """The master key with this id; re-reads the configured key when it is not held."""
        held = self._masters.get(kek_id)
        if held is not None:
            return held
        with self._lock:
            found = self._masters.get(kek_id) or self.source.find(kek_id)
            if found is None:
                raise MasterKeyMismatch(self.source.where, self._primary, kek_id,
                                        self.source.hint)
            if found.kek_id not in self._masters:
                log.info("master key re-read from %s: now kek %s", self.source.where, kek_id)
            self._masters[kek_id] = found
            self._primary = kek_id
            return found

    def unwrap(self, field: EncryptedField, tenant_id: str | None, name: str,
               stored: str) -> bytes:
        """A value the master key wraps itself (a data key, the issuer's private key)."""
        if field.protected_by != "master_key":
            raise ValueError(f"{field.table}.{field.column} is not wrapped by the master key")
        kek_id, _dek, _sealed = split_stored(stored)
        return unwrap_with_master(self.master_for(kek_id), stored, field.aad(tenant_id, name))

    # -- data keys -----------------------------------------------------------------------
    def _unwrap_data_key(self, tenant_id: str, dek_id: str, wrapped: str) -> bytes:
        cached = self._deks.get((tenant_id, dek_id))
        if cached is not None:
            return cached
        key = self.unwrap(DATA_KEYS, tenant_id, dek_id, wrapped)
        if len(key) != KEY_BYTES:
            raise DecryptionFailed(f"data key {dek_id} has the wrong length")
        self._deks[(tenant_id, dek_id)] = key
        return key

    def data_key(self, conn: Connection, tenant_id: str, dek_id: str) -> bytes:
        cached = self._deks.get((tenant_id, dek_id))
        if cached is not None:
            return cached
        row = secret_rows.data_key(conn, tenant_id, dek_id)
        if row is None:
            raise DecryptionFailed(f"tenant {tenant_id} has no data key {dek_id}")
        return self._unwrap_data_key(tenant_id, dek_id, row["wrapped"])

    def create_data_key(self, conn: Connection, tenant_id: str,
                        master: MasterKey) -> tuple[str, bytes]:
        """A new DEK for `tenant_id`, wrapped by `master` and stored (writer's connection)."""
        dek_id = new_id("dek")
        key = MasterKey.generate().key
        wrapped = wrap_with_master(master, key, DATA_KEYS.aad(tenant_id, dek_id))
        secret_rows.insert_data_key(conn, tenant_id, dek_id, master.kek_id, wrapped)
        self._deks[(tenant_id, dek_id)] = key
        return dek_id, key

    def current_master(self, conn: Connection) -> MasterKey:
        """The master key this database is wrapped by now (read inside the caller's
        transaction, so a rotation by another process is seen)."""
        kek_id = kek_of_database(conn)
        return self.master if kek_id is None else self.master_for(kek_id)

    # -- tenant secrets ------------------------------------------------------------------
    def encrypt(self, conn: Connection, field: EncryptedField, tenant_id: str,
                name: str, plaintext: bytes) -> str:
        """Encrypt a value of a registered data-key field for `tenant_id`; `conn` is the
        writer's, inside the transaction that stores the value (the tenant's DEK is created
        there on first use)."""
        self._check_data_key_field(field)
        row = secret_rows.active_data_key(conn, tenant_id)
        if row is None:
            master = self.current_master(conn)
            dek_id, key = self.create_data_key(conn, tenant_id, master)
            kek_id = master.kek_id
        else:
            dek_id, kek_id = row["id"], row["kek_id"]
            key = self._unwrap_data_key(tenant_id, dek_id, row["wrapped"])
        return encrypt_value(key, kek_id, dek_id, plaintext, field.aad(tenant_id, name))

    def decrypt(self, conn: Connection, field: EncryptedField, tenant_id: str,
                name: str, stored: str) -> bytes:
        """Decrypt a stored value; DecryptionFailed when it was not made for exactly this
        tenant, table and name (or was tampered with)."""
        self._check_data_key_field(field)
        _kek, dek_id, sealed = split_stored(stored)
        if dek_id == "-":
            raise DecryptionFailed("value is not encrypted under a data key")
        return open_sealed(self.data_key(conn, tenant_id, dek_id), sealed,
                           field.aad(tenant_id, name))

    @staticmethod
    def _check_data_key_field(field: EncryptedField) -> None:
        if field not in ENCRYPTED_FIELDS or field.protected_by != "data_key":
            raise ValueError(f"{field.table}.{field.column} is not a registered data-key field")

    # -- start-up ------------------------------------------------------------------------
    def verify(self, conn: Connection) -> int:
        """Unwrap every value the master key wraps (data keys, issuer keys), filling the DEK
        cache; MasterKeyError with one clear line when one does not unwrap. Returns the count."""
        count = 0
        for field in ENCRYPTED_FIELDS:
            if field.protected_by != "master_key":
                continue
            for tenant_id, name, value in secret_rows.encrypted_values(conn, field):
                try:
                    if field is DATA_KEYS and tenant_id is not None:
                        self._unwrap_data_key(tenant_id, name, value)
                    else:
                        self.unwrap(field, tenant_id, name, value)
                except DecryptionFailed:
                    raise MasterKeyError(
                        f"{field.table} row {name!r} does not decrypt under the master key in "
                        f"{self.source.where} (kek {self._primary}): the database is damaged; "
                        "restore it from a backup") from None
                count += 1
        return count


def open_keyring(source: MasterKeySource, conn: Connection, *,
                 create: bool) -> Keyring:
    """Load the master key, check it against the database and finish (or clean up after) an
    interrupted rotation. `conn` must hold the database's write lock (BEGIN IMMEDIATE): a
    rotation stages its key file while it holds that lock, so a `.new` seen here is never one
    that a rotation in progress still needs. `create` makes a missing key file (init/serve)
    when the database holds no wrapped value yet."""
    needed = kek_of_database(conn)
    pending = source.load_pending()
    if not source.exists():
        if pending is not None and pending.kek_id == needed:
            _finish_rotation(source, pending)
            return _checked(Keyring(source, pending), conn)
        if needed is not None or not create:
            raise MasterKeyError(
                f"no master key at {source.path}; this database needs the key it was "
                "initialised or last rotated with (restore it from your backup)")
    current = source.load(create=create)
    if needed is None or needed == current.kek_id:
        if source.discard_pending():
            log.warning("removed %s: a key rotation that never committed left it",
                        source.pending_path)
        return _checked(Keyring(source, current), conn)
    if pending is not None and pending.kek_id == needed:
        _finish_rotation(source, pending)
        return _checked(Keyring(source, pending), conn)
    raise MasterKeyMismatch(source.where, current.kek_id, needed, source.hint)


def _finish_rotation(source: MasterKeySource, pending: MasterKey) -> None:
    source.promote(pending)
    log.warning("finished an interrupted key rotation: %s now holds kek %s", source.path,
                pending.kek_id)


def _checked(keyring: Keyring, conn: Connection) -> Keyring:
    keyring.verify(conn)
    return keyring


def check_encrypted_fields(conn: Connection) -> tuple[str | None, int, list[str]]:
    """(kek id, number of encrypted values, problems) of a database, e.g. a backup copy: every
    value of every registered field must be in the `sfb1` format under the database's KEK.
    Needs no key (nothing is decrypted)."""
    kek_id = kek_of_database(conn)
    count = 0
    problems: list[str] = []
    for field in ENCRYPTED_FIELDS:
        for _tenant, name, value in secret_rows.encrypted_values(conn, field):
            count += 1
            try:
                kek, _dek, _sealed = split_stored(value)
            except DecryptionFailed:
                problems.append(f"{field.table}.{field.column} of {name!r} is not encrypted")
                continue
            if kek != kek_id:
                problems.append(f"{field.table}.{field.column} of {name!r} names kek {kek},"
                                f" the database kek {kek_id}")
    return kek_id, count, problems
