"""`POST /api/v1/catalog/import` (SPEC §14): the raw `.scaipkg` as `application/zip`, read with
the rules of every body (content type, encoding, 8 MiB, time) and then the importer's checks;
a package moved from one appliance to another keeps its bytes; the same file twice answers
200 and stores nothing. Every refusal is its documented status and code, nothing stored
(the importer's cases one by one are in tests/services/test_catalog_import.py)."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from tests.api.catalog_helpers import (
    CATALOG,
    IMPORT,
    ZIP,
    audit_rows,
    catalog_state,
    download,
    package_url,
    publish,
)
from tests.conftest import AppFactory, Appliance
from tests.packages.builders import flow_members, package_archive, package_json, zip_of

MiB = 1024 * 1024


async def _import(app: Appliance, headers: dict[str, str], data: bytes, status: int,
                  **extra: str) -> Any:
    resp = await app.client.post(IMPORT, headers={**headers, **ZIP, **extra}, data=data)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_a_package_moves_between_two_appliances(make_appliance: AppFactory) -> None:
    box_a = await make_appliance()
    box_b = await make_appliance()
    alice_a = await box_a.headers("usr_alice")
    await publish(box_a, alice_a, description="says hello", readme="# Hello\n")
    data = await download(box_a, alice_a, "hello", "0.1.0")
    [source] = box_a.sql("SELECT sha256 FROM catalog_versions")

    alice_b = await box_b.headers("usr_alice")
    package = await _import(box_b, {**alice_b, "X-Request-ID": "req-import-1"}, data, 201)
    assert {k: package[k] for k in ("package_id", "name", "description", "version",
                                    "author_id", "tenant_id", "visibility")} == {
        "package_id": "hello", "name": "Hello", "description": "says hello",
        "version": "0.1.0", "author_id": "usr_alice", "tenant_id": "tnt_a",
        "visibility": "tenant"}
    # The same tenant, author and scaiflow-box version: the very bytes box A stored.
    [stored] = box_b.sql("SELECT sha256, source, readme, published_by FROM catalog_versions")
    assert tuple(stored) == (source["sha256"], "import", "# Hello\n", "usr_alice")
    assert await download(box_b, alice_b, "hello", "0.1.0") == data
    [imported] = audit_rows(box_b, "package.imported")
    assert (imported["actor"], imported["tenant_id"], imported["request_id"]) == (
        "usr_alice", "tnt_a", "req-import-1")
    details = json.loads(imported["details"])
    assert details == {"version": "0.1.0", "sha256": source["sha256"],
                       "size_bytes": len(data), "via": "api", "source_version": "0.1.0",
                       "source_tenant_id": "tnt_a", "source_author_id": "usr_alice"}

    # The same file again: 200, the package as it is, nothing stored or audited.
    before = catalog_state(box_b)
    again = await _import(box_b, alice_b, data, 200)
    assert again == (await (await box_b.client.get(CATALOG, headers=alice_b)).json())[0]
    assert catalog_state(box_b) == before

    # Gzip-compressed on the way (Content-Encoding), the same answer.
    assert await _import(box_b, alice_b, gzip.compress(data), 200,
                         **{"Content-Encoding": "gzip"}) == again

    # Other bytes under the same version: stored as the next free patch.
    await publish(box_a, alice_a, name="Hello, changed", version="0.1.0")  # 0.1.1 on box A
    changed = await download(box_a, alice_a, "hello", "0.1.1")
    moved = await _import(box_b, alice_b, changed, 201)
    assert (moved["version"], moved["name"]) == ("0.1.1", "Hello, changed")


async def test_a_new_package_is_authored_by_the_importer(make_appliance: AppFactory) -> None:
    app = await make_appliance()
    bob = await app.headers("usr_bob", "tnt_b")
    data = package_archive(author_id="usr_maker", tenant_id="tnt_elsewhere")
    package = await _import(app, bob, data, 201)
    assert (package["author_id"], package["tenant_id"]) == ("usr_bob", "tnt_b")
    [row] = app.sql("SELECT tenant_id, author_id FROM catalog_packages")
    assert tuple(row) == ("tnt_b", "usr_bob")
    detail = await (await app.client.get(package_url("hello"), headers=bob)).json()
    assert detail["readme"] == "# Hello\n" and len(detail["versions"]) == 1


def _tampered() -> bytes:
    """README.md changed after package.json listed it."""
    members = flow_members()
    return zip_of([("package.json", package_json(members)),
                   *{**members, "README.md": b"# Changed\n"}.items()])


def _reserved() -> bytes:
    members = flow_members(package_id="import")
    return package_archive(members, package_id="import")


REFUSALS: dict[str, tuple[Any, int, Any]] = {
    # name: (body or a builder, status, the code or the 422 item's (loc, type))
    "not a zip": (b"this is not a zip archive", 400, "invalid_archive"),
    "unsafe name": (lambda: zip_of([("../evil", b"x"), *flow_members().items()]), 400,
                    "archive_unsafe"),
    "no flow.json": (lambda: package_archive({"README.md": b"hi"}), 400, "invalid_package"),
    "tampered": (_tampered, 400, "package_integrity"),
    "zip bomb": (lambda: package_archive({**flow_members(), "README.md": bytes(MiB)}), 413,
                 "archive_too_large"),
    "schema too new": (lambda: package_archive(flowgraph_schema_version=3), 422,
                       (["body", "package.json", "flowgraph_schema_version"], "schema_too_new")),
    "format too new": (lambda: package_archive(format_version=2), 422,
                       (["body", "package.json", "format_version"], "format_too_new")),
    "reserved id": (_reserved, 422, (["body", "package.json", "package_id"], "value_error")),
    "empty": (b"", 422, (["body"], "missing")),
    "over 8 MiB": (bytes(8 * MiB + 1), 413, "payload_too_large"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_a_refused_import_stores_nothing(appliance: Appliance, case: str) -> None:
    alice = await appliance.headers("usr_alice")
    body, status, expected = REFUSALS[case]
    data = body() if callable(body) else body
    before = catalog_state(appliance)
    answer = await _import(appliance, alice, data, status)
    if isinstance(expected, str):
        assert answer["detail"]["error"] == expected, answer
    else:
        [item] = answer["detail"]
        assert (item["loc"], item["type"]) == expected, answer
    assert catalog_state(appliance) == before


async def test_only_a_zip_body_is_read(appliance: Appliance) -> None:
    alice = await appliance.headers("usr_alice")
    data = package_archive()
    before = catalog_state(appliance)
    for content_type in ("application/json", "application/octet-stream", "text/plain", None):
        headers = {**alice, **({"Content-Type": content_type} if content_type else {})}
        resp = await appliance.client.post(IMPORT, headers=headers, data=data)
        assert resp.status == 415, content_type
        assert await resp.json() == {"detail": {
            "error": "unsupported_media_type",
            "message": "request body must be `application/zip` bytes "
                       "(Content-Type: application/zip)"}}
    resp = await appliance.client.post(IMPORT, headers={**alice, **ZIP,
                                                        "Content-Encoding": "br"}, data=data)
    assert resp.status == 415
    assert (await resp.json())["detail"]["error"] == "unsupported_content_encoding"
    resp = await appliance.client.post(IMPORT + "?overwrite=1", headers={**alice, **ZIP},
                                       data=data)
    assert resp.status == 422
    assert catalog_state(appliance) == before
    # A compile error carries the compiler's errors, as publish does.
    broken = flow_members()
    flow = json.loads(broken["flow.json"])
    flow["edges"][0]["source"]["port"] = "out_typo"
    broken["flow.json"] = json.dumps(flow).encode()
    answer = await _import(appliance, alice, package_archive(broken), 400)
    assert answer["detail"]["error"] == "compile_error" and answer["detail"]["errors"]
    assert catalog_state(appliance) == before
