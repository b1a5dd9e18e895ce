"""What the Catalog screen reads (SPEC §14): packages (each with its tenant: a super admin's
list spans every tenant), one package's versions, and the next page of the list (a
`Link: <…>; rel="next"` header: the list itself is a bare array)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tui.models import count_at, opt_str, str_at, str_list

_NEXT_LINK = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


@dataclass(frozen=True)
class CatalogPackage:
    package_id: str
    name: str
    description: str
    version: str
    author_id: str
    author_email: str | None
    visibility: str  # tenant | groups
    visibility_group_ids: tuple[str, ...]
    created_at: str
    updated_at: str
    tenant_id: str = ""  # the package's tenant ("" from an appliance that does not say)
    size_bytes: int | None = None  # of `version`'s .scaipkg (None: the appliance does not say)

    @property
    def key(self) -> str:
        """Unique in a super admin's list, which spans tenants (a package id is unique only
        within its tenant)."""
        return f"{self.tenant_id}/{self.package_id}"

    @property
    def visible_to(self) -> str:
        if self.visibility == "groups":
            return "groups: " + (", ".join(self.visibility_group_ids) or "none")
        return self.visibility

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CatalogPackage:
        return cls(package_id=str_at(data, "package_id"), name=opt_str(data, "name") or "",
                   description=opt_str(data, "description") or "",
                   version=str_at(data, "version"),
                   author_id=opt_str(data, "author_id") or "",
                   author_email=opt_str(data, "author_email"),
                   visibility=opt_str(data, "visibility") or "?",
                   visibility_group_ids=str_list(data, "visibility_group_ids"),
                   created_at=opt_str(data, "created_at") or "",
                   updated_at=opt_str(data, "updated_at") or "",
                   tenant_id=opt_str(data, "tenant_id") or "",
                   size_bytes=_size(data))


def _size(data: Mapping[str, Any]) -> int | None:
    value = data.get("size_bytes")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def package_list(data: Any) -> list[CatalogPackage]:
    if not isinstance(data, list):
        raise ValueError("expected a list of packages")
    return [CatalogPackage.from_json(item) for item in data if isinstance(item, dict)]


@dataclass(frozen=True)
class PackageVersion:
    version: str
    sha256: str
    size_bytes: int
    created_at: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PackageVersion:
        return cls(version=str_at(data, "version"), sha256=opt_str(data, "sha256") or "",
                   size_bytes=count_at(data, "size_bytes"),
                   created_at=opt_str(data, "created_at") or "")


@dataclass(frozen=True)
class PackageDetail:
    package: CatalogPackage
    readme: str
    versions: tuple[PackageVersion, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PackageDetail:
        versions = data.get("versions")
        return cls(package=CatalogPackage.from_json(data), readme=opt_str(data, "readme") or "",
                   versions=tuple(PackageVersion.from_json(v) for v in versions or []
                                  if isinstance(v, dict)))


@dataclass(frozen=True)
class CatalogPage:
    items: tuple[CatalogPackage, ...]
    next_cursor: str | None  # the `cursor` of the next page's link, when there is one


def next_cursor(link_header: str | None) -> str | None:
    """The `cursor` query parameter of the `rel="next"` link, if any."""
    if not link_header:
        return None
    match = _NEXT_LINK.search(link_header)
    if match is None:
        return None
    values = parse_qs(urlsplit(match.group(1)).query).get("cursor")
    return values[0] if values else None
