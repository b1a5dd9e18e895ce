"""Key material rows: the local issuer's keys, the persisted JWKS cache, service tokens."""

from __future__ import annotations

from scaiflow_box.store.engine import SQLITE, Connection, Row, dialect
from scaiflow_box.timestamps import now_iso


def get_meta(conn: Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE `key` = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: Connection, key: str, value: str) -> None:
    """Insert or replace the meta row."""
    conflict = (" ON CONFLICT (`key`) DO UPDATE SET value = excluded.value"
                if dialect(conn) == SQLITE else " ON DUPLICATE KEY UPDATE value = VALUES(value)")
    conn.execute("INSERT INTO meta (`key`, value) VALUES (?, ?)" + conflict, (key, value))


def set_meta_if_absent(conn: Connection, key: str, value: str) -> str:
    conflict = (" ON CONFLICT (`key`) DO NOTHING" if dialect(conn) == SQLITE
                else " ON DUPLICATE KEY UPDATE `key` = `key`")
    conn.execute("INSERT INTO meta (`key`, value) VALUES (?, ?)" + conflict, (key, value))
    stored = get_meta(conn, key)
    if stored is None:  # cannot happen inside the transaction that just inserted it
        raise RuntimeError(f"meta key {key!r} vanished")
    return stored


# -- local issuer ----------------------------------------------------------------------
def active_issuer_keys(conn: Connection) -> list[Row]:
    return conn.execute(
        "SELECT kid, private_key, public_jwk, created_at FROM issuer_keys WHERE active = 1"
        " ORDER BY created_at DESC"
    ).fetchall()


def insert_issuer_key(
    conn: Connection, kid: str, wrapped_private_key: str, public_jwk: str
) -> None:
    conn.execute(
        "INSERT INTO issuer_keys (kid, private_key, public_jwk, active, created_at)"
        " VALUES (?, ?, ?, 1, ?)",
        (kid, wrapped_private_key, public_jwk, now_iso()),
    )


# -- JWKS cache --------------------------------------------------------------------------
def load_jwks(conn: Connection, issuer: str) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT issuer, jwks, source, fetched_at FROM jwks_cache WHERE issuer = ?", (issuer,)
    ).fetchone()
    return row


def all_jwks(conn: Connection) -> list[Row]:
    return conn.execute(
        "SELECT issuer, jwks, source, fetched_at FROM jwks_cache ORDER BY issuer"
    ).fetchall()


def save_jwks(conn: Connection, issuer: str, jwks_json: str, source: str) -> None:
    conflict = (" ON CONFLICT (issuer) DO UPDATE SET jwks = excluded.jwks,"
                " source = excluded.source, fetched_at = excluded.fetched_at"
                if dialect(conn) == SQLITE else
                " ON DUPLICATE KEY UPDATE jwks = VALUES(jwks), source = VALUES(source),"
                " fetched_at = VALUES(fetched_at)")
    conn.execute(
        "INSERT INTO jwks_cache (issuer, jwks, source, fetched_at) VALUES (?, ?, ?, ?)"
        + conflict,
        (issuer, jwks_json, source, now_iso()),
    )


# -- service tokens ----------------------------------------------------------------------
SERVICE_TOKEN_COLUMNS = (
    "id, jti, tenant_id, sub, scope, description, created_by, created_at, expires_at,"
    " revoked_at"
)


def insert_service_token(
    conn: Connection,
    *,
    token_id: str,
    jti: str,
    tenant_id: str,
    sub: str,
    scope: str,
    description: str,
    created_by: str,
    expires_at: str,
) -> None:
    conn.execute(
        f"INSERT INTO service_tokens ({SERVICE_TOKEN_COLUMNS})"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
        (token_id, jti, tenant_id, sub, scope, description, created_by, now_iso(), expires_at),
    )


def service_token_by_jti(conn: Connection, jti: str) -> Row | None:
    row: Row | None = conn.execute(
        f"SELECT {SERVICE_TOKEN_COLUMNS} FROM service_tokens WHERE jti = ?", (jti,)
    ).fetchone()
    return row


def find_service_token(conn: Connection, id_or_jti: str) -> Row | None:
    row: Row | None = conn.execute(
        f"SELECT {SERVICE_TOKEN_COLUMNS} FROM service_tokens WHERE id = ? OR jti = ?",
        (id_or_jti, id_or_jti),
    ).fetchone()
    return row


def list_service_tokens(conn: Connection, tenant_id: str | None) -> list[Row]:
    if tenant_id is None:
        return conn.execute(
            f"SELECT {SERVICE_TOKEN_COLUMNS} FROM service_tokens ORDER BY created_at DESC"
        ).fetchall()
    return conn.execute(
        f"SELECT {SERVICE_TOKEN_COLUMNS} FROM service_tokens WHERE tenant_id = ?"
        " ORDER BY created_at DESC",
        (tenant_id,),
    ).fetchall()


def revoke_service_token(conn: Connection, token_id: str) -> bool:
    cursor = conn.execute(
        "UPDATE service_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (now_iso(), token_id),
    )
    return cursor.rowcount == 1


# -- backups made by `scaiflow-box backup` (and copies `restore` kept aside) ---------------
BACKUP_COLUMNS = "file, made_at, kek_id, size_bytes, kind"


def insert_backup(conn: Connection, *, file: str, made_at: str, kek_id: str,
                  size_bytes: int, kind: str) -> None:
    conflict = (" ON CONFLICT (file, made_at) DO NOTHING" if dialect(conn) == SQLITE
                else " ON DUPLICATE KEY UPDATE file = file")
    conn.execute(f"INSERT INTO backups ({BACKUP_COLUMNS}) VALUES (?, ?, ?, ?, ?){conflict}",
                 (file, made_at, kek_id, size_bytes, kind))


def list_backups(conn: Connection) -> list[Row]:
    return conn.execute(f"SELECT {BACKUP_COLUMNS} FROM backups ORDER BY made_at, file"
                        ).fetchall()
