"""The data-directory tools through the console, each running the real CLI command on the
appliance's data directory: backup while serving, an admin grant, a JWKS import (Security's
`i` too), a restore (server stopped), and what the screen offers when the server is down."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from scaiflow_box.commands.tui_data_dir import CliDataDirTools
from tests.cli_process import environment, run
from tests.fakes.tokens import new_signing_key
from tests.tui.helpers import SIZE, TuiSession, settle, static_text
from tui.screens.confirm import ConfirmScreen
from tui.screens.data_dir import DataDirScreen
from tui.screens.data_dir_forms import BackupForm, GrantAdminForm, JwksImportForm
from tui.screens.rotate_master_key import RotateMasterKeyScreen
from tui.screens.security import SecurityScreen

ISSUER = "https://scaikey.example/api/v1/platform/oauth"


async def fill(pilot: Pilot[int], field_id: str, value: str) -> None:
    field = pilot.app.screen.query_one(f"#{field_id}", Input)
    field.value = value
    await pilot.pause()


async def open_data_dir(pilot: Pilot[int]) -> None:
    await pilot.press("9")
    await settle(pilot)
    assert isinstance(pilot.app.screen, DataDirScreen)


@pytest.mark.sqlite_only("backup refuses on MariaDB (tests/store/test_mariadb_database.py)")
async def test_backup_while_serving(tui_session: TuiSession, tmp_path: Path) -> None:
    target = tmp_path / "backups" / "box.db"
    target.parent.mkdir()
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_data_dir(pilot)
        assert "Server: answering" in static_text(app, "#server")
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, BackupForm)
        await fill(pilot, "file", str(target))
        await pilot.press("ctrl+s")
        await settle(pilot, timeout=60)
        assert isinstance(app.screen, DataDirScreen)
        action = static_text(app, "#action")
        assert action.startswith("The backup to ")
        assert "is done: backed up" in action
    assert target.is_file() and target.stat().st_size > 0
    [row] = tui_session.appliance.sql(
        "SELECT actor, target_id FROM audit_log WHERE action = 'backup.created'")
    assert (row["actor"], row["target_id"]) == ("cli", str(target.resolve()))


async def test_a_backup_form_refuses_an_existing_file(tui_session: TuiSession,
                                                      tmp_path: Path) -> None:
    taken = tmp_path / "taken.db"
    taken.write_text("keep me")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_data_dir(pilot)
        await pilot.press("b")
        await settle(pilot)
        await fill(pilot, "file", str(taken))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, BackupForm)  # the form stays open, says why
        assert static_text(app, "#form-error") == \
            f"File: {taken} exists; choose a new name."
    assert taken.read_text() == "keep me"


async def test_grant_an_admin_role_on_the_data_directory(tui_session: TuiSession) -> None:
    appliance = tui_session.appliance
    await appliance.user("usr_dana", "tnt_local", email="dana@example.com")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_data_dir(pilot)
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, GrantAdminForm)
        await fill(pilot, "user", "dana@example.com")
        await fill(pilot, "role", "admin")  # not a role: said in the form
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert static_text(app, "#form-error") == "Role: one of super_admin, tenant_admin."
        await fill(pilot, "role", "tenant_admin")
        await pilot.press("ctrl+s")
        await settle(pilot, timeout=60)
        assert "usr_dana is now tenant_admin (source manual)" in static_text(app, "#action")
    [user] = appliance.sql("SELECT admin_role, admin_role_source FROM users WHERE id = ?",
                           "usr_dana")
    assert (user["admin_role"], user["admin_role_source"]) == ("tenant_admin", "manual")


async def test_import_a_jwks_file_from_security(tui_session: TuiSession,
                                                tmp_path: Path) -> None:
    key = new_signing_key("sk-imported")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [key.public_jwk]}))
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, SecurityScreen)
        await pilot.press("i")
        await settle(pilot)
        assert isinstance(app.screen, JwksImportForm)
        await fill(pilot, "file", str(path))
        await fill(pilot, "issuer", ISSUER)
        await pilot.press("ctrl+s")
        await settle(pilot, timeout=60)
        assert isinstance(app.screen, SecurityScreen)
        action = static_text(app, "#action")
        assert action.startswith(f"imported 1 key(s) for {ISSUER}: sk-imported")
        assert "A running server uses the imported keys from its next start." in action
    [row] = tui_session.appliance.sql("SELECT source, jwks FROM jwks_cache WHERE issuer = ?",
                                      ISSUER)
    assert row["source"] == "import"
    assert [k["kid"] for k in json.loads(row["jwks"])["keys"]] == ["sk-imported"]


async def test_restore_on_a_stopped_data_directory(tmp_path: Path) -> None:
    """The tools' restore is the CLI's: here on a data directory no server holds."""
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    tools = CliDataDirTools(data, env=environment(data))
    backup = tmp_path / "before.db"
    assert (await tools.backup(str(backup))).ok
    outcome = await tools.restore(str(backup))
    assert outcome.ok, outcome.messages
    assert outcome.messages.startswith(f"restored {backup} into ")
    refused = await tools.restore(str(tmp_path / "missing.db"))
    assert not refused.ok and refused.messages.startswith("error: ")


async def test_master_key_rotation_on_the_data_directory_asks_first(
        tui_session: TuiSession) -> None:
    appliance = tui_session.appliance
    [before] = appliance.sql("SELECT value FROM meta WHERE `key` = 'kek_id'")
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_data_dir(pilot)
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, RotateMasterKeyScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert static_text(app, "#action") == "Cancelled; the master key is unchanged."
        assert appliance.sql("SELECT value FROM meta WHERE `key` = 'kek_id'")[0][0] == before[0]
        assert not isinstance(app.screen, ConfirmScreen)
