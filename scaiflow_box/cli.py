"""`scaiflow-box` sub-commands: argument parsing only; each calls into a module (SPEC §20).

Output meant for scripts goes to stdout alone, messages to stderr; exit 0 on success, 1 on
failure, 2 on usage errors.

A command's modules are imported when it runs, not when the parser is built: `version`
imports none of the server, the compiler or the TUI (tests/test_cli.py holds this). The
commands that work on a data directory live in `commands/data_dir.py`, the offline flow-file
commands in `commands/flow_files.py`, the TUI's in `tui_command.py`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

Command = Callable[[argparse.Namespace], int]


def cmd_version(args: argparse.Namespace) -> int:
    from scaiflow_box.build_info import build_info

    print(build_info().describe())
    return 0


class _VersionAction(argparse.Action):
    """`scaiflow-box --version`: the same line as `version`."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0,
                         help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        parser.exit(cmd_version(namespace))


def _lazy_command(load: Callable[[], ModuleType], name: str) -> Command:
    """Command `name` of the module `load()` imports, imported only when the command runs.
    Each loader is a plain import, so PyInstaller's analysis finds the module."""

    def run(args: argparse.Namespace) -> int:
        command: Command = getattr(load(), name)
        return command(args)

    run.__name__ = name
    return run


def _data_dir() -> ModuleType:
    from scaiflow_box.commands import data_dir

    return data_dir


def _master_keys() -> ModuleType:
    from scaiflow_box.commands import master_keys

    return master_keys


def _catalog() -> ModuleType:
    from scaiflow_box.commands import catalog

    return catalog


def cmd_tenants_list(args: argparse.Namespace) -> int:
    from scaiflow_box.commands.tenants import cmd_tenants_list as run

    return run(args)


def cmd_tenants_delete(args: argparse.Namespace) -> int:
    from scaiflow_box.commands.tenants import cmd_tenants_delete as run

    return run(args)


def cmd_config(args: argparse.Namespace) -> int:
    from scaiflow_box.commands.show_config import cmd_config as run

    return run(args)


cmd_serve = _lazy_command(_data_dir, "cmd_serve")
cmd_init = _lazy_command(_data_dir, "cmd_init")
cmd_token_mint = _lazy_command(_data_dir, "cmd_token_mint")
cmd_token_revoke = _lazy_command(_data_dir, "cmd_token_revoke")
cmd_admin_grant = _lazy_command(_data_dir, "cmd_admin_grant")
cmd_admin_revoke = _lazy_command(_data_dir, "cmd_admin_revoke")
cmd_admin_users = _lazy_command(_data_dir, "cmd_admin_users")
cmd_keys_rotate = _lazy_command(_master_keys, "cmd_keys_rotate")
cmd_keys_list = _lazy_command(_master_keys, "cmd_keys_list")
cmd_keys_prune = _lazy_command(_master_keys, "cmd_keys_prune")
cmd_jwks_import = _lazy_command(_data_dir, "cmd_jwks_import")
cmd_jwks_show = _lazy_command(_data_dir, "cmd_jwks_show")
cmd_backup = _lazy_command(_data_dir, "cmd_backup")
cmd_restore = _lazy_command(_data_dir, "cmd_restore")


cmd_catalog_list = _lazy_command(_catalog, "cmd_catalog_list")
cmd_catalog_export = _lazy_command(_catalog, "cmd_catalog_export")
cmd_catalog_import = _lazy_command(_catalog, "cmd_catalog_import")


# -- offline flow files and the TUI (their modules load only when they run) ------------
def cmd_validate(args: argparse.Namespace) -> int:
    from scaiflow_box.commands.flow_files import validate_command

    return validate_command(args.flow, args.json)


def cmd_compile(args: argparse.Namespace) -> int:
    from scaiflow_box.commands.flow_files import compile_command

    return compile_command(args.flow, args.format, args.out)


def cmd_tui(args: argparse.Namespace) -> int:
    from scaiflow_box.commands.data_dir import operator_command
    from scaiflow_box.tui_command import cmd_tui as run_tui_command

    return operator_command(run_tui_command)(args)


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


