"""Importing a raw `.scaipkg` (SPEC §14): every hostile archive — built here with zipfile — is
refused in the documented shape with nothing stored and nothing written to disk; a good one is
checked for integrity and schema, its flow validated and compiled again, its manifest
regenerated, and stored in the caller's tenant. Moving a package between two boxes, and a
backup that brings the catalog back."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import stat
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from scaiflow_box.errors import DomainError, Forbidden, InvalidFields, InvalidInput, TooLarge
from scaiflow_box.packages.scaipkg import read_package
from scaiflow_box.store.db import Database
from tests.packages.builders import (
    entry,
    flow_members,
    load_example,
    package_archive,
    package_json,
    with_sizes,
    zip_of,
)
from tests.services.conftest import CatalogBox, open_box, principal

ALICE = principal("usr_alice")
BOB = principal("usr_bob", "tnt_b")
MiB = 1024 * 1024


def _flag_encrypted(data: bytes) -> bytes:
    out = bytearray(data)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (at := out.find(signature, start)) >= 0:
            struct.pack_into("<H", out, at + flag_at, 1)
            start = at + 4
    return bytes(out)


def _with_member(name: str | zipfile.ZipInfo, data: bytes) -> bytes:
    """A well-formed package without a readme plus one more entry, listed in package.json
    when it is the readme (so only the entry itself is wrong)."""
    members = flow_members(readme=None)
    named = name if isinstance(name, str) else name.filename
    listed = {**members, named: data} if named == "README.md" else members
    return zip_of([("package.json", package_json(listed)), *members.items(), (name, data)])


def _tampered() -> bytes:
    members = flow_members()
    meta = package_json(members)
    flow = json.loads(members["flow.json"])
    flow["nodes"][1]["label"] = "changed after packing"
    members["flow.json"] = json.dumps(flow).encode()
    return zip_of([("package.json", meta), *members.items()])


def _unlisted_readme() -> bytes:
    members = flow_members()
    listed = {k: v for k, v in members.items() if k != "README.md"}
    return zip_of([("package.json", package_json(listed)), *members.items()])


def _missing_listed() -> bytes:
    members = flow_members()
    present = {k: v for k, v in members.items() if k != "README.md"}
    return zip_of([("package.json", package_json(members)), *present.items()])


def _flow(content: Any) -> bytes:
    flow = json.dumps(content).encode() if not isinstance(content, bytes) else content
    return package_archive({"flow.json": flow})


def _uncompilable() -> bytes:
    flow = load_example("hello-world")
    flow["edges"][0]["source"]["port"] = "out_typo"
    return _flow(flow)


def _symlink() -> bytes:
    members = flow_members()
    link = entry("README.md", mode=stat.S_IFLNK | 0o777)
    return zip_of([("package.json", package_json(members)), ("flow.json", members["flow.json"]),
                   ("manifest.yaml", members["manifest.yaml"]), (link, b"/etc/passwd")])


def _reparse_point() -> bytes:
    link = entry("README.md")
    link.external_attr |= 0x400
    members = flow_members()
    return zip_of([("package.json", package_json(members)), ("flow.json", members["flow.json"]),
                   ("manifest.yaml", members["manifest.yaml"]), (link, b"x")])


def _big_random_archive() -> bytes:
    noise = random.Random(7).randbytes(8 * MiB + 10)
    return _with_member(entry("README.md", compress=zipfile.ZIP_STORED), noise)


def _lying_size() -> bytes:
    """The readme says it is 10 bytes; it inflates to 200,000 (within the ratio limit as
    declared): reading stops at 10 and the CRC refuses it."""
    members = flow_members()
    members["README.md"] = random.Random(1).randbytes(200_000)
    return with_sizes(package_archive(members), "README.md", file_size=10)


_ACGT = bytes(b"acgt"[i % 4] for i in range(256))


def _dna(size: int, seed: int) -> bytes:
    """Text that deflates about 4:1 (under the ratio limit, unlike runs of one byte)."""
    return random.Random(seed).randbytes(size).translate(_ACGT)


def _bzip2() -> bytes:
    members = flow_members()
    return zip_of([("package.json", package_json(members)), ("flow.json", members["flow.json"]),
                   ("manifest.yaml", members["manifest.yaml"]),
                   (entry("README.md", compress=zipfile.ZIP_BZIP2), members["README.md"])])


def _many(count: int) -> bytes:
    return zip_of([(f"m{i}", b"") for i in range(count)])


def _lying_count() -> bytes:
    """17 entries whose end record claims 3 (zipfile walks the directory, not the count)."""
    data = bytearray(_many(17))
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, at + 8, 3, 3)
    return bytes(data)


def _zip64() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("flow.json"), b"{}")
        archive.writestr(zipfile.ZipInfo("package.json"), b"{}")
    data = bytearray(buffer.getvalue())
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<I", data, at + 16, 0xFFFFFFFF)  # "see the ZIP64 record"
    return bytes(data)


# name -> (archive builder, error class, code, text the message must carry)
HOSTILE: dict[str, tuple[Callable[[], bytes], type[DomainError], str, str]] = {
    "not a zip": (lambda: b"this is not an archive", InvalidInput, "invalid_archive", "zip"),
    "empty body": (lambda: b"", InvalidInput, "invalid_archive", "zip"),
    "absolute name": (lambda: _with_member("/etc/cron.d/x", b"x"), InvalidInput,
                      "archive_unsafe", "absolute"),
    "drive letter": (lambda: _with_member("C:evil", b"x"), InvalidInput, "archive_unsafe",
                     "absolute"),
    "dot-dot": (lambda: _with_member("../../flow.json", b"x"), InvalidInput, "archive_unsafe",
                "'..'"),
    "inner dot-dot": (lambda: _with_member("docs/../README.md", b"x"), InvalidInput,
                      "archive_unsafe", "'..'"),
    "backslash": (lambda: _with_member("..\\..\\evil.bat", b"x"), InvalidInput,
                  "archive_unsafe", "backslash"),
    "control character": (lambda: _with_member("READ\nME.md", b"x"), InvalidInput,
                          "archive_unsafe", "control"),
    "symlink": (_symlink, InvalidInput, "archive_unsafe", "symbolic link"),
    "windows link": (_reparse_point, InvalidInput, "archive_unsafe", "reparse point"),
    "directory": (lambda: _with_member(entry("flow.json/", mode=stat.S_IFDIR | 0o755), b""),
                  InvalidInput, "archive_unsafe", "directory"),
    "fifo": (lambda: _with_member(entry("README.md", mode=stat.S_IFIFO | 0o644), b""),
             InvalidInput, "archive_unsafe", "not a regular file"),
    "duplicate": (lambda: _with_member("flow.json", b"{}"), InvalidInput, "archive_unsafe",
                  "twice"),
    "unknown member": (lambda: _with_member("install.sh", b"rm -rf /"), InvalidInput,
                       "archive_unsafe", "unknown member"),
    "17 members": (lambda: _many(17), InvalidInput, "archive_unsafe", "17 members"),
    "5,000 members": (lambda: _many(5_000), InvalidInput, "archive_unsafe", "5000 members"),
    "17 members, 3 declared": (_lying_count, InvalidInput, "archive_unsafe",
                               "more than 16 members"),
    "zip64": (_zip64, InvalidInput, "invalid_archive", "ZIP64"),
    "member over 8 MiB": (lambda: _with_member("README.md", bytes(8 * MiB + 1)), TooLarge,
                          "archive_too_large", "8388609 bytes uncompressed"),
    "zip bomb ratio": (lambda: _with_member("README.md", bytes(MiB)), TooLarge,
                       "archive_too_large", "more than 100 times"),
    "archive over 8 MiB": (_big_random_archive, TooLarge, "archive_too_large",
                           "the limit is 8388608"),
    "lying size": (_lying_size, InvalidInput, "invalid_archive", "README.md"),
    "encrypted": (lambda: _flag_encrypted(package_archive()), InvalidInput, "invalid_archive",
                  "encrypted"),
    "bzip2": (_bzip2, InvalidInput, "invalid_archive", "compression method 12"),
    "tampered member": (_tampered, InvalidInput, "package_integrity",
                        "flow.json does not match"),
    "unlisted member": (_unlisted_readme, InvalidInput, "package_integrity",
                        "README.md is not listed"),
    "listed member missing": (_missing_listed, InvalidInput, "package_integrity",
                              "lists README.md"),
    "no package.json": (lambda: zip_of(flow_members().items()), InvalidInput,
                        "invalid_package", "no package.json"),
    "package.json not JSON": (lambda: zip_of([("package.json", b"{"),
                                              *flow_members().items()]),
                              InvalidInput, "invalid_package", "package.json is not valid JSON"),
    "no flow.json": (lambda: package_archive({"README.md": b"hi"}), InvalidInput,
                     "invalid_package", "no flow.json"),
    "flow.json not JSON": (lambda: _flow(b"nodes: []"), InvalidInput, "invalid_package",
                           "flow.json is not valid JSON"),
    "flow.json an array": (lambda: _flow([1, 2]), InvalidInput, "invalid_package",
                           "JSON object"),
    "flow.json too deep": (lambda: _flow({"name": "x", "deep": json.loads("[" * 70 + "]" * 70)}),
                           InvalidInput, "invalid_package", "deeper than 64"),
    "flow does not compile": (_uncompilable, InvalidInput, "compile_error", "does not compile"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_a_hostile_archive_is_refused_with_nothing_stored(
        box: CatalogBox, tmp_path: Path, case: str) -> None:
    build, error, code, text = HOSTILE[case]
    data = build()
    files_before = _files(tmp_path)
    cwd_before = set(os.listdir())
    with pytest.raises(error) as caught:
        await box.catalog.import_package(ALICE, data)
    assert caught.value.code == code, caught.value.message
    assert text in caught.value.message, caught.value.message
    assert box.counts() == {"catalog_packages": 0, "catalog_package_groups": 0,
                            "catalog_versions": 0, "audit": 0}
    assert _files(tmp_path) == files_before and set(os.listdir()) == cwd_before


def _files(root: Path) -> set[str]:
    """Every path under root except the database's own files (their sizes change)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if "scaiflow.db" not in p.name}


