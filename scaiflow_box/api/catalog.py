"""`/api/v1/catalog` (SPEC §14): the tenant package catalog; thin handlers over
`CatalogService`.

The list keeps upstream's bare array and announces its next page in a `Link` header; the
import takes the raw `.scaipkg` (`application/zip`) and answers 201 when it stored a version,
200 when that version already held exactly these bytes; super admins name another tenant's
package with `tenant_id` (docs/api.md, "Catalog").
"""

from __future__ import annotations

from typing import Annotated, Literal

import orjson
from pydantic import BaseModel, Field, RootModel
from yarl import URL

from scaiflow_box.api.error_codes import (
    ARCHIVE_TOO_LARGE,
    ARCHIVE_UNSAFE,
    COMPILE_ERROR,
    FORBIDDEN,
    INVALID_ARCHIVE,
    INVALID_PACKAGE,
    INVALID_PUBLISH,
    INVALID_VISIBILITY,
    MISSING_PERMISSION,
    PACKAGE_INTEGRITY,
    PUBLISH_CONFLICT,
    UNKNOWN_GROUPS,
)
from scaiflow_box.api.examples import (
    catalog_install_example,
    catalog_publish_example,
    catalog_visibility_example,
)
from scaiflow_box.api.fields import (
    PLAIN_ID_PATTERN,
    Cursor,
    Description,
    DisplayName,
    FlowContentIn,
    FlowContentOut,
    Limit,
    PackageId,
    PackageVersion,
    PrincipalId,
    Timestamp,
    Version,
)
from scaiflow_box.api.flows import ETAG, FLOW_LINKS, FlowDetail, detail_reply
from scaiflow_box.http.call import NO_CONTENT, Blob, Call, RawJson, Reply, created, ok
from scaiflow_box.http.errors import NOT_FOUND
from scaiflow_box.http.route import (
    FLOW_BODY_LIMIT,
    UPLOAD_BODY_LIMIT,
    BinaryBody,
    Header,
    Link,
    QueryModel,
    RequestModel,
    Response,
    Route,
)
from scaiflow_box.keys import CATALOG
from scaiflow_box.packages.scaipkg import PACKAGE_ID_PATTERN, SEMVER_PATTERN
from scaiflow_box.services.catalog_fields import (
    MAX_README_CHARS,
    MAX_VISIBILITY_GROUPS,
    OPEN_PACKAGE_ID_PATTERN,
)

TAG = "catalog"
ZIP = "application/zip"

PackageIdField = Annotated[str, Field(
    min_length=1, max_length=64, pattern=PACKAGE_ID_PATTERN,
    # The document also says what the service refuses (422): the two ids that name operations.
    json_schema_extra={"pattern": OPEN_PACKAGE_ID_PATTERN},
    description="A lowercase slug: a-z, 0-9 and `-`, 1-64 characters, not starting with `-`; "
                "not `publish` or `import` (they name operations)")]
FlowIdField = Annotated[str, Field(min_length=1, max_length=200, pattern=PLAIN_ID_PATTERN)]
SemverField = Annotated[str, Field(max_length=64, pattern=SEMVER_PATTERN,
                                   description="MAJOR.MINOR.PATCH")]
Readme = Annotated[str, Field(max_length=MAX_README_CHARS,
                              description="Markdown stored as the package's `README.md`")]


# -- request models ----------------------------------------------------------------------
class PublishRequest(RequestModel):
    """Exactly one of `flow_id` (the flow's current version; needs the `deploy` level on it)
    and `content` (a FlowGraph); neither or both is 400 `invalid_publish`. `null` is the same
    as leaving a field out."""

    package_id: PackageIdField
    name: DisplayName
    description: Description | None = Field(
        default=None, description="Default: the package's current description (`\"\"` for a "
                                  "new package)")
    version: SemverField | None = Field(
        default=None, description="Default: `0.1.0` for a new package, else the next patch "
                                  "of its highest version; a version already stored is bumped "
                                  "to the next free patch")
    readme: Readme | None = Field(
        default=None, description="Markdown for `README.md`. Default: the package's current "
                                  "readme; `\"\"` means none")
    flow_id: FlowIdField | None = Field(default=None,
                                        description="Publish this stored flow's current version")
    content: FlowContentIn | None = Field(default=None,
                                          description="Publish this FlowGraph (not stored as a "
                                                      "flow)")


