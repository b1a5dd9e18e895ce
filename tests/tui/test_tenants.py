"""Tenants screen: every tenant with its ScaiGrid credential status; set, rotate and delete a
tenant's credentials through the form (errors shown in the form, nothing stored); the
unreadable state; master key rotation (the stored data keys change) and its 409."""

from __future__ import annotations

import sqlite3

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input

from scaiflow_box.crypto.envelope import MasterKey
from tests.conftest import AppFactory, Appliance
from tests.fakes.scaigrid import FakeScaiGrid
from tests.tui.helpers import (
    SIZE,
    TuiSession,
    open_session,
    select_row,
    settle,
    static_text,
    table_rows,
)
from tui.app import ScaiflowAdmin
from tui.client import AdminClient, StaticToken
from tui.screens.confirm import ConfirmScreen
from tui.screens.rotate_master_key import RotateMasterKeyScreen
from tui.screens.security import SecurityScreen
from tui.screens.set_credentials import SetCredentialsScreen
from tui.screens.tenants import TenantsScreen

KEY_A = "sgk_tenant_a_key_0000aaaa"
KEY_B = "sgk_tenant_b_key_1111bbbb"
NEW_KEY = "sgk_rotated_key_2222cccc"
LONG_TENANT = "tnt_" + "long-tenant-name-" * 8
TENANT_HOSTS = "grid-a.example,grid-b.example"  # the tenants' own ScaiGrids, allowed


@pytest.fixture
async def appliance(make_appliance: AppFactory) -> Appliance:
    """The shared fixture's appliance, with the tenants' ScaiGrid hosts allowed (the TUI
    session fixture starts from this one)."""
    return await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS)


def secrets_of(session: TuiSession, tenant_id: str) -> dict[str, str]:
    """The stored (encrypted) values of a tenant's secrets, by logical name."""
    return {row["name"]: row["value"] for row in session.appliance.sql(
        "SELECT name, value FROM tenant_secrets WHERE tenant_id = ?", tenant_id)}


