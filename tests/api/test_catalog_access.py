"""Who may do what in the catalog (SPEC §2, §14), through the API: no token, a malformed
token, the dev token, another tenant, a view-only scope, a member who is not the author, the
author, a tenant admin and a super admin (who names another tenant with `tenant_id`). Every
refusal leaves the stored state as it was; every success changes what it says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.catalog_helpers import (
    CATALOG,
    IMPORT,
    PUBLISH,
    ZIP,
    catalog_state,
    download,
    download_url,
    package_url,
    publish,
)
from tests.conftest import AppFactory, Appliance
from tests.packages.builders import load_example

NOT_FOUND = {"detail": "Package not found"}


@dataclass(frozen=True)
class Call:
    name: str
    method: str
    path: str
    json: Any = None
    zip: bool = False  # the body is the package's own .scaipkg
    manage: bool = False  # needs scaicore:manage
    owner_rule: bool = False  # the package's author, a tenant admin or a super admin
    ok: int = 200


CALLS = [
    Call("detail", "GET", package_url("hello")),
    Call("download", "GET", download_url("hello", "0.1.0")),
    Call("install", "POST", package_url("hello", "/install"), json={}),
    Call("install+save", "POST", package_url("hello", "/install"), json={"save": True},
         manage=True, ok=201),
    Call("visibility", "PUT", package_url("hello", "/visibility"),
         json={"visibility": "groups", "visibility_group_ids": ["grp_team"]}, manage=True,
         owner_rule=True),
    Call("publish over", "POST", PUBLISH, json={"package_id": "hello", "name": "Hello",
                                                "content": load_example("hello-world")},
         manage=True, owner_rule=True, ok=201),
    Call("import over", "POST", IMPORT, zip=True, manage=True, owner_rule=True, ok=201),
    Call("delete", "DELETE", package_url("hello"), manage=True, owner_rule=True, ok=204),
]
# The calls that name the package by its id (a caller of another tenant names nothing).
SCOPED = [c for c in CALLS if c.path.startswith(CATALOG + "/hello")]


async def _world(app: Appliance) -> None:
    """tnt_a: usr_author's package `hello` (0.1.0), usr_member in the group grp_team."""
    author = await app.headers("usr_author")
    await app.user("usr_member")
    await app.group("grp_team", "tnt_a", ["usr_member"])
    await publish(app, author)


async def _send(app: Appliance, call: Call, headers: dict[str, str], package: bytes,
                query: str = "") -> tuple[int, Any]:
    path = call.path + (f"?{query}" if query and call.path.startswith(CATALOG + "/hello")
                        else "")
    if call.zip:
        resp = await app.client.request(call.method, path, headers={**headers, **ZIP},
                                        data=package)
    else:
        resp = await app.client.request(call.method, path, headers=headers, json=call.json)
    if resp.status == 204:
        return 204, None
    if resp.content_type == "application/json":
        return resp.status, await resp.json()
    return resp.status, await resp.read()


async def _package_elsewhere(make_appliance: AppFactory) -> bytes:
    """The same package id published at 0.2.0 on another box (the import's payload)."""
    other = await make_appliance()
    author = await other.headers("usr_author")
    await publish(other, author, version="0.2.0")
    return await download(other, author, "hello", "0.2.0")


async def test_without_a_valid_token_nothing_is_answered(make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_API_TOKEN="dev-secret-catalog")
    await _world(app)
    before = catalog_state(app)
    everything = [Call("list", "GET", CATALOG), *CALLS]
    for headers, expected in (({}, {"detail": "Not authenticated"}),
                              ({"Authorization": "Bearer abc.def.ghi"},
                               {"detail": "invalid token: malformed"}),
                              # The dev token is accepted by POST /dev/deploy only.
                              ({"Authorization": "Bearer dev-secret-catalog"},
                               {"detail": "invalid token: malformed"})):
        for call in everything:
            status, body = await _send(app, call, headers, b"PK")
            assert (status, body) == (401, expected), (call.name, headers)
    assert catalog_state(app) == before


async def test_another_tenant_finds_nothing(make_appliance: AppFactory) -> None:
    app = await make_appliance()
    await _world(app)
    elsewhere = await app.headers("usr_eve", "tnt_b", role="tenant_admin")
    before = catalog_state(app)
    for call in SCOPED:
        for query in ("", "tenant_id=tnt_a"):  # naming the tenant changes nothing
            status, body = await _send(app, call, elsewhere, b"", query)
            assert (status, body) == (404, NOT_FOUND), (call.name, query)
    resp = await app.client.get(package_url("nothing-here"), headers=await app.headers())
    assert (resp.status, await resp.json()) == (404, NOT_FOUND)  # the same as no package
    resp = await app.client.get(CATALOG, headers=elsewhere)
    assert await resp.json() == []
    assert catalog_state(app) == before