class InstallRequest(RequestModel):
    version: SemverField | None = Field(default=None,
                                        description="Default: the package's current version")
    save: bool = Field(default=False, description="Store the flow (201 FlowDetail, owned by "
                                                  "the caller) instead of answering its "
                                                  "content (200)")
    name: DisplayName | None = Field(default=None,
                                     description="The flow's name. Default: the package's")


class VisibilityRequest(RequestModel):
    visibility: Literal["tenant", "groups"] = Field(
        description="`tenant`: every member of the package's tenant; `groups`: live members "
                    "of one of `visibility_group_ids` (the author and admins always see it)")
    visibility_group_ids: list[PrincipalId] = Field(
        default_factory=list, max_length=MAX_VISIBILITY_GROUPS,
        description="Groups of the package's tenant: none for `tenant`, 1-100 for `groups`")


class CatalogListQuery(QueryModel):
    search: str | None = Field(default=None, max_length=200,
                               description="Case-insensitive substring of the name or the "
                                           "package id")
    limit: Limit = 100
    cursor: Cursor = None


TenantIdQuery = Annotated[
    Annotated[str, Field(max_length=200, pattern=PLAIN_ID_PATTERN)] | None,
    Field(description="Super admins only: the tenant whose package this is (default: the "
                      "caller's own). Anyone else naming another tenant finds nothing "
                      "there (404)"),
]


class PackageQuery(QueryModel):
    tenant_id: TenantIdQuery = None


# -- response models ---------------------------------------------------------------------
class CatalogPackage(BaseModel):
    package_id: str
    name: str
    description: str
    version: Version = Field(description="The package's highest version")
    size_bytes: int = Field(description="Size of that version's `.scaipkg` (what a download "
                                        "gives) [box]")
    author_id: str
    author_email: str | None
    visibility: Literal["tenant", "groups"]
    visibility_group_ids: list[str] = Field(description="Sorted; empty for `tenant`")
    created_at: Timestamp
    updated_at: Timestamp
    tenant_id: str = Field(description="The package's tenant [box]: a super admin's list "
                                       "spans every tenant")


class CatalogPackageList(RootModel[list[CatalogPackage]]):
    """A bare array [upstream], newest first; the next page is in the `Link` header."""


class PackageVersionInfo(BaseModel):
    version: Version
    sha256: str = Field(description="Of the `.scaipkg` bytes a download gives")
    size_bytes: int
    created_at: Timestamp


class CatalogPackageDetail(CatalogPackage):
    readme: str | None = Field(description="The current version's README.md (null: none)")
    versions: list[PackageVersionInfo] = Field(description="Every version, highest first")


class InstalledContent(BaseModel):
    content: FlowContentOut = Field(description="The package's FlowGraph with a fresh flow "
                                                "id (node and edge ids kept) at version 1.0.0")


# -- headers and links -------------------------------------------------------------------
NEXT_PAGE = Header("Link", 'The next page, when there is one (RFC 8288): `</api/v1/catalog?'
                   'limit=100&cursor=…>; rel="next"`, a path-absolute reference with the same '
                   "`limit` and `search`; pass its `cursor` to get that page. Absent on the "
                   "last page.")
DISPOSITION = Header("Content-Disposition", '`attachment; filename="<package_id>-<version>'
                     '.scaipkg"`', required=True)
PACKAGE_ID = "$response.body#/package_id"
OF_TENANT = {"package_id": PACKAGE_ID, "query.tenant_id": "$response.body#/tenant_id"}
PACKAGE_LINKS = (
    Link("GetPackage", "get_package", OF_TENANT),
    Link("DownloadPackage", "download_package",
         {**OF_TENANT, "version": "$response.body#/version"}),
    Link("InstallPackage", "install_package", OF_TENANT),
    Link("SetPackageVisibility", "set_package_visibility", OF_TENANT),
    Link("DeletePackage", "delete_package", OF_TENANT),
)


def _package(item: dict[str, object]) -> CatalogPackage:
    return CatalogPackage.model_validate(item)


