"""Shared by the catalog's API tests: the routes, publishing through the API, the stored state
of the catalog's tables and audit rows."""

from __future__ import annotations

from typing import Any

from tests.conftest import Appliance
from tests.packages.builders import load_example

CATALOG = "/api/v1/catalog"
PUBLISH = CATALOG + "/publish"
IMPORT = CATALOG + "/import"
ZIP = {"Content-Type": "application/zip"}


def package_url(package_id: str, suffix: str = "") -> str:
    return f"{CATALOG}/{package_id}{suffix}"


def download_url(package_id: str, version: str) -> str:
    return package_url(package_id, f"/versions/{version}/download")


async def publish(app: Appliance, headers: dict[str, str], *, status: int = 201,
                  **fields: Any) -> Any:
    """`POST /catalog/publish` (inline hello-world content unless `flow_id` is given)."""
    fields.setdefault("package_id", "hello")
    fields.setdefault("name", "Hello")
    if "flow_id" not in fields:
        fields.setdefault("content", load_example("hello-world"))
    resp = await app.client.post(PUBLISH, headers=headers, json=fields)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def download(app: Appliance, headers: dict[str, str], package_id: str,
                   version: str) -> bytes:
    resp = await app.client.get(download_url(package_id, version), headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/zip"
    return await resp.read()


def catalog_state(app: Appliance) -> dict[str, Any]:
    """Every row of the catalog's tables (the bytes by their sha256) and the catalog's audit
    rows: what a refused request must leave as it was."""
    return {
        "packages": [tuple(r) for r in app.sql(
            "SELECT tenant_id, package_id, name, description, version, author_id, visibility,"
            " updated_at, deleted_at FROM catalog_packages ORDER BY tenant_id, package_id")],
        "groups": [tuple(r) for r in app.sql(
            "SELECT * FROM catalog_package_groups ORDER BY tenant_id, package_id, group_id")],
        "versions": [tuple(r) for r in app.sql(
            "SELECT tenant_id, package_id, version, sha256 FROM catalog_versions"
            " ORDER BY tenant_id, package_id, version")],
        "flows": app.sql("SELECT count(*) FROM flows")[0][0],
        "audit": [tuple(r) for r in app.sql(
            "SELECT action, target_id FROM audit_log WHERE action LIKE 'package.%'"
            " OR action = 'flow.created' ORDER BY id")],
    }


def audit_rows(app: Appliance, action: str) -> list[dict[str, Any]]:
    return [dict(r) for r in app.sql("SELECT * FROM audit_log WHERE action = ? ORDER BY id",
                                     action)]
