"""The `scaiflow-box` commands that work on a data directory (SPEC §20): serve, init,
tokens, admin roles, JWKS, backup and restore (the master key's are in `master_keys.py`).
`cli.py` parses the arguments and imports this module only when one of these commands runs.

Output meant for scripts goes to stdout alone, messages to stderr; exit 0 on success, 1 on
failure, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from scaiflow_box.config import Settings
    from scaiflow_box.services.bootstrap import DataDir
    from scaiflow_box.store.engine import Connection

T = TypeVar("T")
Command = Callable[[argparse.Namespace], int]


def err(message: str) -> None:
    print(message, file=sys.stderr)


def operator_command(command: Command) -> Command:
    """Log warnings to stderr, and report the operator's fixable problems (configuration, the
    data directory, the master key) in one line each with exit 1 instead of a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        import logging

        from scaiflow_box.config import ConfigError
        from scaiflow_box.crypto.envelope import DecryptionFailed, MasterKeyError
        from scaiflow_box.services.bootstrap import DataDirError
        from scaiflow_box.store.migrations import BadDatabase, MigrationBlocked, SchemaTooNew

        logging.basicConfig(level=logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        try:
            return command(args)
        except ConfigError as exc:
            for problem in exc.problems:
                err(f"config error: {problem}")
            return 1
        except (DataDirError, MasterKeyError, DecryptionFailed, SchemaTooNew, BadDatabase,
                MigrationBlocked) as exc:
            err(f"error: {exc}")
            return 1

    return run


def settings_from(args: argparse.Namespace, **overrides: object) -> Settings:
    from pathlib import Path

    from scaiflow_box.config import load_settings

    data_dir = getattr(args, "data_dir", None)
    return load_settings(
        None, {"data_dir": Path(data_dir) if data_dir else None, **overrides}
    )


def with_data_dir(settings: Settings, fn: Callable[[DataDir], T]) -> T:
    """Open the initialised data directory (refusing any other) and call fn with it."""
    from scaiflow_box.services.bootstrap import open_data_dir

    with open_data_dir(settings) as data_dir:
        return fn(data_dir)


# -- serve / init ----------------------------------------------------------------------
@operator_command
def cmd_serve(args: argparse.Namespace) -> int:
    from scaiflow_box.server import serve

    settings = settings_from(args, api_host=args.host, api_port=args.port)
    return serve(settings)


@operator_command
def cmd_init(args: argparse.Namespace) -> int:
    from scaiflow_box.services.bootstrap import initialize, open_settings_database

    settings = settings_from(args)
    db = open_settings_database(settings, reader_threads=1)
    try:
        report = initialize(settings, db)
    finally:
        db.close()
    err(f"data dir: {settings.data_dir.resolve()}")
    err(f"issuer:   {report.issuer.issuer}")
    if report.operator_created:
        err("created tenant tnt_local and user usr_operator (super_admin)")
    return 0


# -- tokens ----------------------------------------------------------------------------
@operator_command
def cmd_token_mint(args: argparse.Namespace) -> int:
    from scaiflow_box.services.service_tokens import (
        MintedToken,
        SubjectTaken,
        TokenRequestError,
        mint_service_token,
    )
    from scaiflow_box.services.tenant_registry import new_tenant_notice

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        def mint(conn: Connection) -> tuple[MintedToken, str | None]:
            notice = new_tenant_notice(conn, args.tenant)  # before the token makes it known
            return mint_service_token(
                conn, data.issuer, sub=args.sub, tenant_id=args.tenant, scope=args.scope,
                ttl_seconds=args.ttl, description=args.description or "minted by CLI",
                created_by="cli", email=args.email, name=args.name), notice

        try:
            minted, notice = data.db.write_sync(mint)
        except SubjectTaken as exc:  # the arguments are fine; the database says no
            err(f"error: {exc}")
            return 1
        except TokenRequestError as exc:
            err(f"error: {exc}")
            return 2
        print(minted.token)
        err(f"token {minted.id} for {args.sub}@{args.tenant} expires {minted.expires_at}")
        if notice is not None:
            err(f"note: {notice}; it was created with user {args.sub}. If the id is "
                f"mistyped: scaiflow-box token revoke {minted.id}, then scaiflow-box tenants "
                f"delete {args.tenant}")
        return 0

    return with_data_dir(settings, run)


@operator_command
def cmd_token_revoke(args: argparse.Namespace) -> int:
    from scaiflow_box.services.service_tokens import revoke_service_token

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        if data.db.write_sync(lambda conn: revoke_service_token(conn, args.id, actor="cli")):
            err(f"revoked {args.id}")
            return 0
        err(f"error: no live service token {args.id!r}")
        return 1

    return with_data_dir(settings, run)


# -- admin roles -----------------------------------------------------------------------
def _change_role(args: argparse.Namespace, role: str | None) -> int:
    from scaiflow_box.services.roles import (
        LastSuperAdmin,
        RoleChangeError,
        set_role_by_operator,
    )

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        try:
            user = data.db.write_sync(lambda conn: set_role_by_operator(conn, args.user, role))
        except RoleChangeError as exc:
            err(f"error: {exc}")
            return 1
        except LastSuperAdmin as exc:
            err(f"error: {exc}; grant super_admin to another user first "
                "(`scaiflow-box admin grant <user> --role super_admin`)")
            return 1
        err(f"{user} is now {role} (source manual)" if role
             else f"{user} no longer has an admin role")
        return 0

    return with_data_dir(settings, run)


@operator_command
def cmd_admin_grant(args: argparse.Namespace) -> int:
    return _change_role(args, args.role)


@operator_command
def cmd_admin_revoke(args: argparse.Namespace) -> int:
    return _change_role(args, None)


@operator_command
def cmd_admin_users(args: argparse.Namespace) -> int:
    from scaiflow_box.store import users as user_rows

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        rows = data.db.read_inline(lambda conn: user_rows.list_users(
            conn, tenant_id=args.tenant, include_deleted=True, limit=100_000))
        print(f"{'ID':<28} {'TENANT':<20} {'ISSUER':<8} {'STATUS':<10} {'ROLE':<13} "
              f"{'SOURCE':<10} EMAIL")
        for row in rows:
            status = "DELETED" if row["deleted_at"] else row["status"]
            print(f"{row['id']:<28} {row['tenant_id']:<20} {row['issuer']:<8} {status:<10} "
                  f"{row['admin_role'] or '-':<13} {row['admin_role_source'] or '-':<10} "
                  f"{row['email'] or '-'}")
        return 0

    return with_data_dir(settings, run)


# -- JWKS and backups ------------------------------------------------------------------
@operator_command
def cmd_jwks_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scaiflow_box.auth.jwks import import_jwks_file
    from scaiflow_box.store import audit

    settings = settings_from(args)
    issuer = args.issuer or settings.scaikey_issuer
    if not issuer:
        err("error: name the issuer with --issuer (or set SCAIKEY_ISSUER)")
        return 2

    def import_and_record(conn: Connection) -> list[str]:
        kids = import_jwks_file(conn, args.file, issuer)
        audit.record(conn, tenant_id=None, actor="cli", action="jwks.imported",
                     target_type="issuer", target_id=issuer,
                     details={"key_ids": kids, "file": str(Path(args.file).resolve())})
        return kids

    def run(data: DataDir) -> int:
        try:
            kids = data.db.write_sync(import_and_record)
        except (OSError, ValueError) as exc:
            err(f"error: {exc}")
            return 1
        err(f"imported {len(kids)} key(s) for {issuer}: {', '.join(kids)}")
        return 0

    return with_data_dir(settings, run)


@operator_command
def cmd_jwks_show(args: argparse.Namespace) -> int:
    import json

    from scaiflow_box.store import keys as key_rows

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        rows = data.db.read_inline(key_rows.all_jwks)
        out = [{"issuer": data.issuer.issuer, "source": "local",
                "key_ids": [k["kid"] for k in data.issuer.public_jwks()["keys"]]}]
        for row in rows:
            keys = json.loads(row["jwks"]).get("keys", [])
            out.append({"issuer": row["issuer"], "source": row["source"],
                        "fetched_at": row["fetched_at"],
                        "key_ids": [k.get("kid") for k in keys if isinstance(k, dict)]})
        print(json.dumps(out, indent=2))
        return 0

    return with_data_dir(settings, run)


@operator_command
def cmd_backup(args: argparse.Namespace) -> int:
    import sqlite3
    from pathlib import Path

    settings = settings_from(args)
    if settings.database_url is not None:
        url = settings.database_url
        err(f"error: backup copies the SQLite database; the {url.where} is backed up with "
            f"MariaDB's tools: `mariadb-dump --single-transaction --routines --triggers "
            f"{url.database}` or `mariabackup --backup`; keep the master key "
            f"({settings.master_key_path}) with it, separately")
        return 1
    target = Path(args.file)
    if target.exists():
        err(f"error: {target} exists; choose a new file")
        return 1
    if not target.parent.is_dir():
        err(f"error: cannot write {target}: {target.parent} is not a directory (create it "
            "first)")
        return 1

    def run(data: DataDir) -> int:
        from contextlib import closing

        from scaiflow_box.crypto.keyring import check_encrypted_fields
        from scaiflow_box.services.key_retention import record_backup
        from scaiflow_box.store import audit
        from scaiflow_box.store.db import SqliteDatabase

        if not isinstance(data.db, SqliteDatabase):  # refused above; never reached
            raise TypeError("backup copies an SQLite database")
        try:
            data.db.backup_to(target)
        except OSError as exc:
            err(f"error: cannot write {target}: {exc.strerror or exc}")
            return 1
        # The copy must hold secrets only encrypted, all under one master key: say which.
        with closing(sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)) as copy:
            kek_id, count, problems = check_encrypted_fields(copy)
        for problem in problems:
            err(f"error: backup check: {problem}")
        if problems:
            return 1

        def remember(conn: Connection) -> None:
            # Remembered so that `keys list` and `keys prune` know what needs which key.
            record_backup(conn, file=target, kek_id=kek_id, size_bytes=target.stat().st_size)
            audit.record(conn, tenant_id=None, actor="cli", action="backup.created",
                         target_type="backup", target_id=str(target.resolve()),
                         details={"kek_id": kek_id, "encrypted_values": count})

        data.db.write_sync(remember)
        err(f"backed up {settings.db_path} to {target}: {count} encrypted value(s) under "
             f"master key kek {kek_id} (keep that master.key with it, separately)")
        return 0

    return with_data_dir(settings, run)


@operator_command
def cmd_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scaiflow_box.services.restore import RestoreRefused, restore_backup
    from scaiflow_box.store.dir_lock import DataDirBusy

    settings = settings_from(args)
    if settings.database_url is not None:
        err(f"error: restore puts back an SQLite backup; the {settings.database_url.where} is "
            "restored with MariaDB's tools: `mariadb` < the dump, or `mariabackup "
            "--prepare` then `--copy-back`; then start one scaiflow-box process first (it "
            "checks the schema and the master key) before the others")
        return 1
    try:
        report = restore_backup(settings, Path(args.file))
    except (RestoreRefused, DataDirBusy) as exc:
        err(f"error: {exc}")
        return 1
    err(f"restored {args.file} into {settings.db_path} (backup schema "
         f"{report.schema_version}, now {report.known_version})")
    if report.rewrapped_from is not None:
        err(f"the backup was under the retired master key kek {report.rewrapped_from}: its "
            "keys are now wrapped by the current master key")
    if report.kept_aside is not None:
        err(f"the database it replaced is kept as {report.kept_aside}")
    return 0