def db_bytes(session: TuiSession) -> bytes:
    """The database file and its WAL (a plaintext secret must be in neither), or on MariaDB
    every row of every table of the schema."""
    appliance = session.appliance
    if appliance.settings.database_url is not None:
        tables = [row[0] for row in appliance.sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")]
        assert "tenant_secrets" in tables
        return b"".join(value if isinstance(value, bytes) else str(value).encode()
                        for table in tables for row in appliance.sql(f"SELECT * FROM {table}")
                        for value in row)
    path = appliance.settings.db_path
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def set_credentials(session: TuiSession, tenant_id: str, key: str,
                          base_url: str | None = None) -> None:
    """Through the API, as another super admin would have."""
    headers = await session.appliance.headers("usr_root", "tnt_local", role="super_admin")
    body = {"api_key": key} | ({"base_url": base_url} if base_url else {})
    response = await session.appliance.client.post(
        f"/api/v1/admin/tenants/{tenant_id}/scaigrid_credentials", headers=headers, json=body)
    assert response.status == 204, await response.text()


async def fill(pilot: Pilot[int], field_id: str, value: str) -> None:
    field = pilot.app.screen.query_one(f"#{field_id}", Input)
    field.focus()
    field.value = value
    await pilot.pause()


async def open_tenants(pilot: Pilot[int]) -> None:
    await pilot.press("5")
    await settle(pilot)
    assert isinstance(pilot.app.screen, TenantsScreen)


async def open_security(pilot: Pilot[int]) -> None:
    await pilot.press("3")
    await settle(pilot)
    assert isinstance(pilot.app.screen, SecurityScreen)


def rows_by_id(app: ScaiflowAdmin) -> dict[str, list[str]]:
    return {row[0]: row for row in table_rows(app, "tenants")}


async def test_every_tenant_with_counts_and_credential_status(tui_session: TuiSession) -> None:
    await tui_session.appliance.headers("usr_alice", "tnt_a")
    await tui_session.appliance.headers("usr_bob", "tnt_b")
    await tui_session.appliance.headers("usr_long", LONG_TENANT)
    await set_credentials(tui_session, "tnt_a", KEY_A, "https://grid-a.example")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tenants(pilot)
        rows = rows_by_id(app)
        long_id = next(key for key in rows if key.startswith("tnt_long"))
        assert set(rows) == {"tnt_a", "tnt_b", "tnt_local", long_id}
        assert rows["tnt_a"][2:] == ["1", "0", "sgk_…aaaa", "https://grid-a.example"]
        assert rows["tnt_b"][4:] == ["not set", "-"]
        # tnt_local: the bootstrap operator and the super admin made by `set_credentials`
        assert rows["tnt_local"][2:5] == ["2", "0", "not set"]
        assert len(long_id) == 40 and long_id.endswith("…")
        assert static_text(app, "#status") == "4 tenant(s); ScaiGrid credentials set for 1."
        await select_row(pilot, "tenants", "tnt_a")
        detail = static_text(app, "#detail")
        assert "key sgk_…aaaa · base URL https://grid-a.example" in detail
        assert "1 user(s), 0 flow(s)" in detail
        await select_row(pilot, "tenants", LONG_TENANT)
        assert LONG_TENANT in static_text(app, "#detail")  # the full id in the detail line
        # the plaintext key is shown nowhere
        assert KEY_A not in " ".join(" ".join(row) for row in rows.values())


async def test_set_credentials_through_the_form(tui_session: TuiSession) -> None:
    await tui_session.appliance.headers("usr_bob", "tnt_b")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tenants(pilot)
        await select_row(pilot, "tenants", "tnt_b")
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, SetCredentialsScreen)
        assert static_text(app, ".title") == "Set ScaiGrid credentials for tnt_b"
        key_field = app.screen.query_one("#api_key", Input)
        assert key_field.password and key_field.has_focus
        assert app.screen.query_one("#base_url", Input).value == ""
        await pilot.press("ctrl+s")  # no key yet: said in the form, nothing sent
        await settle(pilot)
        assert static_text(app, "#form-error") == "API key: required."
        await pilot.press(*f"  {KEY_B}")  # typed; surrounding blanks are trimmed
        await fill(pilot, "base_url", "https://grid-b.example/")
        await pilot.press("enter")
        await settle(pilot)

        assert isinstance(app.screen, TenantsScreen)
        assert static_text(app, "#action") == \
            "Stored the ScaiGrid key of tnt_b (base URL: https://grid-b.example/)."
        row = rows_by_id(app)["tnt_b"]
        assert row[4:] == ["sgk_…bbbb", "https://grid-b.example"]
        stored = secrets_of(tui_session, "tnt_b")
        assert set(stored) == {"tenants/tnt_b/scaigrid_api_key",
                               "tenants/tnt_b/scaigrid_base_url"}
        assert all(value.startswith("sfb1:") for value in stored.values())
        assert KEY_B.encode() not in db_bytes(tui_session)
        [audit] = tui_session.appliance.sql(
            "SELECT tenant_id, actor, details FROM audit_log"
            " WHERE action = 'tenant.credentials_set'")
        assert (audit["tenant_id"], audit["actor"]) == ("tnt_b", "usr_operator")
        assert KEY_B not in audit["details"]
        assert KEY_B not in static_text(app, "#action") + static_text(app, "#detail")


async def test_a_bad_base_url_or_key_is_shown_in_the_form_and_nothing_is_stored(
        tui_session: TuiSession) -> None:
    await tui_session.appliance.headers("usr_bob", "tnt_b")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tenants(pilot)
        await select_row(pilot, "tenants", "tnt_b")
        await pilot.press("s")
        await settle(pilot)
        await fill(pilot, "api_key", KEY_B)
        await fill(pilot, "base_url", "http://169.254.169.254/latest")
        await pilot.click("#save")
        await settle(pilot)
        assert isinstance(app.screen, SetCredentialsScreen)
        error = static_text(app, "#form-error")
        assert error.startswith("Not saved: 400 invalid_base_url: base_url is refused")
        assert "(Give the ScaiGrid base URL, e.g. https://scaigrid.example.com)" in error
        assert app.screen.query_one("#base_url", Input).has_focus
        assert KEY_B not in error

        await fill(pilot, "base_url", "ftp://grid.example")
        await pilot.press("enter")
        await settle(pilot)
        assert static_text(app, "#form-error").startswith(
            "Not saved: 400 invalid_base_url: base_url ")

        await fill(pilot, "api_key", "has a space")  # the API's own validation (422)
        await fill(pilot, "base_url", "")
        await pilot.press("ctrl+s")
        await settle(pilot)
        error = static_text(app, "#form-error")
        assert error.startswith("Not saved: 422 validation_failed: api_key: ")
        assert "has a space" not in error
        assert app.screen.query_one("#api_key", Input).has_focus

        # the worker that sends the key does not carry it in its description (Textual logs it)
        form = app.screen
        assert isinstance(form, SetCredentialsScreen)
        worker = form.save(KEY_B, "http://169.254.169.254")
        assert KEY_B not in worker.description and KEY_B not in repr(worker)
        await settle(pilot)
        assert static_text(app, "#form-error").startswith("Not saved: 400 invalid_base_url")

        assert tui_session.appliance.sql("SELECT * FROM tenant_secrets") == []
        assert tui_session.appliance.sql(
            "SELECT * FROM audit_log WHERE action LIKE 'tenant.%'") == []
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, TenantsScreen)
        assert static_text(app, "#action") == "Cancelled; nothing changed."
        assert rows_by_id(app)["tnt_b"][4] == "not set"