# -- handlers ----------------------------------------------------------------------------
async def list_packages(call: Call[None, CatalogListQuery]) -> Reply:
    query = call.query
    cursor = call.cursor(3)
    page = await call.app[CATALOG].list_packages(
        call.principal, search=query.search or None, limit=query.limit,
        after=(str(cursor[0]), str(cursor[1]), str(cursor[2])) if cursor else None)
    headers = None
    if page.next_key is not None:
        params = {"limit": str(query.limit)}
        if query.search:
            params["search"] = query.search
        params["cursor"] = call.next_cursor(*page.next_key)
        target = URL.build(path=call.request.path, query=params)
        headers = {"Link": f'<{target}>; rel="next"'}
    # The service's dicts are CatalogPackages (`package_dict`): serialized as they are, so a
    # page of 500 costs the loop ~0.3 ms rather than the models' ~5 ms.
    return ok(RawJson(orjson.dumps(page.items), CatalogPackageList), headers)


async def publish_package(call: Call[PublishRequest, None]) -> Reply:
    body = call.body
    package = await call.app[CATALOG].publish(
        call.principal, package_id=body.package_id, name=body.name,
        description=body.description, version=body.version, readme=body.readme,
        flow_id=body.flow_id, content=body.content, request_id=call.request_id)
    return created(_package(package))


async def get_package(call: Call[None, PackageQuery], package_id: PackageId) -> Reply:
    detail = await call.app[CATALOG].detail(call.principal, package_id,
                                            tenant_id=call.query.tenant_id)
    return ok(CatalogPackageDetail.model_validate(detail))


async def download_package(call: Call[None, PackageQuery], package_id: PackageId,
                           version: PackageVersion) -> Reply:
    file = await call.app[CATALOG].download(call.principal, package_id, version,
                                            tenant_id=call.query.tenant_id)
    # The file name is a slug and a semver: nothing to quote or encode.
    return ok(Blob(file.data, ZIP),
              {"Content-Disposition": f'attachment; filename="{file.filename}"'})


async def install_package(call: Call[InstallRequest, PackageQuery],
                          package_id: PackageId) -> Reply:
    body = call.body
    installed = await call.app[CATALOG].install(
        call.principal, package_id, version=body.version, save=body.save, name=body.name,
        tenant_id=call.query.tenant_id, request_id=call.request_id)
    if installed.flow is not None:
        return detail_reply(installed.flow, status=201)
    return ok(InstalledContent(content=installed.content or {}))


async def set_package_visibility(call: Call[VisibilityRequest, PackageQuery],
                                 package_id: PackageId) -> Reply:
    body = call.body
    package = await call.app[CATALOG].set_visibility(
        call.principal, package_id, visibility=body.visibility,
        group_ids=list(body.visibility_group_ids), tenant_id=call.query.tenant_id,
        request_id=call.request_id)
    return ok(_package(package))


async def delete_package(call: Call[None, PackageQuery], package_id: PackageId) -> Reply:
    await call.app[CATALOG].delete(call.principal, package_id, tenant_id=call.query.tenant_id,
                                   request_id=call.request_id)
    return NO_CONTENT


async def import_package(call: Call[bytes, None]) -> Reply:
    imported = await call.app[CATALOG].import_package(call.principal, call.body,
                                                      request_id=call.request_id)
    return Reply(201 if imported.created else 200, _package(imported.package))


# -- routes ------------------------------------------------------------------------------
BASE = "/api/v1/catalog"
PACKAGE = BASE + "/{package_id}"
MANAGE = "scaicore:manage; the package's author, a tenant admin of its tenant or a super admin"
IMPORT_REFUSALS = (INVALID_ARCHIVE, ARCHIVE_UNSAFE, INVALID_PACKAGE, PACKAGE_INTEGRITY,
                   COMPILE_ERROR, MISSING_PERMISSION, FORBIDDEN, PUBLISH_CONFLICT,
                   ARCHIVE_TOO_LARGE)

