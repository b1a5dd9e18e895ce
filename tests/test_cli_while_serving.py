"""`scaiflow-box admin grant|revoke|users` against the database of a running appliance (SPEC
§20): the CLI writes through its own connection, and the serving process sees the change
within the documented 50 ms (docs/decisions.md 16: commits of other processes are noticed
through `PRAGMA data_version`, checked at most every 50 ms)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.served import OPERATOR, ServedAppliance
from tests.packages.builders import flow_members, package_archive

SEEN_WITHIN_S = 0.05


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedAppliance]:
    app = ServedAppliance(data_dir=tmp_path / "data", log_path=tmp_path / "server.log")
    app.cli("init")
    app.start()
    try:
        yield app
    finally:
        assert app.stop() == 0, app.log()[-2000:]


def role_seen(app: ServedAppliance, token: str) -> str | None:
    me = app.expect(200, "GET", "/api/v1/me", token=token)
    role: str | None = me["admin_role"]
    return role


def test_a_cli_grant_reaches_the_running_server_within_50_ms(served: ServedAppliance) -> None:
    token, _ = served.mint("usr_bob")
    assert role_seen(served, token) is None  # caches the principal (minting provisioned him)
    assert role_seen(served, token) is None
    served.cli("admin", "grant", "usr_bob", "--role", "tenant_admin")
    time.sleep(SEEN_WITHIN_S)
    assert role_seen(served, token) == "tenant_admin"
    # what the role allows applies too: the tenant view is open to tenant admins
    assert served.call("GET", "/api/v1/admin/tenant/users", token=token).status == 200
    listed = served.cli("admin", "users", "--tenant", "tnt_local")
    row = next(line for line in listed.stdout.splitlines() if line.startswith("usr_bob"))
    assert "tenant_admin" in row and "manual" in row
    served.cli("admin", "revoke", "usr_bob")
    time.sleep(SEEN_WITHIN_S)
    assert role_seen(served, token) is None
    assert served.call("GET", "/api/v1/admin/tenant/users", token=token).status == 403
    [audit] = served.sql("SELECT count(*) FROM audit_log WHERE actor = 'cli'"
                         " AND target_id = 'usr_bob' AND action LIKE 'role.%'")
    assert audit[0] == 2


def packages_served(app: ServedAppliance, token: str) -> dict[str, int]:
    tenants = app.expect(200, "GET", "/api/v1/admin/tenants", token=token)["tenants"]
    return {t["id"]: t["packages"] for t in tenants}


def test_a_cli_import_is_served_at_once_and_export_reads_beside_the_server(
        served: ServedAppliance, tmp_path: Path) -> None:
    """The catalog is read without a cache: no wait after the CLI's import."""
    token, _ = served.mint(OPERATOR)
    assert packages_served(served, token) == {"tnt_local": 0}
    package = tmp_path / "hello.scaipkg"
    package.write_bytes(package_archive(flow_members()))
    imported = served.cli("catalog", "import", str(package), "--tenant", "tnt_local")
    assert imported.stdout == "hello@0.1.0\n"
    assert packages_served(served, token) == {"tnt_local": 1}
    listed = served.cli("catalog", "list")
    assert listed.stdout.splitlines()[1].split()[:3] == ["tnt_local", "hello", "0.1.0"]
    exported = tmp_path / "out.scaipkg"
    served.cli("catalog", "export", "hello", str(exported), "--tenant", "tnt_local")
    [row] = served.sql("SELECT sha256 FROM catalog_versions")
    assert hashlib.sha256(exported.read_bytes()).hexdigest() == row["sha256"]