async def test_rotate_prefills_the_base_url_and_replaces_the_key(
        tui_session: TuiSession) -> None:
    await tui_session.appliance.headers("usr_bob", "tnt_b")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tenants(pilot)
        await select_row(pilot, "tenants", "tnt_b")
        await pilot.press("k")  # nothing to rotate yet: said locally
        await settle(pilot)
        assert isinstance(app.screen, TenantsScreen)
        assert static_text(app, "#action") == \
            "tnt_b has no ScaiGrid key to rotate: press s to set one."
        await set_credentials(tui_session, "tnt_b", KEY_B, "https://grid-b.example")
        await pilot.press("r")
        await settle(pilot)
        before = secrets_of(tui_session, "tnt_b")

        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, SetCredentialsScreen)
        assert static_text(app, ".title") == \
            "Rotate the ScaiGrid key of tnt_b (now sgk_…bbbb)"
        assert app.screen.query_one("#base_url", Input).value == "https://grid-b.example"
        await pilot.press(*NEW_KEY, "enter")
        await settle(pilot)

        assert isinstance(app.screen, TenantsScreen)
        assert static_text(app, "#action") == \
            "Rotated the ScaiGrid key of tnt_b (base URL: https://grid-b.example)."
        assert rows_by_id(app)["tnt_b"][4:] == ["sgk_…cccc",
                                                             "https://grid-b.example"]
        after = secrets_of(tui_session, "tnt_b")
        assert set(after) == set(before)
        assert all(after[name] != before[name] for name in before)  # fresh ciphertexts
        data = db_bytes(tui_session)
        assert NEW_KEY.encode() not in data and KEY_B.encode() not in data


async def test_delete_after_confirmation(tui_session: TuiSession) -> None:
    await tui_session.appliance.headers("usr_bob", "tnt_b")
    await set_credentials(tui_session, "tnt_b", KEY_B, "https://grid-b.example")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tenants(pilot)
        await select_row(pilot, "tenants", "tnt_b")
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert static_text(app, "#question").startswith(
            "Delete the ScaiGrid credentials of tnt_b (sgk_…bbbb)?")
        await pilot.press("escape")  # cancelled: nothing changed
        await settle(pilot)
        assert static_text(app, "#action") == "Cancelled; nothing changed."
        assert len(secrets_of(tui_session, "tnt_b")) == 2

        await pilot.press("x", "y")
        await settle(pilot)
        assert isinstance(app.screen, TenantsScreen)
        assert secrets_of(tui_session, "tnt_b") == {}
        assert static_text(app, "#action") == "Deleted the ScaiGrid credentials of tnt_b."
        assert rows_by_id(app)["tnt_b"][4:] == ["not set", "-"]
        [audit] = tui_session.appliance.sql(
            "SELECT tenant_id, actor FROM audit_log WHERE action = 'tenant.credentials_deleted'")
        assert tuple(audit) == ("tnt_b", "usr_operator")
        await pilot.press("x")  # nothing left: said locally, no dialog
        await settle(pilot)
        assert isinstance(app.screen, TenantsScreen)
        assert static_text(app, "#action") == "tnt_b has no ScaiGrid credentials to delete."


