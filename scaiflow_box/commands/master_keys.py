"""`scaiflow-box keys rotate [--reencrypt] | keys list | keys prune KEK_ID [--yes]` (SPEC §19.2,
§20): the master key and the retired keys a rotation keeps. `cli.py` imports this module only
when one of these commands runs.

`keys list` prints a table on stdout (for scripts); every message goes to stderr.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from scaiflow_box.commands.data_dir import err, operator_command, settings_from, with_data_dir

if TYPE_CHECKING:
    from scaiflow_box.services.bootstrap import DataDir
    from scaiflow_box.services.key_retention import RecordedBackup


@operator_command
def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from scaiflow_box.crypto.envelope import MasterKey
    from scaiflow_box.errors import Conflict
    from scaiflow_box.services.key_rotation import rotate_offline

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        source = data.keyring.source
        old = data.keyring.master.kek_id
        printed: list[str] = []

        def print_env_key(key: MasterKey) -> None:
            # Before the commit: a crash after it must not lose the only copy of the key.
            print(key.to_base64(), flush=True)
            printed.append(key.kek_id)

        try:
            report, new = rotate_offline(data.db, data.keyring, reencrypt=args.reencrypt,
                                         before_commit=print_env_key if source.from_env
                                         else None)
        except Conflict as exc:  # other processes share the database (MariaDB)
            if printed:
                err(f"the rotation did not commit: discard the key printed above "
                    f"(kek {printed[0]})")
            err(f"error: {exc}")
            if exc.fix:
                err(exc.fix)
            return 1
        except Exception:
            if printed:
                err(f"error: the rotation did not commit; the database still uses the old "
                     f"key: discard the key printed above (kek {printed[0]})")
            raise
        what = (f"{report.data_keys} data key(s) and {report.issuer_keys} issuer key(s) "
                f"now wrapped by kek {new.kek_id}")
        if args.reencrypt:
            what += f"; {report.secrets_reencrypted} secret(s) re-encrypted under new data keys"
        err(f"rotated the master key: {what}")
        if source.from_env:
            err("the new key is on stdout: set SCAIFLOW_MASTER_KEY to it before the next start "
                 "(the old key no longer opens this database) and store it safely; keep the "
                 f"old value (kek {old}) as long as backups taken before now matter: `restore` "
                 "needs it (docs/operations.md)")
        else:
            err(f"{source.path} now holds the new key: back it up. The old one (kek {old}) is "
                f"kept as {source.retired_path(old)}, so backups taken before now still "
                "restore (`scaiflow-box keys list`)")
        return 0

    return with_data_dir(settings, run)


@operator_command
def cmd_keys_list(args: argparse.Namespace) -> int:
    from scaiflow_box.services.key_retention import list_keys

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        entries = list_keys(data.db, data.keyring.source, data.keyring.master.kek_id)
        print(f"{'KEK':<13} {'STATUS':<8} {'RETIRED':<25} {'BACKUPS':<8} FILE")
        for entry in entries:
            status = entry.status if entry.problem is None else "damaged"
            kept = sum(1 for b in entry.backups if b.on_disk)
            print(f"{entry.kek_id:<13} {status:<8} {entry.retired_at or '-':<25} "
                  f"{kept:<8} {entry.where}")
        for entry in entries:
            if entry.problem is not None:
                err(f"warning: {entry.where}: {entry.problem}")
        return 0

    return with_data_dir(settings, run)


def _describe(backups: tuple[RecordedBackup, ...]) -> list[str]:
    return [f"  {b.file} (made {b.made_at}; "
            f"{'still there' if b.on_disk else 'no longer at that path'})" for b in backups]


@operator_command
def cmd_keys_prune(args: argparse.Namespace) -> int:
    from scaiflow_box.services.key_retention import PruneRefused, prune, prune_candidate

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        source, current = data.keyring.source, data.keyring.master.kek_id
        try:
            found, backups = prune_candidate(data.db, source, current, args.kek_id)
        except PruneRefused as exc:
            err(f"error: {exc}")
            return 1
        if not args.yes:
            err(f"kek {found.kek_id} ({found.path}) opens the backups taken before the "
                "rotation that retired it; removed, none of them can be restored any more.")
            if backups:
                err(f"backups made with it by `scaiflow-box backup` ({len(backups)}):")
                for line in _describe(backups):
                    err(line)
            else:
                err("no backup made with it by `scaiflow-box backup` is recorded here.")
            err("copies this appliance does not know of (moved or copied files, snapshots of "
                "the data directory) need it as well. When none of them matters any more, run "
                f"`scaiflow-box keys prune {found.kek_id} --yes`")
            return 1
        try:
            found, backups = prune(data.db, source, current, args.kek_id)
        except PruneRefused as exc:
            err(f"error: {exc}")
            return 1
        err(f"removed {found.path}: backups made with kek {found.kek_id} can no longer be "
            f"restored ({len(backups)} recorded)")
        return 0

    return with_data_dir(settings, run)