def _add_catalog_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                          common: argparse.ArgumentParser) -> None:
    catalog = sub.add_parser(
        "catalog", help="the package catalog: carry packages between boxes").add_subparsers(
        dest="catalog_command", metavar="ACTION", required=True)
    listing = catalog.add_parser("list", parents=[common], help="list live packages")
    listing.add_argument("--tenant", help="only this tenant's (default: every tenant)")
    listing.set_defaults(func=cmd_catalog_list)
    export = catalog.add_parser(
        "export", parents=[common], help="write a package version's .scaipkg to a file",
        description="Write exactly the bytes the download route gives. FILE must not exist "
                    "('-' writes to stdout).")
    export.add_argument("package", metavar="PACKAGE[@VERSION]",
                        help="package id, optionally @version (default: its current version)")
    export.add_argument("file", metavar="FILE")
    export.add_argument("--tenant", required=True)
    export.set_defaults(func=cmd_catalog_export)
    import_ = catalog.add_parser(
        "import", parents=[common], help="import a .scaipkg into a tenant's catalog",
        description="The API's checks (names, links, sizes, integrity, schema, compile); a "
                    "refusal is exit 1 and one line. Prints PACKAGE@VERSION on success.")
    import_.add_argument("file", metavar="FILE")
    import_.add_argument("--tenant", required=True)
    import_.set_defaults(func=cmd_catalog_import)


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
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="data directory (else SCAIFLOW_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the appliance")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("init", parents=[common], help="create data dir, master key, DB"
                   ).set_defaults(func=cmd_init)
    sub.add_parser("version", help="print the version, and the commit and build date of a "
                   "binary").set_defaults(func=cmd_version)
    config = sub.add_parser(
        "config", parents=[common], help="the effective settings (secrets masked) and their "
        "source", description="Print every setting's effective value (secrets masked) and "
        "where it came from: the default, the environment, the env file or the command line. "
        "Problems follow, one line each, with exit 1.")
    output = config.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="as JSON")
    output.add_argument("--markdown", action="store_true",
                        help="the settings table of docs/operations.md (names, defaults, help)")
    config.set_defaults(func=cmd_config)

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
                    "stdout for you to store; otherwise master.key is replaced and the old "
                    "key kept as master.key.retired-<kek id> (backups taken before still "
                    "restore).")
    rotate.add_argument("--reencrypt", action="store_true",
                        help="also replace every tenant's data key and re-encrypt every secret")
    rotate.set_defaults(func=cmd_keys_rotate)
    keys.add_parser("list", parents=[common], help="the current and the retired master keys",
                    description="One line per key: its kek id, current or retired (and when), "
                                "how many backups made with it by `backup` are still where "
                                "they were written, and its file."
                    ).set_defaults(func=cmd_keys_list)
    prune = keys.add_parser(
        "prune", parents=[common], help="remove a retired master key (--yes to confirm)",
        description="Without --yes, name the backups made with that key that could no "
                    "longer be restored, and change nothing. With --yes, remove the key file. "
                    "The current key is never pruned.")
    prune.add_argument("kek_id", metavar="KEK_ID")
    prune.add_argument("--yes", action="store_true",
                       help="the backups made with this key no longer matter: remove it")
    prune.set_defaults(func=cmd_keys_prune)

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

    tenants = sub.add_parser("tenants", help="tenants of this appliance").add_subparsers(
        dest="tenants_command", metavar="ACTION", required=True)
    tenants.add_parser("list", parents=[common], help="every tenant with its users and flows"
                       ).set_defaults(func=cmd_tenants_list)
    delete = tenants.add_parser(
        "delete", parents=[common], help="delete an empty tenant",
        description="Delete a tenant that holds nothing: no flows (deleted ones included), "
                    "groups, stored credentials, live service tokens, or users other than "
                    "those its tokens created. Its audit entries are kept.")
    delete.add_argument("tenant", metavar="TNT")
    delete.set_defaults(func=cmd_tenants_delete)

    _add_catalog_commands(sub, common)
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
