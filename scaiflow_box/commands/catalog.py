"""`scaiflow-box catalog list|export|import` (SPEC §20): the package catalog of a data
directory, whether or not a server is using it — how an operator carries packages between
appliances that have no network between them.

`export` writes exactly the bytes the download route gives; `import` runs the API's checks
(`services.catalog.import_package_offline`) and refuses with exit 1 and one line. Both work
beside a running server: the CLI reads through SQLite and writes through its own transaction,
and the server reads the catalog without a cache, so it serves an imported package at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from scaiflow_box.commands.data_dir import err, operator_command, settings_from, with_data_dir

if TYPE_CHECKING:
    from scaiflow_box.errors import DomainError
    from scaiflow_box.services.bootstrap import DataDir
    from scaiflow_box.store.engine import Connection

MAX_LINE = 400


def one_line(exc: DomainError) -> str:
    """A refusal as the one line the CLI prints (no newlines, bounded)."""
    from scaiflow_box.errors import InvalidFields

    if isinstance(exc, InvalidFields):
        first = exc.items[0] if exc.items else {"loc": [], "msg": exc.message}
        where = ".".join(str(p) for p in first["loc"] if p != "body")
        more = f" (and {len(exc.items) - 1} more)" if len(exc.items) > 1 else ""
        text = f"{where}: {first['msg']}{more}"
    else:
        text = f"{exc.code}: {exc.message}"
        errors = exc.extra.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            text += f": {errors[0].get('message')}"
            if len(errors) > 1:
                text += f" (and {len(errors) - 1} more)"
    text = " ".join(text.split())
    return text if len(text) <= MAX_LINE else text[:MAX_LINE - 1] + "…"


def _known_tenant(data: DataDir, tenant_id: str) -> bool:
    from scaiflow_box.store import users as user_rows

    return data.db.read_inline(lambda conn: user_rows.get_tenant(conn, tenant_id)) is not None


@operator_command
def cmd_catalog_list(args: argparse.Namespace) -> int:
    from scaiflow_box.store import catalog as catalog_rows

    settings = settings_from(args)

    def run(data: DataDir) -> int:
        rows = data.db.read_inline(lambda conn: catalog_rows.list_packages(
            conn, tenant_id=args.tenant, user_id="", see_all=True, search=None, after=None,
            limit=1_000_000))
        rows.sort(key=lambda r: (r["tenant_id"], r["package_id"]))
        print(f"{'TENANT':<20} {'PACKAGE':<30} {'VERSION':<10} {'VISIBILITY':<10} "
              f"{'AUTHOR':<24} {'UPDATED':<24} NAME")
        for row in rows:
            print(f"{row['tenant_id']:<20} {row['package_id']:<30} {row['version']:<10} "
                  f"{row['visibility']:<10} {row['author_id']:<24} {row['updated_at']:<24} "
                  f"{row['name']}")
        return 0

    return with_data_dir(settings, run)


@operator_command
def cmd_catalog_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scaiflow_box.store import catalog as catalog_rows

    settings = settings_from(args)
    package_id, _, version = args.package.rpartition("@") if "@" in args.package \
        else (args.package, "", "")

    def run(data: DataDir) -> int:
        def read(conn: Connection) -> tuple[str, bytes, str] | str:
            package = catalog_rows.get_package(conn, args.tenant, package_id)
            if package is None or package["deleted_at"] is not None:
                return f"no package {package_id!r} in tenant {args.tenant}"
            chosen = version or str(package["version"])
            row = catalog_rows.get_version(conn, args.tenant, package_id, chosen)
            if row is None:
                return f"package {package_id!r} has no version {chosen}"
            return chosen, bytes(row["scaipkg"]), str(row["sha256"])

        found = data.db.read_inline(read)
        if isinstance(found, str):
            err(f"error: {found}")
            return 1
        chosen, blob, sha256 = found
        if args.file == "-":
            sys.stdout.buffer.write(blob)
            sys.stdout.buffer.flush()
        else:
            try:
                with Path(args.file).open("xb") as out:  # never overwrite
                    out.write(blob)
            except OSError as exc:
                err(f"error: cannot write {args.file}: {exc.strerror or exc}")
                return 1
        err(f"exported {package_id}@{chosen} of {args.tenant} ({len(blob)} bytes, sha256 "
            f"{sha256})")
        return 0

    return with_data_dir(settings, run)


@operator_command
def cmd_catalog_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scaiflow_box.errors import DomainError
    from scaiflow_box.packages.scaipkg import LIMITS
    from scaiflow_box.services.catalog import import_package_offline

    settings = settings_from(args)
    path = Path(args.file)

    def run(data: DataDir) -> int:
        if not _known_tenant(data, args.tenant):
            err(f"error: no tenant {args.tenant} on this box (`scaiflow-box admin users` lists "
                "the users of each; a tenant appears with its first user)")
            return 1
        try:
            size = path.stat().st_size
            if size > LIMITS.max_archive_bytes:
                err(f"error: archive_too_large: {path} is {size} bytes; the limit is "
                    f"{LIMITS.max_archive_bytes}")
                return 1
            raw = path.read_bytes()
        except OSError as exc:
            err(f"error: cannot read {path}: {exc.strerror or exc}")
            return 1
        try:
            imported = import_package_offline(data.db, raw, args.tenant)
        except DomainError as exc:
            err(f"error: {one_line(exc)}")
            return 1
        package = imported.package
        print(f"{package['package_id']}@{imported.version}")
        if imported.created:
            err(f"imported {package['package_id']}@{imported.version} into {args.tenant} "
                f"(author {package['author_id']})")
        else:
            err(f"{package['package_id']}@{imported.version} is already in {args.tenant} with "
                "these exact bytes: nothing changed")
        return 0

    return with_data_dir(settings, run)