async def test_a_view_only_scope_reads_and_changes_nothing(make_appliance: AppFactory) -> None:
    app = await make_appliance()
    await _world(app)
    package = await _package_elsewhere(make_appliance)
    viewer = await app.headers("usr_member", scope="scaicore:view")
    before = catalog_state(app)
    for call in CALLS:
        status, body = await _send(app, call, viewer, package)
        if call.manage:
            assert status == 403, (call.name, body)
            assert body["detail"]["error"] == "missing_permission"
            assert body["detail"]["fix"] == "Caller needs `scaicore:manage` on this tenant."
        else:
            assert status == call.ok, (call.name, body)
    listed = await app.client.get(CATALOG, headers=viewer)
    assert [p["package_id"] for p in await listed.json()] == ["hello"]
    assert catalog_state(app) == before


async def test_a_member_who_is_not_the_author(make_appliance: AppFactory) -> None:
    app = await make_appliance()
    await _world(app)
    package = await _package_elsewhere(make_appliance)
    member = await app.headers("usr_member")
    for call in CALLS:
        before = catalog_state(app)
        status, body = await _send(app, call, member, package)
        if call.owner_rule:
            assert status == 403, (call.name, body)
            assert body["detail"]["error"] == "forbidden"
            assert catalog_state(app) == before
        else:
            assert status == call.ok, (call.name, body)
    # install+save made a flow of the member's; nothing of the package changed.
    [flow] = app.sql("SELECT owner_id, tenant_id FROM flows")
    assert tuple(flow) == ("usr_member", "tnt_a")
    [row] = app.sql("SELECT version, visibility, deleted_at FROM catalog_packages")
    assert tuple(row) == ("0.1.0", "tenant", None)


@pytest.mark.parametrize("role", ["author", "tenant_admin", "super_admin"])
async def test_the_author_and_admins_manage_the_package(make_appliance: AppFactory,
                                                        role: str) -> None:
    app = await make_appliance()
    await _world(app)
    package = await _package_elsewhere(make_appliance)
    if role == "author":
        headers, query, sub, home = await app.headers("usr_author"), "", "usr_author", "tnt_a"
    elif role == "tenant_admin":
        headers, query = await app.headers("usr_ta", role="tenant_admin"), ""
        sub, home = "usr_ta", "tnt_a"
    else:  # another tenant's super admin names the package's tenant
        headers = await app.headers("usr_root", "tnt_ops", role="super_admin")
        query, sub, home = "tenant_id=tnt_a", "usr_root", "tnt_ops"
    for call in CALLS:
        if call.path in (PUBLISH, IMPORT) and role == "super_admin":
            continue  # always into the caller's own tenant: tested below
        status, body = await _send(app, call, headers, package, query)
        assert status == call.ok, (call.name, body)
    [row] = app.sql("SELECT visibility, deleted_at FROM catalog_packages WHERE tenant_id = "
                    "'tnt_a'")
    assert row["visibility"] == "groups" and row["deleted_at"] is not None
    versions = [r[0] for r in app.sql("SELECT version FROM catalog_versions ORDER BY version")]
    assert versions == (["0.1.0"] if role == "super_admin" else ["0.1.0", "0.1.1", "0.2.0"])
    [flow] = app.sql("SELECT owner_id, tenant_id FROM flows")
    assert tuple(flow) == (sub, home)  # installed into the caller's own tenant
    actors = {(r["action"], r["actor"], r["tenant_id"]) for r in app.sql(
        "SELECT action, actor, tenant_id FROM audit_log WHERE action IN "
        "('package.visibility_changed', 'package.deleted', 'package.installed')")}
    assert actors == {("package.visibility_changed", sub, "tnt_a"),
                      ("package.deleted", sub, "tnt_a"),
                      ("package.installed", sub, home)}
    if role == "super_admin":
        # Without tenant_id, a super admin names their own tenant, where there is nothing.
        resp = await app.client.get(package_url("hello"), headers=headers)
        assert (resp.status, await resp.json()) == (404, NOT_FOUND)
        resp = await app.client.get(CATALOG, headers=headers)  # but lists every tenant's
        assert resp.status == 200


async def test_publish_over_needs_the_owner_rule(make_appliance: AppFactory) -> None:
    app = await make_appliance()
    await _world(app)
    admin = await app.headers("usr_ta", role="tenant_admin")
    again = await publish(app, admin, name="Hello by the admin")
    assert (again["version"], again["name"], again["author_id"]) == (
        "0.1.1", "Hello by the admin", "usr_author")  # the author stays
    # Another tenant's id is its own: the same id there is a new package.
    elsewhere = await app.headers("usr_eve", "tnt_b")
    theirs = await publish(app, elsewhere)
    assert (theirs["tenant_id"], theirs["version"], theirs["author_id"]) == (
        "tnt_b", "0.1.0", "usr_eve")
    # A super admin's publish goes into their own tenant, whatever they see.
    root = await app.headers("usr_root", "tnt_ops", role="super_admin")
    mine = await publish(app, root)
    assert (mine["tenant_id"], mine["author_id"]) == ("tnt_ops", "usr_root")
    resp = await app.client.get(CATALOG, headers=root)
    assert sorted((p["tenant_id"], p["package_id"]) for p in await resp.json()) == [
        ("tnt_a", "hello"), ("tnt_b", "hello"), ("tnt_ops", "hello")]
