"""What the Catalog screen shows, as plain functions: a package's cells and detail line, the
scope line (a super admin's list spans every tenant), and the files of export and import."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text

from tui.catalog_client import MAX_PACKAGE_BYTES
from tui.catalog_models import CatalogPackage, PackageDetail
from tui.formatting import format_bytes, short_time
from tui.screens.tenant_scoped import TenantScope

NOT_SERVED = "This appliance version serves no catalog (no /api/v1/catalog)."
WIDE = 110
"""From this screen width the packages table has room for every column; below it the name and
the author are left out of the table (the detail line under the tables shows both), so at 80
columns what is there is not cut."""


@dataclass(frozen=True)
class CatalogView:
    served: bool
    packages: tuple[CatalogPackage, ...] = ()
    next_cursor: str | None = None


@dataclass(frozen=True)
class Layout:
    spanning: bool
    """A super admin's list: the Tenant column."""
    wide: bool

    def columns(self) -> tuple[str, ...]:
        return ("Package", *(("Tenant",) if self.spanning else ()),
                *(("Name",) if self.wide else ()), "Version", "Visible to",
                *(("Author",) if self.wide else ()), "Size")

    def cells(self, package: CatalogPackage) -> list[str | None]:
        return [package.package_id, *((package.tenant_id,) if self.spanning else ()),
                *((package.name,) if self.wide else ()), package.version, package.visible_to,
                *((package.author_email or package.author_id,) if self.wide else ()),
                format_bytes(package.size_bytes)]


def package_detail(package: CatalogPackage, detail: PackageDetail | None) -> Text:
    """The highlighted package in full (the table leaves the name and author out at 80
    columns)."""
    text = Text()
    text.append(f"{package.package_id}  {package.name}", style="bold")
    of = f" · {package.tenant_id}" if package.tenant_id else ""
    text.append(f"{of} · {package.version} · visible to {package.visible_to}")
    text.append(f"\nby {package.author_email or package.author_id or '-'} · created "
                f"{short_time(package.created_at)} · updated {short_time(package.updated_at)}")
    if package.description:
        text.append(f"\n{package.description}")
    if detail is not None and detail.readme:
        text.append(f"\nREADME: {detail.readme.strip().splitlines()[0]}", style="dim")
    return text


def scope_text(scope: TenantScope, search: str) -> str:
    """What the table shows: a super admin's list spans every tenant (T narrows it here)."""
    found = f" · search “{search}”" if search else ""
    if scope.session is None:
        return "Tenant: (not known yet)" + found
    if not scope.switchable:
        return (f"Tenant: {scope.session} (the session's; only a super admin's list spans "
                f"every tenant){found}")
    if scope.chosen is None:
        return f"Every tenant's packages (super admin) · T shows one tenant{found}"
    own = " (the session's)" if scope.chosen == scope.session else ""
    return f"Tenant: {scope.chosen}{own} of every tenant's · T shows another or all{found}"


def write_new_file(path: Path, data: bytes) -> None:
    """Write `data` to a file that must not exist yet (the form checked; this holds it)."""
    with path.open("xb") as out:
        out.write(data)


def read_package(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_PACKAGE_BYTES:
        raise OSError(f"{path} is {format_bytes(size)}: packages are at most "
                      f"{format_bytes(MAX_PACKAGE_BYTES)}")
    return path.read_bytes()
