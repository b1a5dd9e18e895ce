"""A Python client generated from the served document (openapi-python-client, no network but
the appliance's loopback port) creates, reads, updates and lists a flow; the answers parse into
the generated models, and the SQLite file holds what the client sent."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import time
import typing
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import httpx
import pytest

from tests.contract.served import BOB, OPERATOR, TENANT, ServedAppliance, World, example_content

PACKAGE = "scaiflow_box_client"


@pytest.fixture
def generated(served: ServedAppliance, tmp_path: Path) -> Iterator[ModuleType]:
    """The generated package, importable for the test's duration."""
    config = tmp_path / "generator.json"
    # No post hooks: the default ones run ruff on the output, which is not the point here.
    # openapi-python-client knows `application/octet-stream` as bytes but not
    # `application/zip` (a `.scaipkg`): its `content_type_overrides` says they are read alike.
    config.write_text(json.dumps({"post_hooks": [], "package_name_override": PACKAGE,
                                  "project_name_override": "scaiflow-box-client",
                                  "content_type_overrides": {
                                      "application/zip": "application/octet-stream"}}),
                      "utf-8")
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run(
        [str(generator), "generate", "--url", f"{served.url}/api/v1/openapi.json",
         "--meta", "none", "--config", str(config), "--output-path", str(tmp_path / PACKAGE),
         "--fail-on-warning"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    # --fail-on-warning: every construct of the document was understood.
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_generated_client_creates_reads_updates_and_lists_a_flow(
        served: ServedAppliance, world: World, generated: ModuleType) -> None:
    create_flow = module("api.flows.create_flow")
    get_flow = module("api.flows.get_flow")
    update_flow = module("api.flows.update_flow")
    list_flows = module("api.flows.list_flows")
    models = module("models")
    client = generated.AuthenticatedClient(base_url=served.url, token=world.manager_token,
                                           raise_on_unexpected_status=True)
    name = "Made by the generated client"

    # Create: 201, FlowDetail at 1.0.0 with its ETag; the caller owns it.
    content = example_content()
    created = create_flow.sync_detailed(client=client, body=models.FlowCreate(
        name=name, description="openapi-python-client", content=models.FlowContent.from_dict(
            content)))
    assert created.status_code == HTTPStatus.CREATED
    flow = created.parsed
    assert isinstance(flow, models.FlowDetail)
    assert (flow.name, flow.description, flow.version) == (name, "openapi-python-client",
                                                           "1.0.0")
    assert (flow.owner_id, flow.tenant_id) == (OPERATOR, TENANT)
    assert flow.id.startswith("flow_") and created.headers["ETag"] == '"1.0.0"'
    assert isinstance(flow.content, models.FlowGraph)
    assert (flow.content.id, flow.content.version) == (flow.id, "1.0.0")
    assert [node.id for node in flow.content.nodes] == [n["id"] for n in content["nodes"]]

    # Read: the same representation.
    read = get_flow.sync_detailed(flow.id, client=client)
    assert read.status_code == HTTPStatus.OK
    assert read.parsed.to_dict() == flow.to_dict()
    assert read.headers["ETag"] == '"1.0.0"'

    # Update with the ETag just read: a new patch version. With the stale tag: 412.
    content["nodes"][0]["label"] = "Start here"
    body = models.FlowUpdate(content=models.FlowContent.from_dict(content))
    updated = update_flow.sync_detailed(flow.id, client=client, body=body, if_match='"1.0.0"')
    assert updated.status_code == HTTPStatus.OK
    assert isinstance(updated.parsed, models.FlowDetail)
    assert updated.parsed.version == "1.0.1" and updated.headers["ETag"] == '"1.0.1"'
    assert updated.parsed.content.nodes[0].label == "Start here"
    stale = update_flow.sync_detailed(flow.id, client=client, body=body, if_match='"1.0.0"')
    assert stale.status_code == HTTPStatus.PRECONDITION_FAILED
    assert isinstance(stale.parsed, models.VersionConflictError)
    assert stale.parsed.detail.current_version == "1.0.1"
    assert stale.parsed.detail.current_etag == '"1.0.1"'

    # List: found by name, with the summary fields.
    listed = list_flows.sync_detailed(client=client, search="generated CLIENT", limit=10)
    assert listed.status_code == HTTPStatus.OK
    assert isinstance(listed.parsed, models.FlowList)
    assert listed.parsed.total == 1 and listed.parsed.next_cursor is None
    [summary] = listed.parsed.items
    assert (summary.id, summary.name, summary.version) == (flow.id, name, "1.0.1")

    # Without a token the generated client gets the documented 401 body.
    anonymous = generated.Client(base_url=served.url)
    refused = get_flow.sync_detailed(flow.id, client=anonymous)
    assert refused.status_code == HTTPStatus.UNAUTHORIZED
    assert isinstance(refused.parsed, models.PlainError)
    assert refused.parsed.detail == "Not authenticated"

    # The database holds what the client sent, under the server-owned id and versions.
    [row] = served.sql("SELECT name, description, owner_id, tenant_id, version, deleted_at "
                       "FROM flows WHERE id = ?", flow.id)
    assert tuple(row) == (name, "openapi-python-client", OPERATOR, TENANT, "1.0.1", None)
    versions = served.sql("SELECT version, created_by, content FROM flow_versions "
                          "WHERE flow_id = ? ORDER BY version", flow.id)
    assert [(v["version"], v["created_by"]) for v in versions] == [("1.0.0", OPERATOR),
                                                                   ("1.0.1", OPERATOR)]
    stored = json.loads(versions[1]["content"])
    assert stored == {**content, "id": flow.id, "version": "1.0.1"}
    assert json.loads(versions[0]["content"])["nodes"][0]["label"] == "Start"


def test_generated_client_sends_only_what_it_is_given_and_narrows_errors(
        served: ServedAppliance, world: World, generated: ModuleType) -> None:
    """Optional request fields stay unset (nothing is sent for them), each error parses into
    its code's class with `error` a Literal, and the event stream returns once `max_seconds`
    is over."""
    create_flow = module("api.flows.create_flow")
    update_flow = module("api.flows.update_flow")
    delete_flow = module("api.flows.delete_flow")
    get_flow = module("api.flows.get_flow")
    deploy_flow = module("api.deploy.deploy_flow")
    create_acl = module("api.acls.create_acl")
    event_stream = module("api.scaicore.event_stream")
    models = module("models")
    client = generated.AuthenticatedClient(base_url=served.url, token=world.manager_token,
                                           timeout=httpx.Timeout(10.0))
    viewer = generated.AuthenticatedClient(base_url=served.url, token=world.bob_token,
                                           timeout=httpx.Timeout(10.0))

    # Optional fields: unset means absent from the request.
    content = models.FlowContent.from_dict(example_content())
    create = models.FlowCreate(name="Generated, partial", content=content)
    assert set(create.to_dict()) == {"name", "content"}
    assert models.FlowUpdate(name="Renamed by the client").to_dict() == {
        "name": "Renamed by the client"}
    assert models.DeployRequest(publish_as_model=False).to_dict() == {"publish_as_model": False}
    created = create_flow.sync_detailed(client=client, body=create)
    assert created.status_code == HTTPStatus.CREATED
    flow = created.parsed
    assert isinstance(flow, models.FlowDetail) and flow.description == ""
    renamed = update_flow.sync_detailed(flow.id, client=client,
                                        body=models.FlowUpdate(name="Renamed by the client"),
                                        if_match=created.headers["ETag"])
    assert renamed.status_code == HTTPStatus.OK
    assert isinstance(renamed.parsed, models.FlowDetail)
    assert (renamed.parsed.name, renamed.parsed.version) == ("Renamed by the client", "1.0.0")
    deployed = deploy_flow.sync_detailed(flow.id, client=client,
                                         body=models.DeployRequest(publish_as_model=False))
    assert deployed.status_code == HTTPStatus.CREATED
    assert isinstance(deployed.parsed, models.Deployment)
    assert deployed.parsed.status == models.DeploymentStatus.SUCCEEDED
    assert deployed.parsed.published_slug is None

    # Errors: each code its own class; `error` is typed as its one value.
    def shared() -> list[tuple[Any, ...]]:
        return [tuple(row) for row in served.sql(
            "SELECT description, version FROM flows WHERE id = ? UNION ALL "
            "SELECT id, level FROM flow_acls WHERE flow_id = ?", world.flow_id, world.flow_id)]

    shared_before = shared()
    assert typing.get_type_hints(models.VersionConflictDetail)["error"] == \
        Literal["version_conflict"]
    stale = update_flow.sync_detailed(flow.id, client=client,
                                      body=models.FlowUpdate(description="never stored"),
                                      if_match=created.headers["ETag"])
    assert stale.status_code == HTTPStatus.PRECONDITION_FAILED
    assert isinstance(stale.parsed, models.VersionConflictError)
    assert stale.parsed.detail.current_etag == renamed.headers["ETag"] == '"1.0.0-1"'
    refused = update_flow.sync_detailed(world.flow_id, client=viewer,
                                        body=models.FlowUpdate(description="not mine"))
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert isinstance(refused.parsed, models.ForbiddenError)
    assert refused.parsed.detail.error == "forbidden"
    assert isinstance(refused.parsed.detail.fix, str | module("types").Unset)
    exists = create_acl.sync_detailed(world.flow_id, client=client, body=models.AclCreate(
        principal_type=models.AclCreatePrincipalType.USER, principal_id=BOB,
        level=models.AclCreateLevel.VIEW))
    assert exists.status_code == HTTPStatus.CONFLICT
    assert isinstance(exists.parsed, models.AclExistsError)

    # The event stream ends after max_seconds (bounded: 3600 at most).
    started = time.monotonic()
    streamed = event_stream.sync_detailed(client=client, max_seconds=0.5)
    assert streamed.status_code == HTTPStatus.OK and time.monotonic() - started < 8
    assert b": connected" in streamed.content
    too_long = event_stream.sync_detailed(client=client, max_seconds=3601)
    assert too_long.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert isinstance(too_long.parsed, models.ValidationError)

    deleted = delete_flow.sync_detailed(flow.id, client=client,
                                        if_match=renamed.headers["ETag"])
    assert deleted.status_code == HTTPStatus.NO_CONTENT
    gone = get_flow.sync_detailed(flow.id, client=client)
    assert isinstance(gone.parsed, models.PlainError) and gone.parsed.detail == "Flow not found"

    # Stored: renamed, described as the server's default, deployed, deleted; the stale and
    # refused writes changed nothing.
    [row] = served.sql("SELECT name, description, version, deleted_at FROM flows WHERE id = ?",
                       flow.id)
    assert (row["name"], row["description"], row["version"]) == ("Renamed by the client", "",
                                                                 "1.0.0")
    assert row["deleted_at"] is not None
    [deployment] = served.sql("SELECT status, published_slug FROM deployments "
                              "WHERE flow_id = ?", flow.id)
    assert tuple(deployment) == ("succeeded", None)
    assert shared() == shared_before


def test_generated_client_publishes_downloads_installs_and_imports(
        served: ServedAppliance, world: World, generated: ModuleType) -> None:
    """The catalog through the generated client: publish (inline content, then a stored flow),
    list, detail, download as bytes, install, and import the downloaded file (`File` body,
    `application/zip`) into another tenant (201) and into its own (200, nothing stored)."""
    create_flow = module("api.flows.create_flow")
    publish_package = module("api.catalog.publish_package")
    list_packages = module("api.catalog.list_packages")
    get_package = module("api.catalog.get_package")
    download_package = module("api.catalog.download_package")
    install_package = module("api.catalog.install_package")
    import_package = module("api.catalog.import_package")
    models = module("models")
    types = module("types")
    client = generated.AuthenticatedClient(base_url=served.url, token=world.manager_token,
                                           timeout=httpx.Timeout(10.0))

    # Publish inline content: only the fields given are sent.
    body = models.PublishRequest(package_id="generated-client", name="Generated",
                                 readme="# Generated\n",
                                 content=models.FlowContent.from_dict(example_content()))
    assert set(body.to_dict()) == {"package_id", "name", "readme", "content"}
    published = publish_package.sync_detailed(client=client, body=body)
    assert published.status_code == HTTPStatus.CREATED
    package = published.parsed
    assert isinstance(package, models.CatalogPackage)
    assert (package.package_id, package.version, package.author_id, package.tenant_id,
            package.visibility) == ("generated-client", "0.1.0", OPERATOR, TENANT,
                                    models.CatalogPackageVisibility.TENANT)

    # Publish a stored flow: the next patch.
    created = create_flow.sync_detailed(client=client, body=models.FlowCreate(
        name="Generated, to publish", content=models.FlowContent.from_dict(example_content())))
    assert isinstance(created.parsed, models.FlowDetail)
    again = publish_package.sync_detailed(client=client, body=models.PublishRequest(
        package_id="generated-client", name="Generated", flow_id=created.parsed.id))
    assert again.status_code == HTTPStatus.CREATED
    assert isinstance(again.parsed, models.CatalogPackage) and again.parsed.version == "0.1.1"
    neither = publish_package.sync_detailed(client=client, body=models.PublishRequest(
        package_id="generated-client", name="Generated"))
    assert neither.status_code == HTTPStatus.BAD_REQUEST
    assert isinstance(neither.parsed, models.InvalidPublishError)

    # List (a bare array) and detail.
    listed = list_packages.sync_detailed(client=client, search="generated-client", limit=5)
    assert listed.status_code == HTTPStatus.OK and "Link" not in listed.headers
    assert [p.package_id for p in listed.parsed] == ["generated-client"]
    detail = get_package.sync_detailed("generated-client", client=client)
    assert isinstance(detail.parsed, models.CatalogPackageDetail)
    assert detail.parsed.readme == "# Generated\n"
    assert [v.version for v in detail.parsed.versions] == ["0.1.1", "0.1.0"]

    # Download: the stored bytes, as a File.
    downloaded = download_package.sync_detailed("generated-client", "0.1.0", client=client)
    assert downloaded.status_code == HTTPStatus.OK
    assert isinstance(downloaded.parsed, types.File)
    data = downloaded.parsed.payload.read()
    assert downloaded.headers["Content-Disposition"] == (
        'attachment; filename="generated-client-0.1.0.scaipkg"')
    [stored] = served.sql("SELECT scaipkg, sha256 FROM catalog_versions WHERE tenant_id = ? "
                          "AND package_id = ? AND version = '0.1.0'", TENANT,
                          "generated-client")
    assert data == stored["scaipkg"] and detail.parsed.versions[1].sha256 == stored["sha256"]

    # Install: the content with a fresh flow id, nothing stored.
    flows_before = served.sql("SELECT count(*) FROM flows")[0][0]
    installed = install_package.sync_detailed("generated-client", client=client,
                                              body=models.InstallRequest(version="0.1.0"))
    assert installed.status_code == HTTPStatus.OK
    assert isinstance(installed.parsed, models.InstalledContent)
    assert installed.parsed.content.id.startswith("flow_")
    assert installed.parsed.content.version == "1.0.0"
    assert served.sql("SELECT count(*) FROM flows")[0][0] == flows_before

    # Import the file into another tenant (201, its caller the author), then into its own
    # (200: that version already holds these bytes), then bytes that are no archive (400).
    other_token, _ = served.mint("usr_importer", "tnt_generated")
    other = generated.AuthenticatedClient(base_url=served.url, token=other_token,
                                          timeout=httpx.Timeout(10.0))
    file = types.File(payload=io.BytesIO(data), file_name="generated-client-0.1.0.scaipkg",
                      mime_type="application/zip")
    moved = import_package.sync_detailed(client=other, body=file)
    assert moved.status_code == HTTPStatus.CREATED
    assert isinstance(moved.parsed, models.CatalogPackage)
    assert (moved.parsed.tenant_id, moved.parsed.author_id, moved.parsed.version) == (
        "tnt_generated", "usr_importer", "0.1.0")
    versions_before = served.sql("SELECT count(*) FROM catalog_versions")[0][0]
    same = import_package.sync_detailed(client=client, body=types.File(
        payload=io.BytesIO(data), mime_type="application/zip"))
    assert same.status_code == HTTPStatus.OK
    assert isinstance(same.parsed, models.CatalogPackage) and same.parsed.version == "0.1.1"
    refused = import_package.sync_detailed(client=client, body=types.File(
        payload=io.BytesIO(b"not a zip")))
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert isinstance(refused.parsed, models.InvalidArchiveError)
    assert served.sql("SELECT count(*) FROM catalog_versions")[0][0] == versions_before
    [row] = served.sql("SELECT tenant_id, author_id, version FROM catalog_packages "
                       "WHERE package_id = 'generated-client' AND tenant_id = 'tnt_generated'")
    assert tuple(row) == ("tnt_generated", "usr_importer", "0.1.0")
    [audit] = served.sql("SELECT actor, details FROM audit_log WHERE action = "
                         "'package.imported' AND tenant_id = 'tnt_generated'")
    assert audit["actor"] == "usr_importer" and json.loads(audit["details"])["via"] == "api"