@pytest.mark.parametrize(("fields", "loc", "kind", "text"), [
    ({"flowgraph_schema_version": 3}, "flowgraph_schema_version", "schema_too_new",
     "FlowGraph schema version 3 is newer than this appliance reads (2)"),
    ({"format_version": 2}, "format_version", "format_too_new",
     "package format 2 is newer than this appliance reads (1)"),
    ({"package_id": "Not A Slug"}, "package_id", "string_pattern_mismatch", ""),
    ({"version": "1.0"}, "version", "string_pattern_mismatch", ""),
    ({"author_id": "usr/../x"}, "author_id", "value_error", ""),
    ({"format": "zip"}, "format", "literal_error", ""),
    ({"members": []}, "members", "dict_type", ""),
])
async def test_package_json_fields_are_422_in_the_list_shape(
        box: CatalogBox, fields: dict[str, Any], loc: str, kind: str, text: str) -> None:
    with pytest.raises(InvalidFields) as caught:
        await box.catalog.import_package(ALICE, package_archive(**fields))
    [item] = caught.value.items
    assert item["loc"][:3] == ["body", "package.json", loc] and item["type"] == kind
    assert text in item["msg"]
    assert box.counts()["catalog_packages"] == 0


async def test_an_invalid_flowgraph_is_422_naming_flow_json(box: CatalogBox) -> None:
    flow = load_example("hello-world")
    flow["nodes"][0]["position"] = "top left"
    with pytest.raises(InvalidFields) as caught:
        await box.catalog.import_package(ALICE, _flow(flow))
    assert caught.value.items[0]["loc"][:5] == ["body", "flow.json", "nodes", 0, "position"]
    assert box.counts()["catalog_packages"] == 0


