"""Who sees which package (SPEC §14) — the matrix of tenant member, group member, non-member,
author, tenant admin, super admin and another tenant over list, detail, download and install —
and who may change visibility or delete (author, tenant admin, super admin; 403 for others
who see the package, 404 for those who do not)."""

from __future__ import annotations

import json

import pytest

from scaiflow_box.auth.principal import MANAGE, VIEW, Principal
from scaiflow_box.errors import Forbidden, InvalidFields, InvalidInput, MissingPermission, NotFound
from tests.packages.builders import load_example
from tests.services.conftest import CatalogBox, principal

AUTHOR = principal("usr_author")
GROUP_MEMBER = principal("usr_carol")
NON_MEMBER = principal("usr_bob")
TENANT_ADMIN = principal("usr_tadmin", role="tenant_admin")
SUPER_ADMIN = principal("usr_root", "tnt_ops", role="super_admin")
OTHER_TENANT = principal("usr_eve", "tnt_b")
OTHER_TENANT_ADMIN = principal("usr_evil", "tnt_b", role="tenant_admin")

# package -> the callers who see it
SEES = {
    "open": {"author", "group_member", "non_member", "tenant_admin", "super_admin"},
    "grouped": {"author", "group_member", "tenant_admin", "super_admin"},
    "theirs": {"other_tenant", "other_tenant_admin", "super_admin"},
}
CALLERS: dict[str, Principal] = {
    "author": AUTHOR, "group_member": GROUP_MEMBER, "non_member": NON_MEMBER,
    "tenant_admin": TENANT_ADMIN, "super_admin": SUPER_ADMIN, "other_tenant": OTHER_TENANT,
    "other_tenant_admin": OTHER_TENANT_ADMIN,
}
TENANT_OF = {"open": "tnt_a", "grouped": "tnt_a", "theirs": "tnt_b"}


async def catalog_of_three(box: CatalogBox) -> None:
    """`open` (tenant), `grouped` (group grp_team, of which carol is a member) in tnt_a, and
    `theirs` in tnt_b."""
    await box.user("usr_author")
    await box.user("usr_carol", groups=("grp_team",))
    await box.user("usr_bob", groups=("grp_other",))
    content = load_example("hello-world")
    for package_id in ("open", "grouped"):
        await box.catalog.publish(AUTHOR, package_id=package_id, name=package_id,
                                  content=content)
    await box.catalog.set_visibility(AUTHOR, "grouped", visibility="groups",
                                     group_ids=["grp_team"])
    await box.catalog.publish(OTHER_TENANT, package_id="theirs", name="theirs",
                              content=content)


async def test_the_list_follows_the_four_visibility_rules(box: CatalogBox) -> None:
    await catalog_of_three(box)
    for name, caller in CALLERS.items():
        page = await box.catalog.list_packages(caller)
        listed = {item["package_id"] for item in page.items}
        expected = {p for p, who in SEES.items() if name in who}
        assert listed == expected, name
        assert page.next_key is None
    grouped = next(i for i in (await box.catalog.list_packages(AUTHOR)).items
                   if i["package_id"] == "grouped")
    assert (grouped["visibility"], grouped["visibility_group_ids"]) == ("groups", ["grp_team"])


@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize("package_id", sorted(SEES))
async def test_detail_download_and_install_follow_the_same_rules(
        box: CatalogBox, caller: str, package_id: str) -> None:
    await catalog_of_three(box)
    who = CALLERS[caller]
    # a super admin names the tenant of a package outside their own; others cannot
    tenant = TENANT_OF[package_id] if caller == "super_admin" else None
    if caller in SEES[package_id]:
        detail = await box.catalog.detail(who, package_id, tenant_id=tenant)
        assert detail["package_id"] == package_id and detail["versions"][0]["version"] == "0.1.0"
        file = await box.catalog.download(who, package_id, "0.1.0", tenant_id=tenant)
        assert file.sha256 == detail["versions"][0]["sha256"]
        installed = await box.catalog.install(who, package_id, tenant_id=tenant)
        assert installed.content is not None and installed.content["version"] == "1.0.0"
    else:
        for call in (box.catalog.detail(who, package_id, tenant_id=tenant),
                     box.catalog.download(who, package_id, "0.1.0", tenant_id=tenant),
                     box.catalog.install(who, package_id, tenant_id=tenant)):
            with pytest.raises(NotFound) as caught:
                await call
            assert caught.value.message == "Package not found"  # the same as for no package


async def test_naming_another_tenant_is_a_super_admin_power(box: CatalogBox) -> None:
    await catalog_of_three(box)
    for caller in (AUTHOR, TENANT_ADMIN, OTHER_TENANT):
        with pytest.raises(NotFound):
            await box.catalog.detail(caller, "theirs", tenant_id="tnt_b"
                                     if caller is not OTHER_TENANT else "tnt_a")
    assert (await box.catalog.detail(SUPER_ADMIN, "theirs", tenant_id="tnt_b"))["tenant_id"] \
        == "tnt_b"
    with pytest.raises(NotFound):  # their own tenant has no such package
        await box.catalog.detail(SUPER_ADMIN, "theirs")


