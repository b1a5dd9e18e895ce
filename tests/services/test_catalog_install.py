"""Installing and downloading packages (SPEC §14): the FlowGraph comes back with a fresh flow
id (node and edge ids kept) at version 1.0.0; `save` stores it through the flow service as a
new flow owned by the caller, audited twice (the flow's creation, the install)."""

from __future__ import annotations

import json

import orjson
import pytest

from scaiflow_box.compiler.schema import structural_errors
from scaiflow_box.errors import InvalidFields, NotFound
from tests.packages.builders import EXAMPLE_NAMES, load_example
from tests.services.conftest import CatalogBox, principal

ALICE = principal("usr_alice")
BOB = principal("usr_bob")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
async def test_install_gives_fresh_ids_and_version_one(box: CatalogBox, name: str) -> None:
    source = load_example(name)
    await box.catalog.publish(ALICE, package_id=name, name=name, content=source)
    first = await box.catalog.install(BOB, name)
    second = await box.catalog.install(BOB, name)
    assert first.flow is None and first.content is not None and second.content is not None
    content = first.content
    assert content["id"].startswith("flow_") and content["id"] != second.content["id"]
    assert content["version"] == "1.0.0"
    assert [n["id"] for n in content["nodes"]] == [n["id"] for n in source["nodes"]]
    assert [e["id"] for e in content["edges"]] == [e["id"] for e in source["edges"]]
    assert {k: v for k, v in content.items() if k not in ("id", "version")} == \
        {k: v for k, v in source.items() if k not in ("id", "version")}
    assert structural_errors(content) == []
    assert box.sql("SELECT count(*) FROM flows")[0][0] == 0  # nothing stored without save
    assert box.counts()["audit"] == 1  # the publish only


async def test_install_with_save_creates_the_callers_flow(box: CatalogBox) -> None:
    await box.catalog.publish(ALICE, package_id="support", name="Support Agent",
                              description="triage", content=load_example("customer-support"))
    installed = await box.catalog.install(BOB, "support", save=True, request_id="req_i")
    assert installed.content is None and installed.flow is not None
    row = orjson.loads(installed.flow.body)
    assert (row["name"], row["description"], row["owner_id"], row["tenant_id"],
            row["version"]) == ("Support Agent", "triage", "usr_bob", "tnt_a", "1.0.0")
    stored = row["content"]
    assert stored["id"] == row["id"] and stored["version"] == "1.0.0"
    [flow] = box.sql("SELECT id, owner_id FROM flows")
    assert tuple(flow) == (row["id"], "usr_bob")
    [version] = box.sql("SELECT content FROM flow_versions WHERE flow_id = ?", row["id"])
    assert orjson.loads(version["content"]) == stored
    audits = box.sql("SELECT action, actor, target_id, details, request_id FROM audit_log"
                     " WHERE actor = 'usr_bob' ORDER BY id")
    assert [(a["action"], a["target_id"], a["request_id"]) for a in audits] == [
        ("flow.created", row["id"], "req_i"), ("package.installed", "support", "req_i")]
    details = json.loads(audits[1]["details"])
    assert details["flow_id"] == row["id"] and details["version"] == "0.1.0"
    assert details["package_tenant_id"] == "tnt_a" and len(details["sha256"]) == 64
    # the new flow is the caller's: they read it through the flow service
    assert orjson.loads((await box.flows.get(BOB, row["id"])).body)["id"] == row["id"]


async def test_install_a_named_version_under_another_name(box: CatalogBox) -> None:
    content = load_example("hello-world")
    await box.catalog.publish(ALICE, package_id="hello", name="Hello", content=content)
    changed = {**content, "nodes": [*content["nodes"]]}
    changed["nodes"][1] = {**changed["nodes"][1], "label": "Second"}
    await box.catalog.publish(ALICE, package_id="hello", name="Hello", content=changed)
    old = await box.catalog.install(BOB, "hello", version="0.1.0", name="Old hello")
    new = await box.catalog.install(BOB, "hello")
    assert old.content is not None and new.content is not None
    assert old.content["nodes"][1]["label"] == content["nodes"][1]["label"] != "Second"
    assert old.content["name"] == "Old hello"
    assert new.content["nodes"][1]["label"] == "Second"
    assert new.content["name"] == content["name"]
    saved = await box.catalog.install(BOB, "hello", version="0.1.0", name="Mine", save=True)
    assert saved.flow is not None and orjson.loads(saved.flow.body)["name"] == "Mine"
    with pytest.raises(NotFound) as missing:
        await box.catalog.install(BOB, "hello", version="9.9.9")
    assert missing.value.message == "Version not found"
    with pytest.raises(InvalidFields):
        await box.catalog.install(BOB, "hello", name=" ", save=True)
    assert box.sql("SELECT count(*) FROM flows")[0][0] == 1


async def test_download_is_the_stored_bytes(box: CatalogBox) -> None:
    await box.catalog.publish(ALICE, package_id="hello", name="Hello",
                              content=load_example("hello-world"))
    await box.catalog.publish(ALICE, package_id="hello", name="Hello",
                              content=load_example("hello-world"), readme="new")
    for version in ("0.1.0", "0.1.1"):
        file = await box.catalog.download(BOB, "hello", version)
        [row] = box.sql("SELECT scaipkg, sha256 FROM catalog_versions WHERE version = ?",
                        version)
        assert (file.data, file.sha256) == (bytes(row["scaipkg"]), row["sha256"])
        assert file.filename == f"hello-{version}.scaipkg"
    latest = await box.catalog.download(BOB, "hello", None)
    assert latest.version == "0.1.1"
    with pytest.raises(NotFound) as missing:
        await box.catalog.download(BOB, "hello", "0.2.0")
    assert missing.value.message == "Version not found"
    with pytest.raises(NotFound) as none:
        await box.catalog.download(BOB, "nope", "0.1.0")
    assert none.value.message == "Package not found"
