"""The registry of encrypted columns (SPEC §19.2): which columns hold a secret, and the
additional authenticated data (AAD) that binds each value to its tenant, table and name.

It lives in the store because it describes stored rows; `crypto/` encrypts and decrypts what
it lists, and rotation, backup checks and tests walk it. A column that holds a secret is
listed here or it is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


def aad_for(tenant_id: str, table: str, name: str) -> bytes:
    """`tenant_id|table|name`: a ciphertext copied to another tenant, table or name fails to
    decrypt."""
    return f"{tenant_id}|{table}|{name}".encode()


@dataclass(frozen=True)
class EncryptedField:
    """One encrypted column. `name_column` names the value in its AAD; `tenant_column` gives
    the AAD's tenant (None: an appliance-wide value, AAD tenant `-`). `protected_by` says
    whether the master key wraps the value itself or a tenant's data key encrypts it."""

    table: str
    column: str
    name_column: str
    tenant_column: str | None
    protected_by: Literal["master_key", "data_key"]

    def aad(self, tenant_id: str | None, name: str) -> bytes:
        return aad_for(tenant_id or "-", self.table, name)


DATA_KEYS = EncryptedField("data_keys", "wrapped", "id", "tenant_id", "master_key")
ISSUER_KEYS = EncryptedField("issuer_keys", "private_key", "kid", None, "master_key")
TENANT_SECRETS = EncryptedField("tenant_secrets", "value", "name", "tenant_id", "data_key")

# One registry of encrypted fields drives encrypt, rotate, backup checks and tests.
ENCRYPTED_FIELDS: tuple[EncryptedField, ...] = (DATA_KEYS, ISSUER_KEYS, TENANT_SECRETS)


def registered_field(table: str) -> EncryptedField:
    """The registered field of `table` (KeyError for a table that holds no secret)."""
    for item in ENCRYPTED_FIELDS:
        if item.table == table:
            return item
    raise KeyError(f"{table} holds no registered encrypted field")