async def test_another_tools_archive_is_repacked_with_a_regenerated_manifest(
        box: CatalogBox) -> None:
    members = flow_members(readme="# From elsewhere\n")
    members["manifest.yaml"] = b"core: {name: not-what-flow-json-compiles-to}\n"
    imported = await box.catalog.import_package(ALICE, package_archive(members),
                                                request_id="req_imp")
    assert imported.created and imported.version == "0.1.0"
    assert imported.package["author_id"] == "usr_alice"  # the caller, not package.json's
    assert imported.package["tenant_id"] == "tnt_a"
    assert (imported.package["name"], imported.package["description"]) == ("Hello",
                                                                           "says hello")
    [row] = box.sql("SELECT scaipkg, source, readme FROM catalog_versions")
    parts = read_package(bytes(row["scaipkg"]))
    archive = zipfile.ZipFile(io.BytesIO(row["scaipkg"]))
    assert archive.read("manifest.yaml").startswith(b"core:\n  name: hello-world")
    assert parts.meta.author_id == "usr_alice" and parts.meta.tenant_id == "tnt_a"
    assert parts.content["nodes"] == json.loads(members["flow.json"])["nodes"]
    assert (row["source"], row["readme"]) == ("import", "# From elsewhere\n")
    [audit] = box.sql("SELECT action, actor, details, request_id FROM audit_log")
    assert (audit["action"], audit["actor"], audit["request_id"]) == (
        "package.imported", "usr_alice", "req_imp")
    assert json.loads(audit["details"])["source_tenant_id"] == "tnt_elsewhere"
    # a manifest is optional: it is never read
    no_manifest = {k: v for k, v in members.items() if k != "manifest.yaml"}
    again = await box.catalog.import_package(ALICE, package_archive(no_manifest, version="0.2.0"))
    assert again.version == "0.2.0"


async def test_import_twice_changes_nothing_and_a_changed_version_is_bumped(
        box: CatalogBox) -> None:
    await box.catalog.publish(ALICE, package_id="hello", name="Hello",
                              content=load_example("hello-world"))
    exported = await box.catalog.download(ALICE, "hello", "0.1.0")
    same = await box.catalog.import_package(ALICE, exported.data)
    assert (same.created, same.version) == (False, "0.1.0")
    assert box.counts() == {"catalog_packages": 1, "catalog_package_groups": 0,
                            "catalog_versions": 1, "audit": 1}
    changed = load_example("hello-world")
    changed["nodes"][1]["label"] = "Other"
    other = await box.catalog.import_package(ALICE, _flow(changed))  # version 0.1.0 too
    assert (other.created, other.version) == (True, "0.1.1")
    assert box.counts()["catalog_versions"] == 2