ROUTES = [
    Route("GET", BASE, list_packages, "List the packages the caller sees", TAG,
          (Response(200, CatalogPackageList,
                    "Newest first: a bare array [upstream]; the next page is in `Link`",
                    headers=(NEXT_PAGE,)),),
          errors=(MISSING_PERMISSION,), needs="scaicore:view", query=CatalogListQuery,
          description="Packages of the caller's tenant it may see (`tenant` ones, those of "
                      "its groups, its own; a tenant admin every one of the tenant); a super "
                      "admin's list spans every tenant."),
    Route("POST", BASE + "/publish", publish_package,
          "Publish a flow (stored, or inline content) as a package version", TAG,
          (Response(201, CatalogPackage, "The package (at its highest version)",
                    links=PACKAGE_LINKS),),
          errors=(COMPILE_ERROR, INVALID_PUBLISH, MISSING_PERMISSION, FORBIDDEN, NOT_FOUND,
                  PUBLISH_CONFLICT, ARCHIVE_TOO_LARGE),
          needs="scaicore:manage (and the `deploy` level on `flow_id`); over an existing "
                "package, its author, a tenant admin or a super admin",
          body=PublishRequest, body_limit=FLOW_BODY_LIMIT, body_example=catalog_publish_example,
          description="Compiled first (400 `compile_error` with `errors`, nothing stored), "
                      "then packed as a deterministic `.scaipkg`; a version already stored is "
                      "bumped to the next free patch. Always into the caller's tenant."),
    Route("POST", BASE + "/import", import_package,
          "Import a `.scaipkg` (another box's download or export)", TAG,
          (Response(201, CatalogPackage, "A version was stored (the file's, or the next free "
                                         "patch when that version holds other bytes)",
                    links=PACKAGE_LINKS),
           Response(200, CatalogPackage, "Nothing changed: that version already holds "
                                         "exactly these bytes", links=PACKAGE_LINKS)),
          errors=IMPORT_REFUSALS,
          needs="scaicore:manage; over an existing package, its author, a tenant admin or a "
                "super admin",
          binary_body=BinaryBody(ZIP, "The `.scaipkg` file as downloaded (at most 8 MiB)"),
          body_limit=UPLOAD_BODY_LIMIT,
          description="Every member checked before anything is used (names, kinds, sizes, "
                      "ratios, sha256 against `package.json`), `flow.json` validated and "
                      "compiled again, the manifest regenerated; stored in the caller's "
                      "tenant, a new package authored by the caller."),
    Route("GET", PACKAGE, get_package, "A package with its readme and every version", TAG,
          (Response(200, CatalogPackageDetail, "The package, `readme` and `versions`",
                    links=PACKAGE_LINKS),),
          errors=(MISSING_PERMISSION,), needs="scaicore:view; the package visible to the caller",
          query=PackageQuery),
    Route("GET", PACKAGE + "/versions/{version}/download", download_package,
          "Download a version's `.scaipkg`", TAG,
          (Response(200, None, "The stored bytes, unchanged (their sha256 is the version's)",
                    headers=(DISPOSITION,), content_type=ZIP, binary=True),),
          errors=(MISSING_PERMISSION,), needs="scaicore:view; the package visible to the caller",
          query=PackageQuery),
    Route("POST", PACKAGE + "/install", install_package,
          "A package's flow with a fresh id, or stored as a new flow (`save`)", TAG,
          (Response(200, InstalledContent, "`save` false: the content, not stored"),
           Response(201, FlowDetail, "`save` true: the new flow, owned by the caller in the "
                                     "caller's tenant", headers=(ETAG,), links=FLOW_LINKS)),
          errors=(MISSING_PERMISSION,),
          needs="scaicore:view (scaicore:manage with `save`); the package visible to the caller",
          body=InstallRequest, body_example=catalog_install_example, query=PackageQuery),
    Route("PUT", PACKAGE + "/visibility", set_package_visibility,
          "Who sees the package: its tenant, or members of groups", TAG,
          (Response(200, CatalogPackage, "The package", links=PACKAGE_LINKS),),
          errors=(INVALID_VISIBILITY, UNKNOWN_GROUPS, MISSING_PERMISSION, FORBIDDEN),
          needs=MANAGE, body=VisibilityRequest, body_example=catalog_visibility_example,
          query=PackageQuery),
    Route("DELETE", PACKAGE, delete_package, "Soft-delete a package (versions are kept)", TAG,
          (Response(204, None, "Deleted"),),
          errors=(MISSING_PERMISSION, FORBIDDEN), needs=MANAGE, query=PackageQuery),
]
