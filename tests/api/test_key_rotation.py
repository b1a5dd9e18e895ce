"""Master key rotation through the API (`POST /api/v1/admin/keys/rotate`) and by the CLI while
the appliance serves (SPEC §19.2): secrets stay readable in the running server and after a
restart, `reencrypt` replaces every data key and ciphertext, roles, and the env-key 409."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scaiflow_box.app import create_app
from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import MasterKey, read_key_file
from tests.conftest import AppFactory, Appliance, serve_app
from tests.db_backend import database_environment
from tests.test_cli import environment

ROTATE = "/api/v1/admin/keys/rotate"
CREDS = "/api/v1/tenants/me/scaigrid_credentials"
KEYS = {"tnt_a": "sgk_tenant_a_key_00001111", "tnt_b": "sgk_tenant_b_key_22223333"}


TENANT_HOSTS = "*.io"  # the tenants' own ScaiGrids (https://<tenant>.io), allowed


async def restart(aiohttp_client: Any, app: Appliance) -> Appliance:
    """Stop the appliance (its cleanup closes the database) and start it on the same data."""
    await app.client.close()
    client = await aiohttp_client(serve_app(create_app(app.settings)))
    return Appliance(client=client, settings=app.settings)


async def set_keys(app: Appliance) -> dict[str, dict[str, str]]:
    headers = {}
    for tenant, key in KEYS.items():
        headers[tenant] = await app.headers(f"usr_admin_{tenant}", tenant, role="tenant_admin")
        resp = await app.client.post(CREDS, headers=headers[tenant],
                                     json={"api_key": key, "base_url": f"https://{tenant}.io"})
        assert resp.status == 204
    return headers


async def assert_readable(app: Appliance, headers: dict[str, dict[str, str]]) -> None:
    for tenant, key in KEYS.items():
        resp = await app.client.get(CREDS, headers=headers[tenant])
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"configured": True, "base_url": f"https://{tenant}.io",
                                     "masked_key": f"{key[:4]}…{key[-4:]}"}


def stored(app: Appliance) -> tuple[dict[str, str], dict[str, str], str]:
    secrets = {f"{r['tenant_id']}/{r['name']}": r["value"]
               for r in app.sql("SELECT tenant_id, name, value FROM tenant_secrets")}
    deks = {r["id"]: r["wrapped"] for r in app.sql("SELECT id, wrapped FROM data_keys")}
    [kek] = app.sql("SELECT value FROM meta WHERE `key` = 'kek_id'")
    return secrets, deks, kek["value"]


def key_file(settings: Settings) -> MasterKey:
    return read_key_file(settings.master_key_path)


@pytest.mark.parametrize("reencrypt", [False, True])
async def test_rotate_through_the_api_then_restart(
        make_appliance: AppFactory, aiohttp_client: Any, reencrypt: bool) -> None:
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS)
    headers = await set_keys(app)
    root = await app.headers("usr_root", "tnt_a", role="super_admin")
    secrets_before, deks_before, kek_before = stored(app)
    old = key_file(app.settings)
    assert old.kek_id == kek_before

    resp = await app.client.post(ROTATE, headers=root, json={"reencrypt": reencrypt})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    new = key_file(app.settings)
    assert body == {"kek_id": new.kek_id, "data_keys": 2, "issuer_keys": 1,
                    "secrets_reencrypted": 4 if reencrypt else 0}
    assert new.kek_id != kek_before
    assert not app.settings.master_key_path.with_name("master.key.new").exists()
    # The old key is kept (SPEC §19.2): backups taken before the rotation still restore.
    retired = app.settings.master_key_path.with_name(f"master.key.retired-{kek_before}")
    assert read_key_file(retired) == old
    assert stat.S_IMODE(retired.stat().st_mode) == 0o600
    secrets_after, deks_after, kek_after = stored(app)
    assert kek_after == new.kek_id
    assert all(v.startswith(f"sfb1:{new.kek_id}:") for v in [*secrets_after.values(),
                                                              *deks_after.values()])
    if reencrypt:  # every data key and every ciphertext changed
        assert set(deks_after).isdisjoint(deks_before)
        assert all(secrets_after[k] != secrets_before[k] for k in secrets_before)
    else:  # the data keys are the same, re-wrapped
        assert set(deks_after) == set(deks_before)
        assert all(deks_after[k] != deks_before[k] for k in deks_before)
    [audit] = app.sql("SELECT tenant_id, actor, action, target_id FROM audit_log"
                      " WHERE action = 'keys.rotated'")
    assert tuple(audit) == (None, "usr_root", "keys.rotated", new.kek_id)

    await assert_readable(app, headers)  # the running server
    # A service token minted before the rotation still works (the issuer key is the same).
    assert (await app.client.get("/api/v1/me", headers=root)).status == 200
    app = await restart(aiohttp_client, app)
    await assert_readable(app, headers)
    assert (await app.client.get("/api/v1/me", headers=root)).status == 200
    # New tenants get data keys under the new master key.
    await set_keys(app)
    assert {r["kek_id"] for r in app.sql("SELECT kek_id FROM data_keys")} == {new.kek_id}


async def test_only_super_admins_rotate(make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS)
    before = app.settings.master_key_path.read_bytes()
    for headers in (await app.headers("usr_member"),
                    await app.headers("usr_admin", role="tenant_admin")):
        resp = await app.client.post(ROTATE, headers=headers, json={"reencrypt": False})
        assert resp.status == 403
    assert (await app.client.post(ROTATE, json={})).status == 401
    root = await app.headers("usr_root", role="super_admin")
    for body in ({"reencrypt": 0}, {"reencrypt": "yes"}, {"extra": True}):
        assert (await app.client.post(ROTATE, headers=root, json=body)).status == 422
    assert app.settings.master_key_path.read_bytes() == before
    assert app.sql("SELECT * FROM audit_log WHERE action = 'keys.rotated'") == []


async def test_an_env_master_key_cannot_be_rotated_by_the_server(
        make_appliance: AppFactory) -> None:
    env_key = MasterKey.generate()
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS,
                               SCAIFLOW_MASTER_KEY=env_key.to_base64())
    assert not app.settings.master_key_path.exists()  # env wins: no file is created
    headers = await set_keys(app)
    root = await app.headers("usr_root", role="super_admin")
    resp = await app.client.post(ROTATE, headers=root, json={"reencrypt": True})
    assert resp.status == 409
    detail = (await resp.json())["detail"]
    assert detail["error"] == "rotation_not_possible"
    assert "scaiflow-box keys rotate" in detail["fix"]
    assert env_key.to_base64() not in str(detail)
    assert stored(app)[2] == env_key.kek_id
    await assert_readable(app, headers)


def cli(settings: Settings, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scaiflow_box", *args, "--data-dir",
                           str(settings.data_dir)],
                          env=environment(None, {**database_environment(settings), **(env or {})}),
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.sqlite_only("on MariaDB a rotation is refused while the server runs "
                         "(tests/api/test_two_processes.py)")
async def test_a_running_server_keeps_decrypting_after_a_cli_rotation(
        make_appliance: AppFactory, aiohttp_client: Any) -> None:
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS)
    headers = await set_keys(app)
    _secrets, deks_before, _kek = stored(app)
    # --reencrypt: the server's cached data keys are gone from the database; it must unwrap
    # the new ones, wrapped by a master key it has never seen (it re-reads master.key).
    done = cli(app.settings, "keys", "rotate", "--reencrypt")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    new = key_file(app.settings)
    assert f"kek {new.kek_id}" in done.stderr
    assert "4 secret(s) re-encrypted" in done.stderr
    assert set(stored(app)[1]).isdisjoint(deks_before)
    await assert_readable(app, headers)
    # It also writes under the new key (a tenant the rotation never saw).
    tnt_c = await app.headers("usr_c", "tnt_c", role="tenant_admin")
    assert (await app.client.post(CREDS, headers=tnt_c, json={"api_key": "sgk_c_0000000000000"}
                                  )).status == 204
    assert {r["kek_id"] for r in app.sql("SELECT kek_id FROM data_keys")} == {new.kek_id}
    # A second rotation by the CLI, then a restart: everything still reads.
    assert cli(app.settings, "keys", "rotate").returncode == 0
    app = await restart(aiohttp_client, app)
    await assert_readable(app, headers)
    assert (await app.client.get(CREDS, headers=tnt_c)).status == 200


async def test_cli_rotation_with_an_env_key_prints_the_new_key_on_stdout_only(
        make_appliance: AppFactory, aiohttp_client: Any) -> None:
    old = MasterKey.generate()
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS,
                               SCAIFLOW_MASTER_KEY=old.to_base64())
    headers = await set_keys(app)
    await app.client.close()
    done = cli(app.settings, "keys", "rotate", env={"SCAIFLOW_MASTER_KEY": old.to_base64()})
    assert done.returncode == 0, done.stderr
    printed = done.stdout.strip()
    assert done.stdout == printed + "\n"
    new = MasterKey.from_base64(printed)
    assert len(base64.b64decode(printed)) == 32 and new != old
    assert printed not in done.stderr and "SCAIFLOW_MASTER_KEY" in done.stderr
    assert old.to_base64() not in done.stderr
    # An env key is never written to disk, so nothing retires it: the operator keeps it.
    assert f"keep the old value (kek {old.kek_id})" in done.stderr
    assert sorted(p.name for p in app.settings.data_dir.iterdir()
                  if "master.key" in p.name) == []
    # The old key no longer opens the database; the printed one does.
    refused = cli(app.settings, "admin", "users", env={"SCAIFLOW_MASTER_KEY": old.to_base64()})
    assert refused.returncode == 1 and "SCAIFLOW_MASTER_KEY" in refused.stderr
    settings = Settings(**{**app.settings.__dict__, "master_key": printed})
    client = await aiohttp_client(serve_app(create_app(settings)))
    await assert_readable(Appliance(client=client, settings=settings), headers)


# -- GET /api/v1/admin/keys: what `scaiflow-box keys list` shows -----------------------------
KEYS_LIST = "/api/v1/admin/keys"


def no_backups() -> dict[str, Any]:
    return {"recorded": 0, "on_disk": 0, "newest_at": None, "items": []}


def backup_row(app: Appliance, file: Path) -> dict[str, Any]:
    [row] = app.sql("SELECT made_at, kek_id FROM backups WHERE file = ?", str(file.resolve()))
    return {"file": str(file.resolve()), "made_at": row["made_at"], "kind": "backup",
            "on_disk": file.is_file()}


async def list_master_keys(app: Appliance, headers: dict[str, str]) -> dict[str, Any]:
    resp = await app.client.get(KEYS_LIST, headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


@pytest.mark.sqlite_only("lists the backups `backup` made of the SQLite file")
async def test_the_keys_list_shows_the_current_and_retired_keys_with_their_backups(
        make_appliance: AppFactory, tmp_path: Path) -> None:
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS)
    root = await app.headers("usr_root", role="super_admin")
    key_path = app.settings.master_key_path
    first = key_file(app.settings)
    assert await list_master_keys(app, root) == {"source": "file", "items": [
        {"kek_id": first.kek_id, "state": "current", "where": str(key_path),
         "retired_at": None, "problem": None, "backups": no_backups()}]}

    before, after = tmp_path / "before.db", tmp_path / "after.db"
    assert cli(app.settings, "backup", str(before)).returncode == 0
    resp = await app.client.post(ROTATE, headers=root, json={"reencrypt": False})
    assert resp.status == 200, await resp.text()
    second = key_file(app.settings)
    assert cli(app.settings, "backup", str(after)).returncode == 0
    retired_file = key_path.with_name(f"master.key.retired-{first.kek_id}")

    body = await list_master_keys(app, root)
    current, retired = body["items"]
    assert current == {"kek_id": second.kek_id, "state": "current", "where": str(key_path),
                       "retired_at": None, "problem": None,
                       "backups": {"recorded": 1, "on_disk": 1,
                                   "newest_at": backup_row(app, after)["made_at"],
                                   "items": [backup_row(app, after)]}}
    assert retired["retired_at"].endswith("Z")
    assert retired == {"kek_id": first.kek_id, "state": "retired", "where": str(retired_file),
                       "retired_at": retired["retired_at"], "problem": None,
                       "backups": {"recorded": 1, "on_disk": 1,
                                   "newest_at": backup_row(app, before)["made_at"],
                                   "items": [backup_row(app, before)]}}
    # The files and the records it names are those on disk and in the database.
    assert read_key_file(retired_file) == first
    assert {r["kek_id"]: r["file"] for r in app.sql("SELECT kek_id, file FROM backups")} == {
        first.kek_id: str(before.resolve()), second.kek_id: str(after.resolve())}
    # The same keys, states and counts as `scaiflow-box keys list`.
    listed = cli(app.settings, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:2] + line.split()[-2:] for line in listed.stdout.splitlines()[1:]] \
        == [[k["kek_id"], k["state"], str(k["backups"]["on_disk"]), k["where"]]
            for k in body["items"]]
    # Never a key.
    text = json.dumps(body)
    assert first.to_base64() not in text and second.to_base64() not in text

    # A backup moved away is still recorded, no longer on disk; a retired key file open to
    # others is shown with its problem (it is not used).
    before.unlink()
    retired_file.chmod(0o644)
    _current, retired = (await list_master_keys(app, root))["items"]
    assert retired["problem"] == "accessible by group or others: chmod 600"
    assert retired["backups"] == {"recorded": 1, "on_disk": 0,
                                  "newest_at": backup_row(app, before)["made_at"],
                                  "items": [{**backup_row(app, before), "on_disk": False}]}


@pytest.mark.sqlite_only("on MariaDB a rotation is refused while the server runs "
                         "(tests/api/test_two_processes.py)")
async def test_the_keys_list_follows_a_cli_rotation_beside_the_server(
        make_appliance: AppFactory) -> None:
    """The server still holds the old key until it needs the new one: the list names the key
    the database is wrapped by, as the CLI does."""
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS)
    root = await app.headers("usr_root", role="super_admin")
    old = key_file(app.settings)
    assert cli(app.settings, "keys", "rotate").returncode == 0
    new = key_file(app.settings)
    body = await list_master_keys(app, root)
    assert [(k["kek_id"], k["state"]) for k in body["items"]] == [
        (new.kek_id, "current"), (old.kek_id, "retired")]
    assert stored(app)[2] == new.kek_id


async def test_only_super_admins_list_the_keys(make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS)
    for headers in (await app.headers("usr_member"),
                    await app.headers("usr_admin", role="tenant_admin")):
        resp = await app.client.get(KEYS_LIST, headers=headers)
        assert resp.status == 403
        detail = (await resp.json())["detail"]
        assert detail["error"] == "forbidden" and "super_admin" in detail["message"]
        # The same refusal as the rotation's.
        rotate = await app.client.post(ROTATE, headers=headers, json={})
        assert (await rotate.json())["detail"]["error"] == detail["error"]
    resp = await app.client.get(KEYS_LIST)
    assert resp.status == 401
    assert await resp.json() == {"detail": "Not authenticated"}
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    # Refused before anything was read: the key files are as they were.
    assert sorted(p.name for p in app.settings.data_dir.iterdir() if "master.key" in p.name) \
        == ["master.key"]


async def test_an_env_master_key_is_listed_without_a_file(make_appliance: AppFactory) -> None:
    env_key = MasterKey.generate()
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW=TENANT_HOSTS,
                               SCAIFLOW_MASTER_KEY=env_key.to_base64())
    root = await app.headers("usr_root", role="super_admin")
    body = await list_master_keys(app, root)
    assert body == {"source": "environment", "items": [
        {"kek_id": env_key.kek_id, "state": "current", "where": "SCAIFLOW_MASTER_KEY",
         "retired_at": None, "problem": None, "backups": no_backups()}]}
    assert env_key.to_base64() not in json.dumps(body)
