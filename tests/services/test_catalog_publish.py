"""Publishing to the catalog (SPEC §14): inline content or a stored flow (deploy ACL), compiled
first so a broken flow stores nothing, versions bumped on republish, the bytes and their sha256
stored under the documented path, the same input giving the same bytes on two fresh boxes."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import zipfile
from typing import Any

import orjson
import pytest

from scaiflow_box.auth.principal import VIEW
from scaiflow_box.errors import (
    Conflict,
    Forbidden,
    InvalidFields,
    InvalidInput,
    MissingPermission,
    NotFound,
)
from scaiflow_box.store import acls as acl_rows
from tests.packages.builders import EXAMPLE_NAMES, load_example
from tests.services.conftest import CatalogBox, principal

ALICE = principal("usr_alice")


async def publish(box: CatalogBox, who: Any = ALICE, **fields: Any) -> dict[str, Any]:
    fields.setdefault("package_id", "hello")
    fields.setdefault("name", "Hello")
    if "flow_id" not in fields:
        fields.setdefault("content", load_example("hello-world"))
    result: dict[str, Any] = await box.catalog.publish(who, **fields)
    return result


async def test_publish_inline_content_stores_one_version_and_its_audit(box: CatalogBox) -> None:
    await box.user("usr_alice")
    package = await publish(box, description="says hello", readme="# Hello\n",
                            request_id="req_1")
    assert package == {
        "package_id": "hello", "name": "Hello", "description": "says hello",
        "version": "0.1.0", "author_id": "usr_alice", "author_email": "usr_alice@example.com",
        "visibility": "tenant", "visibility_group_ids": [], "tenant_id": "tnt_a",
        "created_at": package["created_at"], "updated_at": package["created_at"],
        "size_bytes": package["size_bytes"]}
    [row] = box.sql("SELECT * FROM catalog_versions")
    assert row["storage_key"] == "catalog/tnt_a/hello/v0.1.0.scaipkg"
    assert row["sha256"] == hashlib.sha256(row["scaipkg"]).hexdigest()
    assert package["size_bytes"] == row["size_bytes"] == len(row["scaipkg"])
    assert row["size_bytes"] == len(row["scaipkg"])
    assert (row["readme"], row["source"], row["published_by"]) == ("# Hello\n", "publish",
                                                                  "usr_alice")
    archive = zipfile.ZipFile(io.BytesIO(row["scaipkg"]))
    assert json.loads(archive.read("package.json"))["author_id"] == "usr_alice"
    [audit] = box.sql("SELECT * FROM audit_log WHERE action = 'package.published'")
    assert (audit["actor"], audit["tenant_id"], audit["target_id"], audit["request_id"]) == (
        "usr_alice", "tnt_a", "hello", "req_1")
    assert json.loads(audit["details"]) == {"version": "0.1.0", "sha256": row["sha256"],
                                            "size_bytes": row["size_bytes"]}


async def test_republishing_bumps_the_patch_and_keeps_description_and_readme(
        box: CatalogBox) -> None:
    await publish(box, description="d", readme="# R")
    second = await publish(box)  # no version: the next patch of the latest
    assert second["version"] == "0.1.1" and second["description"] == "d"
    third = await publish(box, version="0.1.0")  # taken twice over: 0.1.0 → 0.1.1 → 0.1.2
    assert third["version"] == "0.1.2"
    fourth = await publish(box, version="2.0.0", readme="")  # empty readme: none
    assert fourth["version"] == "2.0.0"
    backport = await publish(box, version="1.5.0", name="Renamed")
    assert backport["version"] == "2.0.0" and backport["name"] == "Hello"  # highest stays
    rows = box.sql("SELECT version, readme FROM catalog_versions ORDER BY created_at")
    assert [(r["version"], r["readme"]) for r in rows] == [
        ("0.1.0", "# R"), ("0.1.1", "# R"), ("0.1.2", "# R"), ("2.0.0", None),
        ("1.5.0", None)]
    detail = await box.catalog.detail(ALICE, "hello")
    assert [v["version"] for v in detail["versions"]] == ["2.0.0", "1.5.0", "0.1.2", "0.1.1",
                                                         "0.1.0"]
    assert detail["readme"] is None
    assert box.counts()["audit"] == 5


async def test_publish_from_a_stored_flow_needs_the_deploy_level(box: CatalogBox) -> None:
    owner = principal("usr_owner")
    flow = await box.flows.create(owner, name="Support", description="",
                                  content=load_example("customer-support"), request_id=None)
    flow_id = orjson.loads(flow.body)["id"]
    package = await publish(box, owner, package_id="support", flow_id=flow_id)
    assert package["version"] == "0.1.0"
    [row] = box.sql("SELECT source_flow_id, source_flow_version FROM catalog_versions")
    assert tuple(row) == (flow_id, "1.0.0")
    # a user with `edit` only is refused (403), one without any grant finds no flow (404)
    await box.db.write(lambda conn: acl_rows.insert_acl(
        conn, acl_id="acl_x", tenant_id="tnt_a", flow_id=flow_id, principal_type="user",
        principal_id="usr_editor", level="edit", granted_by="usr_owner", granted_at="now"))
    with pytest.raises(Forbidden):
        await publish(box, principal("usr_editor"), package_id="other", flow_id=flow_id)
    with pytest.raises(NotFound):
        await publish(box, principal("usr_stranger"), package_id="other", flow_id=flow_id)
    with pytest.raises(NotFound):
        await publish(box, principal("usr_owner", "tnt_b"), package_id="other", flow_id=flow_id)
    await box.db.write(lambda conn: acl_rows.update_level(conn, "tnt_a", flow_id, "acl_x",
                                                          "deploy"))
    other = await publish(box, principal("usr_editor"), package_id="other", flow_id=flow_id)
    assert other["author_id"] == "usr_editor"
    assert box.counts()["catalog_versions"] == 2


async def test_a_stored_flow_that_does_not_compile_stores_nothing(box: CatalogBox) -> None:
    broken = load_example("hello-world")
    broken["edges"][0]["source"]["port"] = "out_typo"  # saving work in progress is allowed
    flow = await box.flows.create(ALICE, name="WIP", description="", content=broken,
                                  request_id=None)
    before = box.counts()
    with pytest.raises(InvalidInput) as caught:
        await publish(box, flow_id=orjson.loads(flow.body)["id"])
    assert caught.value.code == "compile_error"
    assert any("out_typo" in e["message"] for e in caught.value.extra["errors"])
    assert box.counts() == before == {"catalog_packages": 0, "catalog_package_groups": 0,
                                      "catalog_versions": 0, "audit": 0}


async def test_broken_inline_content_stores_nothing(box: CatalogBox) -> None:
    no_entry = load_example("hello-world")
    no_entry["nodes"] = [n for n in no_entry["nodes"] if not n["type"].startswith("entry_")]
    no_entry["edges"] = []
    with pytest.raises(InvalidInput) as caught:
        await publish(box, content=no_entry)
    assert caught.value.code == "compile_error"
    assert "flow has no entry-point node" in json.dumps(caught.value.extra["errors"])
    not_a_flowgraph = {"name": "x", "nodes": [{"id": 1}]}
    with pytest.raises(InvalidFields) as invalid:
        await publish(box, content=not_a_flowgraph)
    assert invalid.value.items[0]["loc"][:2] == ["body", "content"]
    assert box.counts()["catalog_versions"] == 0 and box.counts()["catalog_packages"] == 0
    # a republish that fails keeps the package as it was
    await publish(box)
    with pytest.raises(InvalidInput):
        await publish(box, content=no_entry)
    assert [r[0] for r in box.sql("SELECT version FROM catalog_versions")] == ["0.1.0"]


@pytest.mark.parametrize(("fields", "loc"), [
    ({"package_id": "Hello"}, "package_id"), ({"package_id": "-x"}, "package_id"),
    ({"package_id": "a" * 65}, "package_id"), ({"package_id": "a/b"}, "package_id"),
    ({"name": " "}, "name"), ({"name": "a\x00b"}, "name"), ({"version": "1.0"}, "version"),
    ({"version": "01.0.0"}, "version"), ({"description": "d" * 10_001}, "description"),
    ({"readme": "r" * 1_000_001}, "readme")])
async def test_bad_fields_are_422_and_store_nothing(box: CatalogBox, fields: dict[str, Any],
                                                  loc: str) -> None:
    with pytest.raises(InvalidFields) as caught:
        await publish(box, **fields)
    assert caught.value.items[0]["loc"] == ["body", loc]
    assert box.counts()["catalog_packages"] == 0


async def test_exactly_one_source_and_the_manage_permission(box: CatalogBox) -> None:
    with pytest.raises(InvalidInput) as both:
        await publish(box, flow_id="flow_x", content=load_example("hello-world"))
    assert both.value.code == "invalid_publish"
    with pytest.raises(InvalidInput):
        await box.catalog.publish(ALICE, package_id="x", name="X")
    with pytest.raises(MissingPermission):
        await publish(box, principal("usr_viewer", permissions=(VIEW,)))
    assert box.counts()["catalog_packages"] == 0


async def test_only_author_and_admins_publish_over_a_package(box: CatalogBox) -> None:
    await publish(box)
    with pytest.raises(Forbidden) as caught:
        await publish(box, principal("usr_bob"))
    assert "only its author" in caught.value.message
    admin = await publish(box, principal("usr_admin", role="tenant_admin"))
    root = await publish(box, principal("usr_root", role="super_admin"))
    assert (admin["version"], root["version"]) == ("0.1.1", "0.1.2")
    assert root["author_id"] == "usr_alice"  # the package keeps its author
    # another tenant's package_id space is its own
    theirs = await publish(box, principal("usr_bob", "tnt_b"))
    assert (theirs["tenant_id"], theirs["version"], theirs["author_id"]) == (
        "tnt_b", "0.1.0", "usr_bob")
    published_by = [r[0] for r in box.sql(
        "SELECT published_by FROM catalog_versions WHERE tenant_id = 'tnt_a'"
        " ORDER BY created_at")]
    assert published_by == ["usr_alice", "usr_admin", "usr_root"]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
async def test_two_fresh_boxes_make_byte_identical_packages(
        box: CatalogBox, other_box: CatalogBox, name: str) -> None:
    """The same input (content, package fields, author, tenant) on two data directories."""
    datas = []
    for each in (box, other_box):
        await publish(each, package_id=name, name=name, content=load_example(name),
                      description="same", readme="# Same\n")
        file = await each.catalog.download(ALICE, name, "0.1.0")
        datas.append((file.data, file.sha256))
    assert datas[0] == datas[1]
    assert datas[0][1] == hashlib.sha256(datas[0][0]).hexdigest()


async def test_concurrent_publishes_get_distinct_versions(box: CatalogBox) -> None:
    import asyncio

    results = await asyncio.gather(*(publish(box) for _ in range(5)), return_exceptions=True)
    versions = sorted(r["version"] for r in results if isinstance(r, dict))
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(versions) + len(conflicts) == 5
    assert len(set(versions)) == len(versions) >= 3
    stored = sorted(r[0] for r in box.sql("SELECT version FROM catalog_versions"))
    assert stored == versions


async def test_versions_are_append_only(box: CatalogBox) -> None:
    await publish(box)

    def tamper(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE catalog_versions SET scaipkg = x'00'")

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await box.db.write(tamper)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        await box.db.write(lambda conn: conn.execute("DELETE FROM catalog_versions"))