async def test_importing_a_deleted_packages_file_restores_it(box: CatalogBox) -> None:
    await box.catalog.publish(ALICE, package_id="hello", name="Hello",
                              content=load_example("hello-world"))
    exported = await box.catalog.download(ALICE, "hello", "0.1.0")
    await box.catalog.delete(ALICE, "hello")
    back = await box.catalog.import_package(ALICE, exported.data)
    assert (back.created, back.version, back.package["version"]) == (True, "0.1.1", "0.1.1")
    assert (await box.catalog.detail(ALICE, "hello"))["versions"][1]["sha256"] == \
        exported.sha256


async def test_import_over_someone_elses_package_is_refused(box: CatalogBox) -> None:
    await box.catalog.publish(ALICE, package_id="hello", name="Hello",
                              content=load_example("hello-world"))
    before = box.counts()
    with pytest.raises(Forbidden):
        await box.catalog.import_package(principal("usr_mallory"), package_archive())
    assert box.counts() == before
    admin = await box.catalog.import_package(principal("usr_adm", role="tenant_admin"),
                                             package_archive(version="3.0.0"))
    assert admin.package["author_id"] == "usr_alice" and admin.version == "3.0.0"


async def test_moving_a_package_between_boxes(box: CatalogBox, other_box: CatalogBox) -> None:
    """Box A → file → box B, by the API on both sides. Same tenant and author there: the
    very same bytes; another tenant: the same flow, re-stamped."""
    await box.catalog.publish(ALICE, package_id="support", name="Support",
                              content=load_example("customer-support"), readme="# Support\n")
    exported = await box.catalog.download(ALICE, "support", "0.1.0")
    moved = await other_box.catalog.import_package(ALICE, exported.data)
    there = await other_box.catalog.download(ALICE, "support", moved.version)
    assert there.data == exported.data and there.sha256 == exported.sha256
    elsewhere = await other_box.catalog.import_package(BOB, exported.data)
    theirs = await other_box.catalog.download(BOB, "support", elsewhere.version)
    assert theirs.sha256 != exported.sha256
    assert read_package(theirs.data).content == read_package(exported.data).content
    installed = await other_box.catalog.install(BOB, "support", save=True)
    assert installed.flow is not None and orjson.loads(installed.flow.body)["tenant_id"] == "tnt_b"


async def test_an_import_at_the_limits_is_accepted(box: CatalogBox) -> None:
    """Another tool's package with members at their 8 MiB limit (deflated under 8 MiB)."""
    members = flow_members(readme=None)
    flow = json.loads(members["flow.json"])
    flow["metadata"] = {"notes": _dna(4 * MiB, 1).decode()}
    members["flow.json"] = json.dumps(flow).encode()
    members["README.md"] = _dna(8 * MiB, 2)
    data = package_archive(members)
    assert len(data) < 8 * MiB
    with pytest.raises(TooLarge) as caught:  # the box's own package is stored uncompressed
        await box.catalog.import_package(ALICE, data)
    assert "a .scaipkg may hold at most 8388608 bytes" in caught.value.message
    members["README.md"] = b"# small\n"
    flow["metadata"] = {"notes": _dna(3 * MiB, 3).decode()}
    members["flow.json"] = json.dumps(flow).encode()
    imported = await box.catalog.import_package(ALICE, package_archive(members))
    assert imported.created
    [row] = box.sql("SELECT size_bytes FROM catalog_versions")
    assert 6 * MiB < row[0] <= 8 * MiB


@pytest.mark.sqlite_only(
    "SQLite's backup API (MariaDB is backed up with mariadb-dump or mariabackup)")
async def test_backup_and_restore_keep_the_catalog(box: CatalogBox, tmp_path: Path) -> None:
    await box.catalog.publish(ALICE, package_id="hello", name="Hello",
                              content=load_example("hello-world"), readme="# R")
    before = await box.catalog.download(ALICE, "hello", "0.1.0")
    target = tmp_path / "backup.db"
    await box.db.write(lambda conn: None)
    box.db.backup_to(target)
    restored = open_box(target)
    try:
        file = await restored.catalog.download(ALICE, "hello", "0.1.0")
        assert (file.data, file.sha256) == (before.data, before.sha256)
        detail = await restored.catalog.detail(ALICE, "hello")
        assert detail["readme"] == "# R"
        assert hashlib.sha256(file.data).hexdigest() == detail["versions"][0]["sha256"]
    finally:
        restored.db.close()
    assert isinstance(restored.db, Database)
