"""`scaiflow-box tenants list | tenants delete TNT`: the tenants of a data directory, and
removing one that holds nothing (services/tenant_registry.py). Works on a stopped appliance
and beside a running one, like the other data-directory commands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from scaiflow_box.commands.data_dir import err, operator_command, settings_from, with_data_dir

if TYPE_CHECKING:
    from scaiflow_box.services.bootstrap import DataDir


@operator_command
def cmd_tenants_list(args: argparse.Namespace) -> int:
    from scaiflow_box.services.tenant_registry import list_tenants

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        rows = data.db.read_inline(list_tenants)
        print(f"{'ID':<28} {'SOURCE':<10} {'USERS':>6} {'FLOWS':>6}  {'CREATED':<24} NAME")
        for row in rows:
            print(f"{row['id']:<28} {row['source']:<10} {row['users']:>6} {row['flows']:>6}  "
                  f"{row['created_at']:<24} {row['name']}")
        return 0

    return with_data_dir(settings, run)


@operator_command
def cmd_tenants_delete(args: argparse.Namespace) -> int:
    from scaiflow_box.errors import Conflict, NotFound
    from scaiflow_box.services.tenant_registry import delete_empty_tenant

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        try:
            removed = data.db.write_sync(
                lambda conn: delete_empty_tenant(conn, args.tenant, actor="cli"))
        except (NotFound, Conflict) as exc:
            err(f"error: {exc.message}")
            return 1
        went = ", ".join(f"{table} {count}" for table, count in sorted(removed.items()))
        err(f"deleted tenant {args.tenant}" + (f" (rows removed with it: {went})" if went
                                               else ""))
        return 0

    return with_data_dir(settings, run)
