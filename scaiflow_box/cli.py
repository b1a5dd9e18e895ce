"""`scaiflow-box` sub-commands: argument parsing only; each calls into a module (SPEC §20).

Output meant for scripts goes to stdout alone, messages to stderr; exit 0 on success, 1 on
failure, 2 on usage errors.

A command's modules are imported when it runs, not when the parser is built: `version`
imports none of the server, the compiler or the TUI (tests/test_cli.py holds this).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from scaiflow_box import __version__

if TYPE_CHECKING:
    from scaiflow_box.config import Settings
    from scaiflow_box.services.bootstrap import DataDir

T = TypeVar("T")
Command = Callable[[argparse.Namespace], int]


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _operator_command(command: Command) -> Command:
    """Log warnings to stderr, and report the operator's fixable problems (configuration, the
    data directory, the master key) in one line each with exit 1 instead of a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        import logging

        from scaiflow_box.config import ConfigError
        from scaiflow_box.crypto.envelope import DecryptionFailed, MasterKeyError
        from scaiflow_box.services.bootstrap import DataDirError

        logging.basicConfig(level=logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        try:
            return command(args)
        except ConfigError as exc:
            for problem in exc.problems:
                _err(f"config error: {problem}")
            return 1
        except (DataDirError, MasterKeyError, DecryptionFailed) as exc:
            _err(f"error: {exc}")
            return 1

    return run


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    from pathlib import Path

    from scaiflow_box.config import load_settings

    data_dir = getattr(args, "data_dir", None)
    return load_settings(
        None, {"data_dir": Path(data_dir) if data_dir else None, **overrides}
    )


def _with_data_dir(settings: Settings, fn: Callable[[DataDir], T]) -> T:
    """Open the initialised data directory (refusing any other) and call fn with it."""
    from scaiflow_box.services.bootstrap import open_data_dir

    with open_data_dir(settings) as data_dir:
        return fn(data_dir)


# -- serve / init / version ------------------------------------------------------------
@_operator_command
def cmd_serve(args: argparse.Namespace) -> int:
    from scaiflow_box.server import serve

    settings = _settings(args, api_host=args.host, api_port=args.port)
    return serve(settings)


@_operator_command
def cmd_init(args: argparse.Namespace) -> int:
    from scaiflow_box.services.bootstrap import initialize
    from scaiflow_box.store.db import Database

    settings = _settings(args)
    db = Database(settings.db_path, reader_threads=1)
    try:
        report = initialize(settings, db)
    finally:
        db.close()
    _err(f"data dir: {settings.data_dir.resolve()}")
    _err(f"issuer:   {report.issuer.issuer}")
    if report.operator_created:
        _err("created tenant tnt_local and user usr_operator (super_admin)")
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    print(f"scaiflow-box {__version__}")
    return 0


# -- tokens ----------------------------------------------------------------------------
@_operator_command
def cmd_token_mint(args: argparse.Namespace) -> int:
    from scaiflow_box.services.service_tokens import TokenRequestError, mint_service_token

    settings = _settings(args)

    def run(data: DataDir) -> int:
        try:
            minted = data.db.write_sync(lambda conn: mint_service_token(
                conn, data.issuer, sub=args.sub, tenant_id=args.tenant, scope=args.scope,
                ttl_seconds=args.ttl, description=args.description or "minted by CLI",
                created_by="cli", email=args.email, name=args.name,
            ))
        except TokenRequestError as exc:
            _err(f"error: {exc}")
            return 2
        print(minted.token)
        _err(f"token {minted.id} for {args.sub}@{args.tenant} expires {minted.expires_at}")
        return 0

    return _with_data_dir(settings, run)


@_operator_command
def cmd_token_revoke(args: argparse.Namespace) -> int:
    from scaiflow_box.services.service_tokens import revoke_service_token

    settings = _settings(args)

    def run(data: DataDir) -> int:
        if data.db.write_sync(lambda conn: revoke_service_token(conn, args.id, actor="cli")):
            _err(f"revoked {args.id}")
            return 0
        _err(f"error: no live service token {args.id!r}")
        return 1

    return _with_data_dir(settings, run)


# -- admin roles -----------------------------------------------------------------------
def _change_role(args: argparse.Namespace, role: str | None) -> int:
    from scaiflow_box.services.roles import RoleChangeError, set_role_by_operator

    settings = _settings(args)

    def run(data: DataDir) -> int:
        try:
            user = data.db.write_sync(lambda conn: set_role_by_operator(conn, args.user, role))
        except RoleChangeError as exc:
            _err(f"error: {exc}")
            return 1
        _err(f"{user} is now {role} (source manual)" if role
             else f"{user} no longer has an admin role")
        return 0

    return _with_data_dir(settings, run)


@_operator_command
def cmd_admin_grant(args: argparse.Namespace) -> int:
    return _change_role(args, args.role)


@_operator_command
def cmd_admin_revoke(args: argparse.Namespace) -> int:
    return _change_role(args, None)


@_operator_command
def cmd_admin_users(args: argparse.Namespace) -> int:
    from scaiflow_box.store import users as user_rows

    settings = _settings(args)

    def run(data: DataDir) -> int:
        rows = data.db.read_inline(lambda conn: user_rows.list_users(
            conn, tenant_id=args.tenant, include_deleted=True, limit=100_000))
        print(f"{'ID':<28} {'TENANT':<20} {'STATUS':<10} {'ROLE':<13} {'SOURCE':<10} EMAIL")
        for row in rows:
            status = "DELETED" if row["deleted_at"] else row["status"]
            print(f"{row['id']:<28} {row['tenant_id']:<20} {status:<10} "
                  f"{row['admin_role'] or '-':<13} {row['admin_role_source'] or '-':<10} "
                  f"{row['email'] or '-'}")
        return 0

    return _with_data_dir(settings, run)


# -- master key --------------------------------------------------------------------------
@_operator_command
def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from scaiflow_box.crypto.envelope import MasterKey
    from scaiflow_box.services.key_rotation import rotate_offline

    settings = _settings(args)

    def run(data: DataDir) -> int:
        source = data.keyring.source
        printed: list[str] = []

        def print_env_key(key: MasterKey) -> None:
            # Before the commit: a crash after it must not lose the only copy of the key.
            print(key.to_base64(), flush=True)
            printed.append(key.kek_id)

        try:
            report, new = rotate_offline(data.db, data.keyring, reencrypt=args.reencrypt,
                                         before_commit=print_env_key if source.from_env
                                         else None)
        except Exception:
            if printed:
                _err(f"error: the rotation did not commit; the database still uses the old "
                     f"key: discard the key printed above (kek {printed[0]})")
            raise
        what = (f"{report.data_keys} data key(s) and {report.issuer_keys} issuer key(s) "
                f"now wrapped by kek {new.kek_id}")
        if args.reencrypt:
            what += f"; {report.secrets_reencrypted} secret(s) re-encrypted under new data keys"
        _err(f"rotated the master key: {what}")
        if source.from_env:
            _err("the new key is on stdout: set SCAIFLOW_MASTER_KEY to it before the next start "
                 "(the old key no longer opens this database) and store it safely")
        else:
            _err(f"{source.path} now holds the new key: back it up (the old one no longer "
                 "opens this database or backups taken from now on)")
        return 0

    return _with_data_dir(settings, run)


# -- JWKS and backups ------------------------------------------------------------------
@_operator_command
def cmd_jwks_import(args: argparse.Namespace) -> int:
    from scaiflow_box.auth.jwks import import_jwks_file

    settings = _settings(args)
    issuer = args.issuer or settings.scaikey_issuer
    if not issuer:
        _err("error: name the issuer with --issuer (or set SCAIKEY_ISSUER)")
        return 2

    def run(data: DataDir) -> int:
        try:
            kids = data.db.write_sync(lambda conn: import_jwks_file(conn, args.file, issuer))
        except (OSError, ValueError) as exc:
            _err(f"error: {exc}")
            return 1
        _err(f"imported {len(kids)} key(s) for {issuer}: {', '.join(kids)}")
        return 0

    return _with_data_dir(settings, run)


@_operator_command
def cmd_jwks_show(args: argparse.Namespace) -> int:
    import json

    from scaiflow_box.store import keys as key_rows

    settings = _settings(args)

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

    return _with_data_dir(settings, run)


@_operator_command
def cmd_backup(args: argparse.Namespace) -> int:
    import sqlite3
    from pathlib import Path

    settings = _settings(args)
    target = Path(args.file)
    if target.exists():
        _err(f"error: {target} exists; choose a new file")
        return 1

    def run(data: DataDir) -> int:
        from contextlib import closing

        from scaiflow_box.crypto.keyring import check_encrypted_fields

        data.db.backup_to(target)
        # The copy must hold secrets only encrypted, all under one master key: say which.
        with closing(sqlite3.connect(f"{target.resolve().as_uri()}?mode=ro", uri=True)) as copy:
            kek_id, count, problems = check_encrypted_fields(copy)
        for problem in problems:
            _err(f"error: backup check: {problem}")
        if problems:
            return 1
        _err(f"backed up {settings.db_path} to {target}: {count} encrypted value(s) under "
             f"master key kek {kek_id} (keep that master.key with it, separately)")
        return 0

    return _with_data_dir(settings, run)


@_operator_command
def cmd_restore(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scaiflow_box.services.restore import RestoreRefused, restore_backup
    from scaiflow_box.store.dir_lock import DataDirBusy

    settings = _settings(args)
    try:
        report = restore_backup(settings, Path(args.file))
    except (RestoreRefused, DataDirBusy) as exc:
        _err(f"error: {exc}")
        return 1
    _err(f"restored {args.file} into {settings.db_path} (backup schema "
         f"{report.schema_version}, now {report.known_version})")
    if report.kept_aside is not None:
        _err(f"the database it replaced is kept as {report.kept_aside}")
    return 0


# -- offline flow files and the TUI (their modules load only when they run) ------------
def cmd_validate(args: argparse.Namespace) -> int:
    from scaiflow_box.commands.flow_files import validate_command

    return validate_command(args.flow, args.json)


def cmd_compile(args: argparse.Namespace) -> int:
    from scaiflow_box.commands.flow_files import compile_command

    return compile_command(args.flow, args.format, args.out)


@_operator_command
def cmd_tui(args: argparse.Namespace) -> int:
    from scaiflow_box.tui_command import cmd_tui as run_tui_command

    return run_tui_command(args)


# -- parser ----------------------------------------------------------------------------
def _add_flow_file_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    validate = sub.add_parser(
        "validate", help="validate a flow file offline (exit 0 valid, 1 invalid)")
    validate.add_argument("flow", metavar="FLOW.json", help="FlowGraph JSON file ('-' = stdin)")
    validate.add_argument("--json", action="store_true", help='print {"valid", "diagnostics"}')
    validate.add_argument("--data-dir", help="accepted for uniformity; not used")
    validate.set_defaults(func=cmd_validate)

    compile_ = sub.add_parser("compile", help="compile a flow file to its manifest offline")
    compile_.add_argument("flow", metavar="FLOW.json", help="FlowGraph JSON file ('-' = stdin)")
    compile_.add_argument(
        "--format", default="yaml", help="yaml (default) or json; ir and scai are unsupported")
    compile_.add_argument("--out", metavar="PATH", help="write here instead of stdout")
    compile_.add_argument("--data-dir", help="accepted for uniformity; not used")
    compile_.set_defaults(func=cmd_compile)


def _add_tui_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tui = sub.add_parser(
        "tui", help="the operator's terminal UI (a client of the REST API)",
        description="Open the operator TUI. It mints itself a 15-minute service token from "
                    "the data directory and revokes it on exit.")
    tui.add_argument("--data-dir", help="data directory (else SCAIFLOW_DATA_DIR)")
    tui.add_argument("--url", help="the appliance's base URL (default "
                     "http://{SCAIFLOW_API_HOST}:{SCAIFLOW_API_PORT})")
    tui.add_argument("--sub", default="usr_operator",
                     help="user the TUI acts as (default usr_operator; needs super_admin)")
    tui.add_argument("--tenant", default="tnt_local",
                     help="that user's tenant (default tnt_local)")
    tui.set_defaults(func=cmd_tui)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaiflow-box",
                                     description="The ScaiFlow backend as an appliance.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (else SCAIFLOW_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the appliance")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("init", parents=[common], help="create data dir, master key, DB"
                   ).set_defaults(func=cmd_init)
    sub.add_parser("version", help="print the version").set_defaults(func=cmd_version)

    token = sub.add_parser("token", help="service tokens").add_subparsers(
        dest="token_command", metavar="ACTION", required=True)
    mint = token.add_parser("mint", parents=[common], help="mint a service token (stdout)")
    mint.add_argument("--sub", required=True)
    mint.add_argument("--tenant", required=True)
    mint.add_argument("--scope", default="scaicore:view scaicore:manage")
    mint.add_argument("--ttl", type=int, default=24 * 3600, help="seconds (max 30 days)")
    mint.add_argument("--email")
    mint.add_argument("--name")
    mint.add_argument("--description")
    mint.set_defaults(func=cmd_token_mint)
    revoke = token.add_parser("revoke", parents=[common], help="revoke by id or jti")
    revoke.add_argument("id")
    revoke.set_defaults(func=cmd_token_revoke)

    admin = sub.add_parser("admin", help="admin roles").add_subparsers(
        dest="admin_command", metavar="ACTION", required=True)
    grant = admin.add_parser("grant", parents=[common], help="grant an admin role")
    grant.add_argument("user", metavar="EMAIL_OR_ID")
    grant.add_argument("--role", required=True, choices=["super_admin", "tenant_admin"])
    grant.set_defaults(func=cmd_admin_grant)
    admin_revoke = admin.add_parser("revoke", parents=[common], help="remove an admin role")
    admin_revoke.add_argument("user", metavar="EMAIL_OR_ID")
    admin_revoke.set_defaults(func=cmd_admin_revoke)
    users = admin.add_parser("users", parents=[common], help="list users")
    users.add_argument("--tenant")
    users.set_defaults(func=cmd_admin_users)

    jwks = sub.add_parser("jwks", help="ScaiKey signing keys").add_subparsers(
        dest="jwks_command", metavar="ACTION", required=True)
    jwks_import = jwks.add_parser("import", parents=[common], help="import a static JWKS file")
    jwks_import.add_argument("file")
    jwks_import.add_argument("--issuer")
    jwks_import.set_defaults(func=cmd_jwks_import)
    jwks.add_parser("show", parents=[common], help="key ids per issuer (JSON)"
                    ).set_defaults(func=cmd_jwks_show)

    keys = sub.add_parser("keys", help="the master key").add_subparsers(
        dest="keys_command", metavar="ACTION", required=True)
    rotate = keys.add_parser(
        "rotate", parents=[common], help="replace the master key (re-wrap every data key)",
        description="A new master key wraps every data key and the issuer keys, in one "
                    "transaction. With SCAIFLOW_MASTER_KEY set, the new key is printed on "
                    "stdout for you to store; otherwise master.key is replaced.")
    rotate.add_argument("--reencrypt", action="store_true",
                        help="also replace every tenant's data key and re-encrypt every secret")
    rotate.set_defaults(func=cmd_keys_rotate)

    backup = sub.add_parser("backup", parents=[common], help="consistent online backup")
    backup.add_argument("file")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", parents=[common], help="replace the database with a backup (server stopped)",
        description="Restore a backup made by `backup`. The server must be stopped, and the "
                    "data directory must hold the master.key the backup was made with. The "
                    "replaced database is kept as scaiflow.db.before-restore-<time>.")
    restore.add_argument("file")
    restore.set_defaults(func=cmd_restore)

    _add_flow_file_commands(sub)
    _add_tui_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help(sys.stderr)
        return 2
    try:
        result: int = args.func(args)
        return result
    except KeyboardInterrupt:
        return 130