async def test_group_membership_is_the_live_mirror(box: CatalogBox) -> None:
    await catalog_of_three(box)
    assert await box.catalog.detail(GROUP_MEMBER, "grouped")
    await box.db.write(lambda conn: conn.execute(
        "UPDATE memberships SET deleted_at = 'x' WHERE user_id = 'usr_carol'"))
    with pytest.raises(NotFound):
        await box.catalog.detail(GROUP_MEMBER, "grouped")
    await box.db.write(lambda conn: conn.execute(
        "UPDATE memberships SET deleted_at = NULL WHERE user_id = 'usr_carol'"))
    await box.db.write(lambda conn: conn.execute(
        "UPDATE groups SET deleted_at = 'x' WHERE id = 'grp_team'"))
    listed = {i["package_id"] for i in (await box.catalog.list_packages(GROUP_MEMBER)).items}
    assert listed == {"open"}


async def test_reading_needs_the_view_permission(box: CatalogBox) -> None:
    await catalog_of_three(box)
    nobody = principal("usr_bob", permissions=())
    for call in (box.catalog.list_packages(nobody), box.catalog.detail(nobody, "open"),
                 box.catalog.download(nobody, "open", "0.1.0"),
                 box.catalog.install(nobody, "open")):
        with pytest.raises(MissingPermission):
            await call
    viewer = principal("usr_bob", permissions=(VIEW,))
    assert (await box.catalog.install(viewer, "open")).content is not None
    with pytest.raises(MissingPermission):  # saving creates a flow: manage
        await box.catalog.install(viewer, "open", save=True)
    assert principal("x", permissions=(MANAGE,)).permissions == {MANAGE}


# -- visibility changes and delete ---------------------------------------------------------
@pytest.mark.parametrize(("caller", "outcome"), [
    ("author", "ok"), ("tenant_admin", "ok"), ("super_admin", "ok"),
    ("non_member", 403), ("group_member", 403), ("other_tenant", 404),
    ("other_tenant_admin", 404)])
async def test_who_may_change_visibility_and_delete(box: CatalogBox, caller: str,
                                                   outcome: str | int) -> None:
    await catalog_of_three(box)
    who = CALLERS[caller]
    tenant = "tnt_a" if caller == "super_admin" else None
    before = box.counts()
    if outcome == "ok":
        changed = await box.catalog.set_visibility(who, "open", visibility="groups",
                                                   group_ids=["grp_team"], tenant_id=tenant)
        assert changed["visibility_group_ids"] == ["grp_team"]
        await box.catalog.delete(who, "open", tenant_id=tenant, request_id="req_del")
        assert box.sql("SELECT deleted_at IS NOT NULL FROM catalog_packages"
                       " WHERE package_id = 'open'")[0][0] == 1
        actions = [r[0] for r in box.sql("SELECT action FROM audit_log WHERE target_id = 'open'"
                                         " AND actor = ? AND action != 'package.published'"
                                         " ORDER BY id", who.sub)]
        assert actions == ["package.visibility_changed", "package.deleted"]
        return
    expected = Forbidden if outcome == 403 else NotFound
    with pytest.raises(expected):
        await box.catalog.set_visibility(who, "open", visibility="groups",
                                         group_ids=["grp_team"], tenant_id=tenant)
    with pytest.raises(expected):
        await box.catalog.delete(who, "open", tenant_id=tenant)
    assert box.counts() == before
    assert box.sql("SELECT visibility, deleted_at FROM catalog_packages"
                   " WHERE package_id = 'open'")[0][:] == ("tenant", None)


async def test_groups_visibility_needs_known_groups_of_the_tenant(box: CatalogBox) -> None:
    await catalog_of_three(box)
    await box.user("usr_eve", "tnt_b", groups=("grp_b",))
    cases: list[tuple[str, list[str], type[Exception], str]] = [
        ("groups", [], InvalidInput, "invalid_visibility"),
        ("groups", ["grp_nope"], InvalidInput, "unknown_groups"),
        ("groups", ["grp_team", "grp_b"], InvalidInput, "unknown_groups"),  # another tenant's
        ("tenant", ["grp_team"], InvalidInput, "invalid_visibility"),
        ("public", [], InvalidFields, ""),
        ("groups", ["grp team"], InvalidFields, ""),
        ("groups", [f"grp_{i}" for i in range(101)], InvalidFields, ""),
    ]
    before = box.counts()
    for visibility, groups, error, code in cases:
        with pytest.raises(error) as caught:
            await box.catalog.set_visibility(AUTHOR, "open", visibility=visibility,
                                             group_ids=groups)
        if code:
            assert caught.value.code == code  # type: ignore[attr-defined]
    unknown = await _refusal(box, ["grp_team", "grp_b", "grp_nope"])
    assert unknown.extra["group_ids"] == ["grp_b", "grp_nope"]
    await box.db.write(lambda conn: conn.execute(
        "UPDATE groups SET deleted_at = 'x' WHERE id = 'grp_other'"))
    assert (await _refusal(box, ["grp_other"])).code == "unknown_groups"  # deleted: unknown
    assert box.counts() == before