async def test_unreadable_credentials_are_flagged_and_setting_them_again_repairs(
        tui_session: TuiSession) -> None:
    """A ciphertext moved to another tenant's row does not decrypt there (AAD = tenant|table|
    name): the appliance reports the credentials as unreadable."""
    await tui_session.appliance.headers("usr_alice", "tnt_a")
    await tui_session.appliance.headers("usr_bob", "tnt_b")
    await set_credentials(tui_session, "tnt_a", KEY_A)
    await set_credentials(tui_session, "tnt_b", KEY_B)

    def move_ciphertext(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE tenant_secrets SET value = (SELECT value FROM tenant_secrets"
            " WHERE tenant_id = 'tnt_a' AND name = 'tenants/tnt_a/scaigrid_api_key')"
            " WHERE tenant_id = 'tnt_b'")

    await tui_session.appliance.db.write(move_ciphertext)
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_tenants(pilot)
        rows = rows_by_id(app)
        assert rows["tnt_b"][4:] == ["unreadable", "-"]
        assert rows["tnt_a"][4] == "sgk_…aaaa"
        assert static_text(app, "#status") == \
            "3 tenant(s); ScaiGrid credentials set for 1, UNREADABLE for 1."
        await select_row(pilot, "tenants", "tnt_b")
        assert "do not decrypt" in static_text(app, "#detail")
        await pilot.press("k")
        await settle(pilot)
        assert static_text(app, ".title") == \
            "Replace the unreadable ScaiGrid credentials of tnt_b"
        assert app.screen.query_one("#base_url", Input).value == ""
        await pilot.press(*NEW_KEY, "enter")
        await settle(pilot)
        assert rows_by_id(app)["tnt_b"][4] == "sgk_…cccc"
        assert static_text(app, "#status") == "3 tenant(s); ScaiGrid credentials set for 2."


async def test_rotate_the_master_key_rewraps_every_data_key(tui_session: TuiSession) -> None:
    await tui_session.appliance.headers("usr_alice", "tnt_a")
    await set_credentials(tui_session, "tnt_a", KEY_A, "https://grid-a.example")
    appliance = tui_session.appliance
    deks_before = {r["id"]: r["wrapped"]
                   for r in appliance.sql("SELECT id, wrapped FROM data_keys")}
    secrets_before = secrets_of(tui_session, "tnt_a")
    [kek_before] = appliance.sql("SELECT value FROM meta WHERE `key` = 'kek_id'")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_security(pilot)  # the master key is on Security
        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, RotateMasterKeyScreen)
        assert static_text(app, "#question").startswith("Rotate the master key?")
        assert app.screen.query_one("#reencrypt", Checkbox).value is False
        await pilot.press("escape")  # cancelled: the key file is untouched
        await settle(pilot)
        assert static_text(app, "#action") == "Cancelled; the master key is unchanged."
        assert appliance.sql("SELECT value FROM meta WHERE `key` = 'kek_id'")[0][0] == \
            kek_before[0]

        await pilot.press("R", "y")
        await settle(pilot)
        assert isinstance(app.screen, SecurityScreen)
        [kek_after] = appliance.sql("SELECT value FROM meta WHERE `key` = 'kek_id'")
        assert kek_after[0] != kek_before[0]
        deks_after = {r["id"]: r["wrapped"] for r in appliance.sql(
            "SELECT id, wrapped FROM data_keys")}
        assert set(deks_after) == set(deks_before)  # the same data keys, re-wrapped
        assert all(deks_after[k] != deks_before[k] for k in deks_before)
        # not re-encrypted: the same data key and ciphertext, labelled with the new key id
        assert {n: v.split(":", 2)[2] for n, v in secrets_of(tui_session, "tnt_a").items()} \
            == {n: v.split(":", 2)[2] for n, v in secrets_before.items()}
        assert all(v.startswith(f"sfb1:{kek_after[0]}:")
                   for v in secrets_of(tui_session, "tnt_a").values())
        count = len(deks_after)
        assert static_text(app, "#action") == (
            f"Master key rotated: new key id {kek_after[0]}; {count} data key(s) and 1 issuer "
            "key(s) now wrapped by it. Back up master.key now.")
        # Security lists the new key as the current one, the old one as retired
        assert [row[:2] for row in table_rows(app, "master-keys")] == [
            [kek_after[0], "current"], [kek_before[0], "retired"]]
        # the appliance still reads the tenant's key, and the TUI still works
        await open_tenants(pilot)
        assert rows_by_id(app)["tnt_a"][4] == "sgk_…aaaa"
        assert app.screen.query_one("#problem").display is False
        await open_security(pilot)

        # again, re-encrypting every secret: new data keys and new ciphertexts
        await pilot.press("R", "e")
        assert app.screen.query_one("#reencrypt", Checkbox).value is True
        await pilot.press("y")
        await settle(pilot)
        deks_third = {r["id"] for r in appliance.sql("SELECT id FROM data_keys")}
        assert deks_third.isdisjoint(deks_after)
        secrets_after = secrets_of(tui_session, "tnt_a")
        assert all(secrets_after[n].split(":", 2)[2] != secrets_before[n].split(":", 2)[2]
                   for n in secrets_before)
        action = static_text(app, "#action")
        assert "; 2 secret(s) re-encrypted under new data keys." in action
        await open_tenants(pilot)
        assert rows_by_id(app)["tnt_a"][4] == "sgk_…aaaa"
        assert len(appliance.sql("SELECT * FROM audit_log WHERE action = 'keys.rotated'")) == 2


