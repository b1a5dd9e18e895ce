"""Tenant secrets and the data keys that encrypt them (SPEC §19.2). Values arrive here already
encrypted; this module only stores rows.

Every query for one tenant's rows takes `tenant_id`. The appliance-wide queries at the end
(every value of a registered encrypted field, every data key) exist for key rotation and the
checks driven by the registry (`store.encrypted_fields.ENCRYPTED_FIELDS`).
"""

from __future__ import annotations

from collections.abc import Iterable

from scaiflow_box.store.encrypted_fields import EncryptedField
from scaiflow_box.store.engine import SQLITE, Connection, Row, dialect
from scaiflow_box.store.keys import get_meta, set_meta
from scaiflow_box.timestamps import now_iso

KEK_META = "kek_id"


# -- the database's master key id -----------------------------------------------------------
def get_kek_id(conn: Connection) -> str | None:
    """The id of the master key that wraps this database's keys (set at init and rotation)."""
    return get_meta(conn, KEK_META)


def set_kek_id(conn: Connection, kek_id: str) -> None:
    """Record a new master key id (a rotation, which holds the database's keys)."""
    set_meta(conn, KEK_META, kek_id)


def lock_kek_id(conn: Connection) -> str | None:
    """The recorded kek id, read as the first statement of start-up's transaction so that
    start-ups of several processes on one database run one after the other.

    SQLite: the writer's `BEGIN IMMEDIATE` already holds the whole database. MariaDB: a
    locking read waits for another process that recorded the id (or is about to: two
    processes that both find no row hold the same gap lock, their inserts deadlock, and the
    loser's transaction is run again whole), and it creates no snapshot, so every read after
    it sees what that process committed (its issuer, its install id)."""
    if dialect(conn) == SQLITE:
        return get_kek_id(conn)
    row = conn.execute("SELECT value FROM meta WHERE `key` = ? FOR UPDATE",
                       (KEK_META,)).fetchone()
    return None if row is None else str(row[0])


def claim_kek_id(conn: Connection, kek_id: str) -> str:
    """Record `kek_id` unless an id is recorded already (the first process to start on an
    empty database wins, never the last); returns the id recorded now, read in the same
    transaction (locking on MariaDB: the newest committed row, not the snapshot's)."""
    conflict = (" ON CONFLICT (`key`) DO NOTHING" if dialect(conn) == SQLITE
                else " ON DUPLICATE KEY UPDATE `key` = `key`")
    conn.execute("INSERT INTO meta (`key`, value) VALUES (?, ?)" + conflict,
                 (KEK_META, kek_id))
    stored = lock_kek_id(conn)
    if stored is None:  # cannot happen inside the transaction that just inserted it
        raise RuntimeError("the master key id vanished from meta")
    return stored


# -- data keys ------------------------------------------------------------------------------
def active_data_key(conn: Connection, tenant_id: str) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT id, tenant_id, kek_id, wrapped FROM data_keys WHERE tenant_id = ? AND active = 1"
        " ORDER BY created_at DESC, id LIMIT 1", (tenant_id,)).fetchone()
    return row


def data_key(conn: Connection, tenant_id: str, dek_id: str) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT id, tenant_id, kek_id, wrapped FROM data_keys WHERE tenant_id = ? AND id = ?",
        (tenant_id, dek_id)).fetchone()
    return row


def insert_data_key(conn: Connection, tenant_id: str, dek_id: str, kek_id: str,
                    wrapped: str) -> None:
    conn.execute("INSERT INTO data_keys (id, tenant_id, kek_id, wrapped, active, created_at)"
                 " VALUES (?, ?, ?, ?, 1, ?)", (dek_id, tenant_id, kek_id, wrapped, now_iso()))


def all_data_keys(conn: Connection) -> list[Row]:
    """Every tenant's data keys (rotation and start-up checks only)."""
    return conn.execute(
        "SELECT id, tenant_id, kek_id, wrapped, active FROM data_keys ORDER BY tenant_id, id"
    ).fetchall()


def set_data_keys_kek(conn: Connection, kek_id: str) -> None:
    """Record that every data key is now wrapped by `kek_id` (inside the rotation)."""
    conn.execute("UPDATE data_keys SET kek_id = ?", (kek_id,))


def delete_data_keys(conn: Connection, dek_ids: Iterable[str]) -> None:
    conn.executemany("DELETE FROM data_keys WHERE id = ?", [(d,) for d in dek_ids])


# -- tenant secrets -------------------------------------------------------------------------
def get_secrets(conn: Connection, tenant_id: str, names: Iterable[str]
                ) -> dict[str, str]:
    """The stored (encrypted) values of the named secrets that exist."""
    wanted = list(names)
    marks = ", ".join("?" for _ in wanted)
    rows = conn.execute(
        f"SELECT name, value FROM tenant_secrets WHERE tenant_id = ? AND name IN ({marks})",
        (tenant_id, *wanted)).fetchall()
    return {row["name"]: row["value"] for row in rows}


def put_secret(conn: Connection, tenant_id: str, name: str, value: str,
               updated_by: str) -> None:
    conflict = (" ON CONFLICT (tenant_id, name) DO UPDATE SET value = excluded.value,"
                " updated_by = excluded.updated_by, updated_at = excluded.updated_at"
                if dialect(conn) == SQLITE else
                " ON DUPLICATE KEY UPDATE value = VALUES(value), updated_by = VALUES(updated_by),"
                " updated_at = VALUES(updated_at)")
    conn.execute(
        "INSERT INTO tenant_secrets (tenant_id, name, value, updated_by, updated_at)"
        " VALUES (?, ?, ?, ?, ?)" + conflict,
        (tenant_id, name, value, updated_by, now_iso()))


def delete_secrets(conn: Connection, tenant_id: str, names: Iterable[str]) -> int:
    """Delete the named secrets of `tenant_id`; returns how many existed."""
    cursor = conn.executemany("DELETE FROM tenant_secrets WHERE tenant_id = ? AND name = ?",
                              [(tenant_id, name) for name in names])
    return cursor.rowcount


# -- registry-driven, appliance-wide (rotation and checks) ----------------------------------
def encrypted_values(conn: Connection, field: EncryptedField
                     ) -> list[tuple[str | None, str, str]]:
    """(tenant_id or None, name, stored value) of every row of a registered field."""
    tenant = field.tenant_column or "NULL"
    rows = conn.execute(
        f"SELECT {tenant}, {field.name_column}, {field.column} FROM {field.table}"
        f" ORDER BY {field.name_column}").fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


def update_encrypted_value(conn: Connection, field: EncryptedField,
                           tenant_id: str | None, name: str, value: str) -> None:
    if field.tenant_column is None:
        conn.execute(f"UPDATE {field.table} SET {field.column} = ?"
                     f" WHERE {field.name_column} = ?", (value, name))
    else:
        conn.execute(f"UPDATE {field.table} SET {field.column} = ?"
                     f" WHERE {field.tenant_column} = ? AND {field.name_column} = ?",
                     (value, tenant_id, name))
