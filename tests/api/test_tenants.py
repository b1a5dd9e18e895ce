"""`/api/v1/tenants/me/scaigrid_credentials` (SPEC §8) on a real appliance: masking, roles,
base URL validation, encryption at rest (the SQLite file and its WAL searched for the key),
ciphertexts moved between rows, and audit rows that never carry the key."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest

from scaiflow_box.services.credentials import mask_key
from tests.conftest import AppFactory, Appliance

PATH = "/api/v1/tenants/me/scaigrid_credentials"
KEY = "sgk_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
UNSET = {"configured": False, "base_url": None, "masked_key": None}


async def call(app: Appliance, method: str, headers: dict[str, str], body: Any = None
               ) -> tuple[int, Any]:
    resp = await app.client.request(method, PATH, headers=headers, json=body)
    payload = await resp.json() if resp.content_type == "application/json" else None
    return resp.status, payload


# The tenants' own ScaiGrids these tests store, allowed by the operator.
TENANT_HOSTS = "grid.tenant.example,grid-only-in-ciphertext.example,a.example"


@pytest.fixture
async def app(make_appliance: AppFactory) -> Appliance:
    return await make_appliance(SCAIGRID_BASE_URL="https://grid.env.example",
                                SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS)


# -- masking ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "masked"), [
    ("sgk_abcdefgh1234", "sgk_…1234"),
    (KEY, "sgk_…b1a0"),
    ("short", "…"),
    ("fifteen-chars-x", "…"),
    ("", "…"),
])
def test_masking_shows_first_4_and_last_4_of_long_keys_only(key: str, masked: str) -> None:
    assert mask_key(key) == masked


# -- the happy path and the stored state ------------------------------------------------------
async def test_set_get_delete_round_trip_with_encrypted_rows_and_audit(
        app: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    admin = await app.headers("usr_admin", role="tenant_admin")
    assert await call(app, "GET", admin) == (200, UNSET)

    status, _ = await call(app, "POST", admin, {"api_key": f"  {KEY}\n",
                                                "base_url": "https://grid.tenant.example/"})
    assert status == 204
    assert await call(app, "GET", admin) == (200, {
        "configured": True, "base_url": "https://grid.tenant.example",
        "masked_key": "sgk_…b1a0"})
    stored = app.sql("SELECT tenant_id, name, value, updated_by FROM tenant_secrets"
                     " ORDER BY name")
    assert [(r["tenant_id"], r["name"], r["updated_by"]) for r in stored] == [
        ("tnt_a", "tenants/tnt_a/scaigrid_api_key", "usr_admin"),
        ("tnt_a", "tenants/tnt_a/scaigrid_base_url", "usr_admin")]
    [dek] = app.sql("SELECT id, kek_id FROM data_keys WHERE tenant_id = 'tnt_a'")
    [kek] = app.sql("SELECT value FROM meta WHERE `key` = 'kek_id'")
    for row in stored:
        assert row["value"].startswith(f"sfb1:{kek['value']}:{dek['id']}:")
        assert KEY not in row["value"]

    # Without base_url the tenant falls back to SCAIGRID_BASE_URL.
    assert (await call(app, "POST", admin, {"api_key": "sgk_second_key_000000"}))[0] == 204
    assert await call(app, "GET", admin) == (200, {
        "configured": True, "base_url": "https://grid.env.example", "masked_key": "sgk_…0000"})
    assert len(app.sql("SELECT * FROM tenant_secrets")) == 1

    assert (await call(app, "DELETE", admin))[0] == 204
    assert await call(app, "GET", admin) == (200, UNSET)
    assert app.sql("SELECT * FROM tenant_secrets") == []
    assert (await call(app, "DELETE", admin))[0] == 204  # idempotent

    audit = app.sql("SELECT tenant_id, actor, action, target_type, target_id, details, at"
                    " FROM audit_log WHERE action LIKE 'tenant.%' ORDER BY id")
    assert [(a["tenant_id"], a["actor"], a["action"], a["target_type"], a["target_id"],
             a["details"]) for a in audit] == [
        ("tnt_a", "usr_admin", "tenant.credentials_set", "tenant", "tnt_a",
         '{"base_url_stored":true}'),
        ("tnt_a", "usr_admin", "tenant.credentials_set", "tenant", "tnt_a",
         '{"base_url_stored":false}'),
        ("tnt_a", "usr_admin", "tenant.credentials_deleted", "tenant", "tnt_a", "{}")]
    assert all(a["at"].endswith("Z") for a in audit)
    for row in app.sql("SELECT details FROM audit_log"):
        assert KEY not in row["details"] and "b1a0" not in row["details"]
        assert "second_key" not in row["details"]
    assert KEY not in caplog.text and "sgk_second" not in caplog.text


@pytest.mark.sqlite_only("reads the SQLite file and its WAL for the plaintext key")
async def test_the_database_file_and_its_wal_never_hold_the_plaintext_key(
        app: Appliance) -> None:
    admin = await app.headers("usr_admin", role="tenant_admin")
    url = "https://grid-only-in-ciphertext.example"
    assert (await call(app, "POST", admin, {"api_key": KEY, "base_url": url}))[0] == 204
    files = [app.settings.db_path, app.settings.db_path.with_name("scaiflow.db-wal")]
    assert files[1].exists() and files[1].stat().st_size > 0  # the write is in the WAL
    for path in files:
        data = path.read_bytes()
        assert KEY.encode() not in data, path
        assert KEY[4:20].encode() not in data, path
        assert url.encode() not in data, path
    # ...and still not once the WAL is checkpointed into the main file.
    conn = sqlite3.connect(app.settings.db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert KEY.encode() not in app.settings.db_path.read_bytes()
    assert (await call(app, "GET", admin))[1]["masked_key"] == "sgk_…b1a0"


async def test_a_ciphertext_copied_into_another_tenant_or_field_does_not_decrypt(
        app: Appliance) -> None:
    alice = await app.headers("usr_alice", "tnt_a", role="tenant_admin")
    bob = await app.headers("usr_bob", "tnt_b", role="tenant_admin")
    assert (await call(app, "POST", alice, {"api_key": KEY,
                                            "base_url": "https://a.example"}))[0] == 204
    assert (await call(app, "POST", bob, {"api_key": "sgk_bob_key_1234567890"}))[0] == 204

    def copy(src_tenant: str, src: str, dst_tenant: str, dst: str) -> None:
        [value] = app.sql("SELECT value FROM tenant_secrets WHERE tenant_id = ? AND name = ?",
                          src_tenant, f"tenants/{src_tenant}/{src}")[0]
        app.execute("REPLACE INTO tenant_secrets (tenant_id, name, value, updated_by,"
                    " updated_at) VALUES (?, ?, ?, 'mallory', 'now')",
                    dst_tenant, f"tenants/{dst_tenant}/{dst}", value)

    unreadable = {"error": "credentials_unreadable"}
    copy("tnt_a", "scaigrid_api_key", "tnt_b", "scaigrid_api_key")  # another tenant's row
    status, body = await call(app, "GET", bob)
    assert status == 503 and unreadable.items() <= body["detail"].items()
    assert KEY not in str(body)
    copy("tnt_a", "scaigrid_api_key", "tnt_a", "scaigrid_base_url")  # another field
    status, body = await call(app, "GET", alice)
    assert status == 503 and unreadable.items() <= body["detail"].items()
    # Setting the credentials again repairs both tenants.
    assert (await call(app, "POST", bob, {"api_key": "sgk_bob_key_1234567890"}))[0] == 204
    assert (await call(app, "GET", bob))[1]["masked_key"] == "sgk_…7890"


# -- roles -----------------------------------------------------------------------------------
async def test_roles_members_read_admins_write_each_in_their_own_tenant(
        app: Appliance) -> None:
    member = await app.headers("usr_member")
    admin = await app.headers("usr_admin", role="tenant_admin")
    other_admin = await app.headers("usr_other", "tnt_b", role="tenant_admin")
    super_b = await app.headers("usr_root", "tnt_b", role="super_admin")
    viewer = await app.headers("usr_viewer", scope="scaicore:view")
    assert (await call(app, "POST", admin, {"api_key": KEY}))[0] == 204

    for headers in (member, viewer):  # any member reads the masked status
        assert (await call(app, "GET", headers))[1]["masked_key"] == "sgk_…b1a0"
    for headers in (member, viewer):
        for method, body in (("POST", {"api_key": "sgk_mine_0000000000"}), ("DELETE", None)):
            status, payload = await call(app, method, headers, body)
            assert status == 403 and payload["detail"]["error"] == "forbidden"
    # Admins of another tenant, even a super admin, see and change only their own tenant.
    assert await call(app, "GET", other_admin) == (200, UNSET)
    assert await call(app, "GET", super_b) == (200, UNSET)
    assert (await call(app, "DELETE", super_b))[0] == 204
    assert (await call(app, "POST", super_b, {"api_key": "sgk_tenant_b_000000"}))[0] == 204
    assert (await call(app, "GET", other_admin))[1]["masked_key"] == "sgk_…0000"
    assert (await call(app, "GET", admin))[1]["masked_key"] == "sgk_…b1a0"
    assert {(r["tenant_id"], r["updated_by"]) for r in app.sql(
        "SELECT tenant_id, updated_by FROM tenant_secrets")} == {
        ("tnt_a", "usr_admin"), ("tnt_b", "usr_root")}
    assert (await app.client.get(PATH)).status == 401


# -- validation --------------------------------------------------------------------------------
BAD_URLS = [
    ("ftp://grid.example", "only http and https"),
    ("grid.example", "only http and https"),
    ("https://", "no host"),
    ("http:///path", "no host"),
    ("https://user:pass@grid.example", "credentials"),
    ("https://grid.example/?token=x", "query or fragment"),
    ("https://grid.example/#x", "query or fragment"),
    ("https://grid example", "spaces"),
    ("https://grid.example:99999", "not a valid URL"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://metadata.google.internal/", "metadata"),
    ("http://100.100.100.200/", "metadata"),
    ("http://[::169.254.169.254]/", "never allowed"),
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "never allowed"),
    ("http://instance-data/", "never allowed"),
]


@pytest.mark.parametrize(("url", "reason"), BAD_URLS)
async def test_bad_base_urls_are_400_and_store_nothing(app: Appliance, url: str,
                                                       reason: str) -> None:
    admin = await app.headers("usr_admin", role="tenant_admin")
    status, body = await call(app, "POST", admin, {"api_key": KEY, "base_url": url})
    assert status == 400, body
    assert body["detail"]["error"] == "invalid_base_url" and reason in body["detail"]["message"]
    assert app.sql("SELECT * FROM tenant_secrets") == []
    assert app.sql("SELECT * FROM audit_log WHERE action LIKE 'tenant.%'") == []


async def refused(app: Appliance, admin: dict[str, str], url: str) -> str:
    """POST `url` as base_url: must be 400 invalid_base_url storing nothing; the message."""
    status, body = await call(app, "POST", admin, {"api_key": KEY, "base_url": url})
    assert status == 400 and body["detail"]["error"] == "invalid_base_url", (url, body)
    assert app.sql("SELECT * FROM tenant_secrets") == [], url
    assert app.sql("SELECT * FROM audit_log WHERE action LIKE 'tenant.%'") == [], url
    return str(body["detail"]["message"])


async def test_by_default_only_the_host_and_port_of_scaigrid_base_url_are_allowed(
        make_appliance: AppFactory) -> None:
    """A tenant admin could aim the box at any loopback or LAN service (issue 12)."""
    app = await make_appliance(SCAIGRID_BASE_URL="http://127.0.0.1:8080/grid")
    admin = await app.headers("usr_admin", role="tenant_admin")
    for url in ("http://127.0.0.1:22", "http://127.0.0.1", "http://localhost:8080",
                "http://10.1.2.3:9100", "http://[::1]:8080", "http://127.0.0.2:8080",
                "https://grid.example", "http://[::ffff:127.0.0.1]:8081"):
        message = await refused(app, admin, url)
        assert message == "base_url is refused: this appliance does not call that host", url
    # the same address and port, also written as IPv4-mapped IPv6
    for url in ("http://127.0.0.1:8080", "http://127.0.0.1:8080/other-path/",
                "http://[::ffff:127.0.0.1]:8080"):
        assert (await call(app, "POST", admin, {"api_key": KEY, "base_url": url}))[0] == 204
        assert (await call(app, "GET", admin))[1]["base_url"] == url.rstrip("/")


async def test_the_operator_lists_more_hosts_in_scaiflow_upstream_allow(
        make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIGRID_BASE_URL="https://grid.env.example",
                               SCAIFLOW_UPSTREAM_ALLOW="10.1.2.0/24, grid.lan:9100,"
                                                       "*.grid.example,[fd00::5]:8443")
    admin = await app.headers("usr_admin", role="tenant_admin")
    for url in ("http://10.1.3.1", "http://grid.lan:9101", "http://grid.lan",
                "https://grid.example", "http://10.1.2.3.nip.io", "https://[fd00::5]",
                "http://evil.example/?x=.grid.example", "http://grid.example.evil.example"):
        await refused(app, admin, url)
    for url in ("http://10.1.2.3:9100", "http://grid.lan:9100", "https://acme.grid.example",
                "https://A.B.Grid.Example.", "https://[fd00::5]:8443", "https://grid.env.example",
                "http://[::ffff:10.1.2.200]"):
        status, body = await call(app, "POST", admin, {"api_key": KEY, "base_url": url})
        assert status == 204, (url, body)


async def test_without_scaigrid_base_url_or_an_allow_list_no_base_url_can_be_stored(
        make_appliance: AppFactory) -> None:
    app = await make_appliance()
    admin = await app.headers("usr_admin", role="tenant_admin")
    status, body = await call(app, "POST", admin, {"api_key": KEY,
                                                   "base_url": "https://grid.example"})
    assert (status, body["detail"]["error"]) == (400, "invalid_base_url")
    assert "SCAIFLOW_UPSTREAM_ALLOW" in body["detail"]["fix"]
    assert app.sql("SELECT * FROM tenant_secrets") == []
    # the key alone is still stored (calls then answer 503 scaigrid_not_configured)
    assert (await call(app, "POST", admin, {"api_key": KEY}))[0] == 204
    assert (await call(app, "GET", admin))[1] == {"configured": True, "base_url": None,
                                                 "masked_key": "sgk_…b1a0"}


@pytest.mark.parametrize("url", [
    "http://127.1", "http://0", "http://0.0.0.0", "http://0.1.2.3:80", "http://2130706433",
    "http://0x7f.0.0.1", "http://017700000001", "http://[::]", "http://[::127.0.0.1]",
    "http://[::169.254.169.254]", "http://[::a9fe:a9fe]", "http://[2001::a9fe:a9fe]",
    "http://[::ffff:0.0.0.0]",
])
async def test_a_base_url_that_can_never_be_called_is_refused_when_stored(
        make_appliance: AppFactory, url: str) -> None:
    """Even when the operator allows every address, these never reach the store."""
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW="0.0.0.0/0,::/0")
    admin = await app.headers("usr_admin", role="tenant_admin")
    message = await refused(app, admin, url)
    assert "never allowed" in message or "a.b.c.d" in message, message
    assert (await call(app, "POST", admin, {"api_key": KEY,
                                            "base_url": "http://127.0.0.1:9"}))[0] == 204


@pytest.mark.parametrize(("body", "status"), [
    ({"api_key": ""}, 422),
    ({"api_key": "   "}, 422),
    ({"api_key": "two words"}, 422),
    ({"api_key": "clé-non-ascii"}, 422),
    ({"api_key": "x" * 4097}, 422),
    ({"api_key": 12345}, 422),
    ({}, 422),
    ({"api_key": KEY, "tenant_id": "tnt_b"}, 422),  # the tenant is the token's, never the body's
    ({"api_key": KEY, "base_url": "   "}, 204),  # blank: SCAIGRID_BASE_URL applies
])
async def test_bodies_are_validated(app: Appliance, body: dict[str, Any], status: int) -> None:
    admin = await app.headers("usr_admin", role="tenant_admin")
    got, payload = await call(app, "POST", admin, body)
    assert got == status, payload
    if status == 422:
        assert app.sql("SELECT * FROM tenant_secrets") == []
        value = body.get("api_key")
        if isinstance(value, str) and value.strip():
            assert value not in str(payload)  # a rejected key is not echoed back
