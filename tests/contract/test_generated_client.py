"""A Python client generated from the served document (openapi-python-client, no network but
the appliance's loopback port) creates, reads, updates and lists a flow; the answers parse into
the generated models, and the SQLite file holds what the client sent."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.contract.served import OPERATOR, TENANT, ServedAppliance, World, example_content

PACKAGE = "scaiflow_box_client"


@pytest.fixture
def generated(served: ServedAppliance, tmp_path: Path) -> Iterator[ModuleType]:
    """The generated package, importable for the test's duration."""
    config = tmp_path / "generator.json"
    # No post hooks: the default ones run ruff on the output, which is not the point here.
    config.write_text(json.dumps({"post_hooks": [], "package_name_override": PACKAGE,
                                  "project_name_override": "scaiflow-box-client"}), "utf-8")
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