async def test_a_master_key_from_the_environment_is_not_rotated(
        make_appliance: AppFactory) -> None:
    env_key = MasterKey.generate()
    appliance = await make_appliance(SCAIFLOW_MASTER_KEY=env_key.to_base64())
    async with open_session(appliance) as session:
        deks_before = appliance.sql("SELECT id, wrapped FROM data_keys")
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await open_security(pilot)
            assert static_text(app, "#master-key") == (
                "Master keys · from SCAIFLOW_MASTER_KEY: rotate it on the Data directory (9)")
            assert table_rows(app, "master-keys") == [
                [env_key.kek_id, "current", "-", "0", "-", "-"]]
            await pilot.press("R", "e", "y")
            await settle(pilot)
            action = static_text(app, "#action")
            assert action.startswith("Could not rotate the master key: 409 "
                                     "rotation_not_possible: the master key comes from "
                                     "SCAIFLOW_MASTER_KEY")
            assert "scaiflow-box keys rotate" in action
            assert env_key.to_base64() not in action
            assert app.screen.query_one("#action").has_class("-error")
        assert [tuple(r) for r in appliance.sql("SELECT id, wrapped FROM data_keys")] == \
            [tuple(r) for r in deks_before]
        assert appliance.sql("SELECT value FROM meta WHERE `key` = 'kek_id'")[0][0] == \
            env_key.kek_id


async def test_a_member_without_admin_role_is_told_why(appliance: Appliance) -> None:
    token = await appliance.token("usr_plain", "tnt_local")
    client = AdminClient(str(appliance.client.make_url("/")).rstrip("/"), StaticToken(token))
    app = ScaiflowAdmin(client)
    async with app.run_test(size=SIZE) as pilot:
        await open_tenants(pilot)
        assert static_text(app, "#problem").startswith(
            "Not allowed: this action needs the super_admin role")
        assert table_rows(app, "tenants") == []
    await client.close()


async def test_rotate_form_prefills_only_the_tenants_own_base_url(
        make_appliance: AppFactory) -> None:
    """The appliance's SCAIGRID_BASE_URL fallback is not offered as the tenant's own: saving
    the form would pin it."""
    appliance = await make_appliance(SCAIGRID_BASE_URL="https://fallback.example")
    async with open_session(appliance) as session:
        root = await appliance.headers("usr_operator", "tnt_local", role="super_admin")
        resp = await appliance.client.post("/api/v1/tenants/me/scaigrid_credentials",
                                           headers=root,
                                           json={"api_key": "sgk_fallback_only_1234"})
        assert resp.status == 204
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await open_tenants(pilot)
            await select_row(pilot, "tenants", "tnt_local")
            await pilot.press("k")
            await settle(pilot)
            assert isinstance(app.screen, SetCredentialsScreen)
            assert app.screen.query_one("#base_url", Input).value == ""


async def test_test_credentials_asks_scaigrid_with_the_tenants_key(
        make_appliance: AppFactory, scaigrid_server: FakeScaiGrid) -> None:
    appliance = await make_appliance(**scaigrid_server.env(SCAIFLOW_UPSTREAM_TIMEOUT_SECONDS="2"))
    async with open_session(appliance) as session:
        await appliance.user("usr_alice", "tnt_acme")
        await set_credentials(session, "tnt_local", "sgk_not_known_to_scaigrid")
        app = session.app()
        async with app.run_test(size=SIZE) as pilot:
            await open_tenants(pilot)
            await select_row(pilot, "tenants", "tnt_local")
            await pilot.press("t")
            await settle(pilot)
            action = static_text(app, "#action")
            assert action.startswith("ScaiGrid did not take the credentials of tnt_local: 502 "
                                     "scaigrid_auth")
            assert action.endswith("ScaiGrid refused the key: set the tenant's key again (s).")
            assert app.screen.query_one("#action").has_class("-error")

            await set_credentials(session, "tnt_local", scaigrid_server.api_key)
            await pilot.press("t")
            await settle(pilot)
            assert static_text(app, "#action") == (
                "ScaiGrid takes the credentials of tnt_local: it lists "
                f"{len(scaigrid_server.models)} model(s).")
            # another tenant's key: the lookup acts in that tenant (a super admin's
            # `tenant_id`), so its own refused key is what ScaiGrid sees
            await set_credentials(session, "tnt_acme", "sgk_not_known_to_scaigrid")
            await select_row(pilot, "tenants", "tnt_acme")
            await pilot.press("t")
            await settle(pilot)
            assert static_text(app, "#action").startswith(
                "ScaiGrid did not take the credentials of tnt_acme: 502 scaigrid_auth")