async def _refusal(box: CatalogBox, groups: list[str]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        await box.catalog.set_visibility(AUTHOR, "open", visibility="groups", group_ids=groups)
    return caught.value


async def test_visibility_round_trip_and_no_change_no_audit(box: CatalogBox) -> None:
    await catalog_of_three(box)
    await box.user("usr_bob", groups=("grp_other",))
    changed = await box.catalog.set_visibility(
        AUTHOR, "open", visibility="groups", group_ids=["grp_team", "grp_other", "grp_team"],
        request_id="req_v")
    assert changed["visibility_group_ids"] == ["grp_other", "grp_team"]
    [audit] = box.sql("SELECT details, request_id FROM audit_log WHERE target_id = 'open'"
                      " AND action = 'package.visibility_changed'")
    assert json.loads(audit["details"]) == {
        "visibility": "groups", "visibility_group_ids": ["grp_team", "grp_other"],
        "before": {"visibility": "tenant", "visibility_group_ids": []}}
    assert audit["request_id"] == "req_v"
    same = await box.catalog.set_visibility(AUTHOR, "open", visibility="groups",
                                            group_ids=["grp_other", "grp_team"])
    assert same == changed
    assert len(box.sql("SELECT 1 FROM audit_log WHERE action = 'package.visibility_changed'"
                       " AND target_id = 'open'")) == 1
    back = await box.catalog.set_visibility(AUTHOR, "open", visibility="tenant", group_ids=[])
    assert (back["visibility"], back["visibility_group_ids"]) == ("tenant", [])
    assert box.sql("SELECT count(*) FROM catalog_package_groups WHERE package_id = 'open'"
                   )[0][0] == 0


async def test_a_deleted_package_is_gone_but_kept(box: CatalogBox) -> None:
    await catalog_of_three(box)
    await box.catalog.delete(AUTHOR, "open")
    for who in (AUTHOR, TENANT_ADMIN):
        assert "open" not in {i["package_id"]
                              for i in (await box.catalog.list_packages(who)).items}
        with pytest.raises(NotFound):
            await box.catalog.detail(who, "open")
        with pytest.raises(NotFound):
            await box.catalog.delete(who, "open")
    assert box.counts()["catalog_versions"] == 3  # versions are kept
    # its id stays taken: only its author or an admin may publish it again, which restores it
    with pytest.raises(Forbidden):
        await box.catalog.publish(NON_MEMBER, package_id="open", name="mine",
                                  content=load_example("hello-world"))
    again = await box.catalog.publish(AUTHOR, package_id="open", name="open",
                                      content=load_example("hello-world"))
    assert again["version"] == "0.1.1"
    [audit] = box.sql("SELECT details FROM audit_log WHERE action = 'package.published'"
                      " AND target_id = 'open' ORDER BY id DESC LIMIT 1")
    assert json.loads(audit["details"])["undeleted"] is True
    assert (await box.catalog.detail(NON_MEMBER, "open"))["version"] == "0.1.1"


# -- the list: search, limit, keyset pages -------------------------------------------------
async def test_search_limit_and_pages(box: CatalogBox) -> None:
    content = load_example("hello-world")
    for i in range(7):
        await box.catalog.publish(AUTHOR, package_id=f"pkg-{i}", name=f"Name {i % 2}",
                                  content=content)
    seen: list[str] = []
    after = None
    while True:
        page = await box.catalog.list_packages(NON_MEMBER, limit=3, after=after)
        seen += [i["package_id"] for i in page.items]
        if page.next_key is None:
            break
        after = page.next_key
    assert seen == [f"pkg-{i}" for i in reversed(range(7))]  # newest first, each once
    found = await box.catalog.list_packages(NON_MEMBER, search="NAME 1")
    assert [i["package_id"] for i in found.items] == ["pkg-5", "pkg-3", "pkg-1"]
    by_id = await box.catalog.list_packages(NON_MEMBER, search="G-4")
    assert [i["package_id"] for i in by_id.items] == ["pkg-4"]
    across: list[tuple[str, str]] = []
    after = None
    await box.catalog.publish(OTHER_TENANT, package_id="pkg-b", name="b", content=content)
    while True:  # a super admin's pages run across tenants
        page = await box.catalog.list_packages(SUPER_ADMIN, limit=2, after=after)
        across += [(i["tenant_id"], i["package_id"]) for i in page.items]
        if page.next_key is None:
            break
        after = page.next_key
    assert across[0] == ("tnt_b", "pkg-b") and len(across) == len(set(across)) == 8

