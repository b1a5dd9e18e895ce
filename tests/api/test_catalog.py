"""The catalog's routes (SPEC §14) on a served appliance: publish (inline content or a stored
flow), the list with its `Link` paging, the detail, download, install (content, or saved as a
flow), visibility and delete, each answer checked against the stored rows and audit."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from typing import Any

from tests.api.catalog_helpers import (
    CATALOG,
    PUBLISH,
    audit_rows,
    catalog_state,
    download,
    download_url,
    package_url,
    publish,
)
from tests.conftest import Appliance, hello_content
from tests.packages.builders import load_example

FLOWS = "/api/v1/flows"


async def test_a_package_from_publish_to_delete(appliance: Appliance) -> None:
    alice = await appliance.headers("usr_alice")
    bob = await appliance.headers("usr_bob")
    await appliance.group("grp_support", "tnt_a", ["usr_bob"])

    # Publish: 201 CatalogPackage, one version stored under the documented path, audited.
    resp = await appliance.client.post(PUBLISH, headers={**alice, "X-Request-ID": "req-pub-1"},
                                       json={"package_id": "hello", "name": "Hello",
                                             "description": "says hello",
                                             "readme": "# Hello\n",
                                             "content": load_example("hello-world")})
    assert resp.status == 201, await resp.text()
    package = await resp.json()
    assert package == {
        "package_id": "hello", "name": "Hello", "description": "says hello",
        "version": "0.1.0", "author_id": "usr_alice", "author_email": None,
        "visibility": "tenant", "visibility_group_ids": [], "tenant_id": "tnt_a",
        "created_at": package["created_at"], "updated_at": package["created_at"],
        "size_bytes": package["size_bytes"]}
    [row] = appliance.sql("SELECT * FROM catalog_versions")
    assert row["storage_key"] == "catalog/tnt_a/hello/v0.1.0.scaipkg"
    assert row["sha256"] == hashlib.sha256(row["scaipkg"]).hexdigest()
    assert package["size_bytes"] == row["size_bytes"] == len(row["scaipkg"])
    [published] = audit_rows(appliance, "package.published")
    assert (published["actor"], published["tenant_id"], published["target_id"],
            published["request_id"]) == ("usr_alice", "tnt_a", "hello", "req-pub-1")
    assert json.loads(published["details"]) == {"version": "0.1.0", "sha256": row["sha256"],
                                                "size_bytes": row["size_bytes"]}

    # List (a bare array) and detail, as another member of the tenant sees them.
    resp = await appliance.client.get(CATALOG, headers=bob)
    assert resp.status == 200 and "Link" not in resp.headers
    assert await resp.json() == [package]
    resp = await appliance.client.get(package_url("hello"), headers=bob)
    assert resp.status == 200
    assert await resp.json() == {**package, "readme": "# Hello\n", "versions": [
        {"version": "0.1.0", "sha256": row["sha256"], "size_bytes": row["size_bytes"],
         "created_at": row["created_at"]}]}

    # Download: the stored bytes, unchanged, as an attachment; HEAD answers the same headers.
    resp = await appliance.client.get(download_url("hello", "0.1.0"), headers=bob)
    assert resp.status == 200 and resp.content_type == "application/zip"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="hello-0.1.0.scaipkg"'
    data = await resp.read()
    assert data == row["scaipkg"]
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == [
        "package.json", "flow.json", "manifest.yaml", "README.md"]
    resp = await appliance.client.head(download_url("hello", "0.1.0"), headers=bob)
    assert resp.status == 200 and resp.headers["Content-Length"] == str(len(data))
    resp = await appliance.client.get(download_url("hello", "0.2.0"), headers=bob)
    assert (resp.status, await resp.json()) == (404, {"detail": "Version not found"})

    # Install without save: the content with a fresh flow id, nothing stored.
    resp = await appliance.client.post(package_url("hello", "/install"), headers=bob, json={})
    assert resp.status == 200, await resp.text()
    content = (await resp.json())["content"]
    assert content["id"].startswith("flow_") and content["version"] == "1.0.0"
    source = load_example("hello-world")
    assert [n["id"] for n in content["nodes"]] == [n["id"] for n in source["nodes"]]
    assert [e["id"] for e in content["edges"]] == [e["id"] for e in source["edges"]]
    assert appliance.sql("SELECT count(*) FROM flows")[0][0] == 0

    # Install with save: 201 FlowDetail (with its ETag), owned by the caller, audited twice.
    resp = await appliance.client.post(package_url("hello", "/install"), headers=bob,
                                       json={"save": True, "name": "Bob's hello"})
    assert resp.status == 201, await resp.text()
    flow = await resp.json()
    assert resp.headers["ETag"] == '"1.0.0"'
    assert (flow["name"], flow["description"], flow["owner_id"], flow["version"]) == (
        "Bob's hello", "says hello", "usr_bob", "1.0.0")
    assert flow["content"]["id"] == flow["id"] and flow["content"]["name"] == "Bob's hello"
    [stored] = appliance.sql("SELECT owner_id, tenant_id, name FROM flows WHERE id = ?",
                             flow["id"])
    assert tuple(stored) == ("usr_bob", "tnt_a", "Bob's hello")
    [installed] = audit_rows(appliance, "package.installed")
    assert (installed["actor"], installed["target_id"]) == ("usr_bob", "hello")
    assert json.loads(installed["details"]) == {"package_tenant_id": "tnt_a",
                                                "version": "0.1.0", "flow_id": flow["id"],
                                                "sha256": row["sha256"]}
    assert [r["target_id"] for r in audit_rows(appliance, "flow.created")] == [flow["id"]]

    # Visibility: groups only; the author keeps seeing it, a member of the group too.
    carol = await appliance.headers("usr_carol")
    resp = await appliance.client.put(package_url("hello", "/visibility"), headers=alice,
                                      json={"visibility": "groups",
                                            "visibility_group_ids": ["grp_support"]})
    assert resp.status == 200, await resp.text()
    changed = await resp.json()
    assert (changed["visibility"], changed["visibility_group_ids"]) == ("groups",
                                                                        ["grp_support"])
    assert [tuple(r) for r in appliance.sql("SELECT * FROM catalog_package_groups")] == [
        ("tnt_a", "hello", "grp_support")]
    [visibility] = audit_rows(appliance, "package.visibility_changed")
    assert json.loads(visibility["details"])["before"] == {"visibility": "tenant",
                                                          "visibility_group_ids": []}
    assert (await appliance.client.get(package_url("hello"), headers=bob)).status == 200
    resp = await appliance.client.get(package_url("hello"), headers=carol)
    assert (resp.status, await resp.json()) == (404, {"detail": "Package not found"})
    assert await (await appliance.client.get(CATALOG, headers=carol)).json() == []

    # Delete: 204, soft; gone from every read, the versions kept.
    resp = await appliance.client.delete(package_url("hello"), headers=alice)
    assert resp.status == 204
    [gone] = appliance.sql("SELECT deleted_at FROM catalog_packages")
    assert gone["deleted_at"] is not None
    assert appliance.sql("SELECT count(*) FROM catalog_versions")[0][0] == 1
    [deleted] = audit_rows(appliance, "package.deleted")
    assert json.loads(deleted["details"]) == {"version": "0.1.0"}
    for url in (package_url("hello"), download_url("hello", "0.1.0")):
        resp = await appliance.client.get(url, headers=alice)
        assert (resp.status, await resp.json()) == (404, {"detail": "Package not found"})
    assert await (await appliance.client.get(CATALOG, headers=alice)).json() == []


async def test_publish_from_a_stored_flow_needs_its_deploy_level(appliance: Appliance) -> None:
    owner = await appliance.headers("usr_owner")
    viewer = await appliance.headers("usr_viewer")
    deployer = await appliance.headers("usr_deployer")
    stranger = await appliance.headers("usr_stranger")
    resp = await appliance.client.post(FLOWS, headers=owner,
                                       json={"name": "Hello", "content": hello_content()})
    flow = await resp.json()
    for who, level in (("usr_viewer", "edit"), ("usr_deployer", "deploy")):
        resp = await appliance.client.post(f"{FLOWS}/{flow['id']}/acls", headers=owner, json={
            "principal_type": "user", "principal_id": who, "level": level})
        assert resp.status == 201
    before = catalog_state(appliance)
    refused = await publish(appliance, viewer, status=403, flow_id=flow["id"])
    assert refused["detail"]["error"] == "forbidden"
    unseen = await publish(appliance, stranger, status=404, flow_id=flow["id"])
    assert unseen == {"detail": "Flow not found"}
    assert catalog_state(appliance) == before

    # The flow's current version, twice: the second publish takes the next patch.
    first = await publish(appliance, deployer, flow_id=flow["id"], package_id="greeter")
    changed = hello_content("Hello again")
    resp = await appliance.client.put(f"{FLOWS}/{flow['id']}", headers=owner,
                                      json={"content": changed})
    assert resp.status == 200
    second = await publish(appliance, deployer, flow_id=flow["id"], package_id="greeter")
    assert (first["version"], second["version"]) == ("0.1.0", "0.1.1")
    assert second["author_id"] == "usr_deployer"
    sources = [json.loads(r["details"]) for r in audit_rows(appliance, "package.published")]
    assert [(s["source_flow_id"], s["source_flow_version"]) for s in sources] == [
        (flow["id"], "1.0.0"), (flow["id"], "1.0.1")]
    rows = appliance.sql("SELECT version, source_flow_version FROM catalog_versions "
                         "ORDER BY version")
    assert [tuple(r) for r in rows] == [("0.1.0", "1.0.0"), ("0.1.1", "1.0.1")]
    data = await download(appliance, deployer, "greeter", "0.1.1")
    packed = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("flow.json"))
    assert (packed["id"], packed["version"], packed["name"]) == ("greeter", "0.1.1",
                                                                 "Hello again")


async def test_refused_publishes_store_nothing(appliance: Appliance) -> None:
    alice = await appliance.headers("usr_alice")
    broken = load_example("hello-world")
    broken["edges"][0]["source"]["port"] = "out_typo"  # the compiler refuses it
    before = catalog_state(appliance)
    cases: list[tuple[dict[str, Any], int, Any]] = [
        ({"package_id": "x", "name": "X"}, 400, "invalid_publish"),
        ({"package_id": "x", "name": "X", "flow_id": "flow_x", "content": hello_content()},
         400, "invalid_publish"),
        ({"package_id": "x", "name": "X", "content": broken}, 400, "compile_error"),
        ({"package_id": "X!", "name": "X", "content": hello_content()}, 422,
         ["body", "package_id"]),
        ({"package_id": "publish", "name": "X", "content": hello_content()}, 422,
         ["body", "package_id"]),
        ({"package_id": "x", "name": " ", "content": hello_content()}, 422, ["body", "name"]),
        ({"package_id": "x", "name": "X", "version": "1.0", "content": hello_content()}, 422,
         ["body", "version"]),
        ({"package_id": "x", "name": "X", "content": {"nodes": "no"}}, 422, None),
        ({"package_id": "x", "name": "X", "content": hello_content(), "tenant_id": "tnt_b"},
         422, ["body", "tenant_id"]),
    ]
    for body, status, expected in cases:
        resp = await appliance.client.post(PUBLISH, headers=alice, json=body)
        answer = await resp.json()
        assert resp.status == status, (body, answer)
        if status == 400:
            assert answer["detail"]["error"] == expected
        elif expected is not None:
            assert [item["loc"] for item in answer["detail"]] == [expected], answer
    resp = await appliance.client.post(PUBLISH, headers=alice, json={
        "package_id": "x", "name": "X", "content": broken})
    errors = (await resp.json())["detail"]["errors"]
    assert errors and all(e["severity"] == "error" for e in errors)
    assert catalog_state(appliance) == before


async def test_the_list_pages_through_link_headers(appliance: Appliance) -> None:
    alice = await appliance.headers("usr_alice")
    for i in range(5):
        await publish(appliance, alice, package_id=f"pkg-{i}", name=f"Package {i}")
    await publish(appliance, alice, package_id="other", name="Something else")
    seen: list[str] = []
    url: str | None = f"{CATALOG}?limit=2&search=PACKAGE"
    links = []
    while url is not None:
        resp = await appliance.client.get(url, headers=alice)
        assert resp.status == 200, await resp.text()
        seen += [p["package_id"] for p in await resp.json()]
        link = resp.headers.get("Link")
        links.append(link)
        if link is None:
            url = None
            continue
        found = re.fullmatch(r'<(/api/v1/catalog\?[^>]+)>; rel="next"', link)
        assert found, link
        url = found.group(1)
    assert seen == ["pkg-4", "pkg-3", "pkg-2", "pkg-1", "pkg-0"]  # newest first
    assert len(links) == 3 and links[-1] is None
    assert "limit=2" in str(links[0]) and "search=PACKAGE" in str(links[0])
    # A canvas in the browser may read the header (CORS), and a download's file name.
    canvas = {**alice, "Origin": "http://localhost:5173"}
    resp = await appliance.client.get(f"{CATALOG}?limit=2", headers=canvas)
    exposed = {h.strip() for h in resp.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Link", "Content-Disposition", "ETag"} <= exposed and "Link" in resp.headers

    # The cursor is signed and bound to the caller's tenant.
    cursor = re.search(r"cursor=([^&>]+)", str(links[0]))
    assert cursor is not None
    resp = await appliance.client.get(f"{CATALOG}?cursor={cursor.group(1)}x", headers=alice)
    assert resp.status == 400 and (await resp.json())["detail"]["error"] == "invalid_cursor"
    elsewhere = await appliance.headers("usr_bob", "tnt_b")
    resp = await appliance.client.get(f"{CATALOG}?cursor={cursor.group(1)}", headers=elsewhere)
    assert resp.status == 400 and (await resp.json())["detail"]["error"] == "invalid_cursor"
    for query, loc in (("limit=501", "limit"), ("limit=0", "limit"), ("serach=x", "serach"),
                       ("search=" + "x" * 201, "search")):
        resp = await appliance.client.get(f"{CATALOG}?{query}", headers=alice)
        assert resp.status == 422, query
        assert [item["loc"] for item in (await resp.json())["detail"]] == [["query", loc]]
    resp = await appliance.client.get(f"{CATALOG}?search=else", headers=alice)
    assert [p["package_id"] for p in await resp.json()] == ["other"]


async def test_the_document_says_what_the_routes_do(appliance: Appliance) -> None:
    doc = await (await appliance.client.get("/api/v1/openapi.json")).json()
    paths = doc["paths"]
    listing = paths[CATALOG]["get"]["responses"]["200"]
    assert listing["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CatalogPackageList"}
    assert set(listing["headers"]) == {"Link"} and not listing["headers"]["Link"]["required"]
    binary = {"type": "string", "format": "binary", "contentMediaType": "application/zip"}
    download_op = paths[CATALOG + "/{package_id}/versions/{version}/download"]["get"]
    assert download_op["responses"]["200"]["content"] == {"application/zip": {"schema": binary}}
    assert download_op["responses"]["200"]["headers"]["Content-Disposition"]["required"]
    imported = paths[CATALOG + "/import"]["post"]
    assert imported["requestBody"]["content"] == {
        "application/zip": {"schema": {**binary, "minLength": 1}}}
    assert {"200", "201"} <= set(imported["responses"])

    def codes(operation: dict[str, Any], status: str) -> set[str]:
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        refs = [s["$ref"] for s in schema.get("oneOf", [schema])]
        found = set()
        for ref in refs:
            component = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
            detail = component["properties"]["detail"]
            if "$ref" in detail:
                detail = doc["components"]["schemas"][detail["$ref"].rsplit("/", 1)[1]]
                found.add(detail["properties"]["error"]["const"])
            else:
                found.add(component["title"])
        return found

    assert codes(imported, "400") == {"bad_request_body", "invalid_archive", "archive_unsafe",
                                      "invalid_package", "package_integrity", "compile_error"}
    assert codes(imported, "413") == {"payload_too_large", "archive_too_large"}
    assert codes(imported, "403") == {"missing_permission", "forbidden"}
    publish_op = paths[PUBLISH]["post"]
    assert codes(publish_op, "400") == {"bad_request_body", "invalid_publish", "compile_error"}
    assert codes(publish_op, "409") == {"publish_conflict"}
    assert codes(publish_op, "404") == {"PlainError"}
    visibility = paths[CATALOG + "/{package_id}/visibility"]["put"]
    assert codes(visibility, "400") == {"bad_request_body", "invalid_visibility",
                                        "unknown_groups"}
    unknown = doc["components"]["schemas"]["UnknownGroupsDetail"]
    assert "group_ids" in unknown["required"]
    # tenant_id: where a super admin names another tenant's package (the whole catalog).
    named = {f"{method.upper()} {path}" for path, item in paths.items()
             if path.startswith(CATALOG)
             for method, operation in item.items()
             if any(p["name"] == "tenant_id" and p["in"] == "query"
                    for p in operation.get("parameters", ()))}
    assert named == {f"{m} {CATALOG}/{{package_id}}{s}" for m, s in (
        ("GET", ""), ("DELETE", ""), ("GET", "/versions/{version}/download"),
        ("POST", "/install"), ("PUT", "/visibility"))}
    install = paths[CATALOG + "/{package_id}/install"]["post"]["responses"]
    assert install["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InstalledContent"}
    assert install["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FlowDetail"}
    assert "ETag" in install["201"]["headers"]
