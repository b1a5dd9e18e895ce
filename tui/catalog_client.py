"""The catalog calls of `AdminClient` (SPEC §14): packages, one package's versions, the
`.scaipkg` bytes of a version (export), an import, a visibility change and a delete.

The list spans every tenant for a super admin; the routes that name one package take a super
admin's `tenant_id` for another tenant's package. The list and the import take none: an import
always goes into the session's tenant."""

from __future__ import annotations

from collections.abc import Sequence

from tui.catalog_models import (
    CatalogPackage,
    CatalogPage,
    PackageDetail,
    next_cursor,
    package_list,
)
from tui.client_base import ClientBase, params_of, segment
from tui.system_models import CATALOG
from tui.transport import Request, error_from

ZIP = "application/zip"
TRANSFER_TIMEOUT_SECONDS = 60.0
MAX_PACKAGE_BYTES = 8 * 1024 * 1024  # the appliance's limit for package uploads (SPEC §1)
PACKAGE_ROUTE = CATALOG + "/{package_id}"
"""The route whose `tenant_id` parameter says the appliance lets a super admin name another
tenant's package."""


def _package(package_id: str) -> str:
    return f"{CATALOG}/{segment(package_id)}"


class CatalogCalls(ClientBase):
    async def list_packages(self, *, search: str | None = None, limit: int = 100,
                            cursor: str | None = None) -> CatalogPage:
        reply = await self._request("GET", CATALOG, params=params_of(
            search=search, limit=limit, cursor=cursor))
        items = self._parsed(package_list, reply.body)
        return CatalogPage(tuple(items), next_cursor(reply.headers.get("link")))

    async def get_package(self, package_id: str, *,
                          tenant_id: str | None = None) -> PackageDetail:
        return await self._get(_package(package_id), PackageDetail.from_json,
                               params=params_of(tenant_id=tenant_id))

    async def download_package(self, package_id: str, version: str, *,
                               tenant_id: str | None = None) -> bytes:
        """The `.scaipkg` bytes of one version, as stored."""
        answer = await self._exchange(Request(
            "GET", f"{_package(package_id)}/versions/{segment(version)}/download",
            params=params_of(tenant_id=tenant_id), accept=ZIP,
            timeout_seconds=TRANSFER_TIMEOUT_SECONDS), auth=True)
        if answer.status >= 400:
            self._json_reply(answer)  # raises the appliance's error
            raise error_from(answer.status, None)
        return answer.body

    async def import_package(self, data: bytes) -> CatalogPackage:
        """Import a `.scaipkg` into the session's tenant (the appliance re-validates and
        re-compiles it)."""
        answer = await self._exchange(Request(
            "POST", f"{CATALOG}/import", data=data, content_type=ZIP,
            timeout_seconds=TRANSFER_TIMEOUT_SECONDS), auth=True)
        return self._parsed(CatalogPackage.from_json, self._json_reply(answer).body)

    async def set_package_visibility(self, package_id: str, visibility: str,
                                     group_ids: Sequence[str] = (), *,
                                     tenant_id: str | None = None) -> CatalogPackage:
        """`tenant` (no groups) or `groups` (1-100 group ids of the package's tenant)."""
        reply = await self._request(
            "PUT", f"{_package(package_id)}/visibility", params=params_of(tenant_id=tenant_id),
            json={"visibility": visibility, "visibility_group_ids": list(group_ids)})
        return self._parsed(CatalogPackage.from_json, reply.body)

    async def delete_package(self, package_id: str, *, tenant_id: str | None = None) -> None:
        await self._request("DELETE", _package(package_id),
                            params=params_of(tenant_id=tenant_id))
