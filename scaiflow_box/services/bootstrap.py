"""`scaiflow-box init` (and every start): data dir, master key, database, issuer key, and on
a box with no ScaiKey the local tenant and its bootstrap super admin (SPEC §20).

Only `init` and `serve` create a data directory. Every other command opens one through
`open_data_dir`, which refuses a directory `init` never ran on: a fresh master key and issuer
there would sign tokens the running appliance rejects as coming from the wrong issuer.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scaiflow_box.auth.issuer import LocalIssuer
from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import MasterKey
from scaiflow_box.crypto.keyring import Keyring, open_keyring
from scaiflow_box.crypto.master_key import MasterKeyMismatch, MasterKeySource
from scaiflow_box.store import audit
from scaiflow_box.store import secrets as secret_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.database import Database, open_database
from scaiflow_box.store.engine import Connection, DatabaseUrl
from scaiflow_box.store.migrations import has_schema

LOCAL_TENANT = "tnt_local"
OPERATOR = "usr_operator"


@dataclass(frozen=True)
class InitReport:
    master_key: MasterKey
    issuer: LocalIssuer
    operator_created: bool
    keyring: Keyring


def master_key_source(settings: Settings) -> MasterKeySource:
    """SCAIFLOW_MASTER_KEY when set (it wins), else the key file."""
    return MasterKeySource(settings.master_key_path, settings.master_key)


def bootstrap_operator(conn: Connection) -> bool:
    """Create tnt_local/usr_operator as super_admin (source bootstrap) once; idempotent."""
    user_rows.ensure_tenant(conn, LOCAL_TENANT, source="bootstrap")
    if user_rows.get_user_any_tenant(conn, OPERATOR) is not None:
        return False
    user_rows.upsert_user(conn, tenant_id=LOCAL_TENANT, user_id=OPERATOR, email=None,
                          display_name="Appliance operator", source="bootstrap",
                          issuer=user_rows.LOCAL)
    user_rows.set_admin_role(conn, LOCAL_TENANT, OPERATOR, "super_admin", "bootstrap")
    audit.record(conn, tenant_id=LOCAL_TENANT, actor="scaiflow-box init",
                 action="user.bootstrapped", target_type="user", target_id=OPERATOR,
                 details={"role": "super_admin"})
    return True


def initialize(settings: Settings, db: Database) -> InitReport:
    """Idempotent; `db` must be open. Runs with blocking I/O (CLI or executor).

    Fails fast (`MasterKeyError`, one line) when the master key does not unwrap the
    database's keys; finishes a key rotation that stopped after its commit."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    source = master_key_source(settings)

    def run(conn: Connection) -> tuple[Keyring, LocalIssuer, bool]:
        # First, so that processes starting together on one empty database (scale-out) run
        # this one after the other: the first records its master key, the others must hold
        # the same key or refuse to start (MasterKeyMismatch names both ids).
        secret_rows.lock_kek_id(conn)
        keyring = open_keyring(source, conn, create=True)
        recorded = secret_rows.claim_kek_id(conn, keyring.master.kek_id)
        if recorded != keyring.master.kek_id:
            raise MasterKeyMismatch(source.where, keyring.master.kek_id, recorded, source.hint)
        issuer = LocalIssuer.load_or_create(conn, keyring.master)
        created = False if settings.scaikey_configured else bootstrap_operator(conn)
        return keyring, issuer, created

    keyring, issuer, created = db.write_sync(run)
    return InitReport(keyring.master, issuer, created, keyring)


class DataDirError(Exception):
    """The data directory cannot be used as it is; the message (one line) says what to do."""


@dataclass(frozen=True)
class DataDir:
    """An initialised data directory, opened: its database, master key and local issuer."""

    db: Database
    master_key: MasterKey
    issuer: LocalIssuer
    keyring: Keyring


def not_initialised(data_dir: Path) -> DataDirError:
    where = str(data_dir.resolve())
    return DataDirError(f"{where} is not an initialised scaiflow-box data directory; run "
                        f"`scaiflow-box init --data-dir {shlex.quote(where)}` first")


def database_url(settings: Settings) -> DatabaseUrl | None:
    """The MariaDB database of `SCAIFLOW_DATABASE_URL` with the password of
    `SCAIFLOW_DATABASE_PASSWORD_FILE` (mode 0600, as the master key file), or None for SQLite.
    DataDirError (one line, never the password) when the file cannot be used."""
    url = settings.database_url
    path = settings.database_password_file
    if url is None or path is None:
        return url
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataDirError(f"cannot read the database password file {path}: "
                           f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    if mode & 0o077:
        raise DataDirError(f"database password file {path} is accessible by group or others "
                           f"(mode {mode:04o}); run `chmod 600 {path}`")
    return url.with_password(text.rstrip("\r\n"))


def open_settings_database(settings: Settings, *, reader_threads: int = 2) -> Database:
    """The database the settings name: SQLite in the data dir, or MariaDB. Blocking; creates
    (SQLite: and migrates) the schema."""
    return open_database(settings.db_path, database_url(settings),
                         reader_threads=reader_threads)


def _database_has_schema(settings: Settings) -> bool:
    url = database_url(settings)
    if url is None:
        return _has_schema(settings.db_path)
    from scaiflow_box.store.mariadb_database import has_schema as mariadb_has_schema

    try:
        return mariadb_has_schema(url)
    except sqlite3.Error as exc:  # the wrapper's errors are sqlite3's
        raise DataDirError(f"cannot open the {url.where}: {exc}") from None


def _has_schema(db_path: Path) -> bool:
    """Whether `db_path` is a database `init` migrated; opens it read-only, creates nothing."""
    try:
        return has_schema(db_path)
    except sqlite3.Error as exc:
        raise DataDirError(f"cannot open {db_path}: {exc}") from None


@contextmanager
def open_data_dir(settings: Settings) -> Iterator[DataDir]:
    """Open a data directory that `init` (or `serve`) created; never creates anything.

    Blocking (CLI, TUI). Raises `DataDirError` for a missing or uninitialised directory, a
    missing master key or a database that cannot be opened, and `MasterKeyError` /
    `DecryptionFailed` for an unreadable or wrong master key.
    """
    if not _database_has_schema(settings):
        raise not_initialised(settings.data_dir)
    source = master_key_source(settings)
    key_path = settings.master_key_path
    if not source.exists() and not source.pending_path.is_file():
        # `init` would not help: it would make a new key that cannot read this database.
        raise DataDirError(f"no master key at {key_path}; the database in "
                           f"{settings.data_dir.resolve()} needs the key it was initialised "
                           "with (restore it from your backup)")
    try:
        db = open_settings_database(settings, reader_threads=1)
    except (sqlite3.Error, OSError) as exc:
        where = settings.database_url.where if settings.database_url else settings.db_path
        raise DataDirError(f"cannot open {where}: {exc}") from None
    try:
        # Under the write lock: a rotation in another process stages its key file while it
        # holds that lock, so what open_keyring sees of `master.key.new` is settled.
        keyring = db.write_sync(lambda conn: open_keyring(source, conn, create=False))
        issuer = db.read_inline(lambda conn: LocalIssuer.load(conn, keyring.master))
        if issuer is None:
            raise not_initialised(settings.data_dir)
        yield DataDir(db, keyring.master, issuer, keyring)
    finally:
        db.close()
