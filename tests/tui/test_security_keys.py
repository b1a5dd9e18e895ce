"""Security screen, master keys: the table lists the current key and the retired ones with
the backups made under each, from the real appliance (`GET /api/v1/admin/keys`), and follows a
rotation made from the screen; a backup moved away is counted as moved."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from scaiflow_box.crypto.envelope import read_key_file
from tests.cli_process import run
from tests.tui.helpers import SIZE, TuiSession, settle, static_text, table_rows
from tests.tui.stub import StubAppliance, stub_app
from tui.screens.security import SecurityScreen


async def open_security(pilot: Pilot[int]) -> None:
    await pilot.press("3")
    await settle(pilot)
    assert isinstance(pilot.app.screen, SecurityScreen)


@pytest.mark.sqlite_only("counts backups made by `backup`, which refuses on MariaDB")
async def test_the_master_keys_table_follows_a_rotation_and_the_backups(
        tui_session: TuiSession, tmp_path: Path) -> None:
    appliance = tui_session.appliance
    data_dir = appliance.settings.data_dir
    first = read_key_file(appliance.settings.master_key_path)
    backup = tmp_path / "before-rotation.db"
    app = tui_session.app()
    async with app.run_test(size=SIZE) as pilot:
        await open_security(pilot)
        assert table_rows(app, "master-keys") == [[first.kek_id, "current", "-", "0", "-", "-"]]
        assert static_text(app, "#master-key") == (
            "Master keys · R rotates; back up master.key after a rotation")

        done = run("backup", str(backup), data_dir=data_dir)
        assert done.returncode == 0, done.stderr
        [made] = appliance.sql("SELECT made_at, kek_id FROM backups")
        assert made["kek_id"] == first.kek_id
        await pilot.press("r")  # refresh: the backup is counted under the current key
        await settle(pilot)
        assert table_rows(app, "master-keys") == [
            [first.kek_id, "current", "-", "1", made["made_at"][:10], "-"]]

        await pilot.press("R", "y")  # rotate from the screen: the table follows
        await settle(pilot)
        second = read_key_file(appliance.settings.master_key_path)
        assert second != first
        retired_file = data_dir / f"master.key.retired-{first.kek_id}"
        assert read_key_file(retired_file) == first
        rows = table_rows(app, "master-keys")
        assert rows[0] == [second.kek_id, "current", "-", "0", "-", "-"]
        assert rows[1][:2] == [first.kek_id, "retired"]
        assert rows[1][2] != "-"  # when the rotation retired it (the file's time)
        assert rows[1][3:] == ["1", made["made_at"][:10], "-"]
        assert len(rows) == 2

        backup.unlink()  # moved away: still recorded, no longer where it was written
        await pilot.press("r")
        await settle(pilot)
        assert table_rows(app, "master-keys")[1][3] == "1 (1 moved)"


async def test_an_appliance_without_the_keys_route_says_so_and_lists_the_rest() -> None:
    """An appliance of the version before `GET /api/v1/admin/keys`: the tokens and issuers are
    shown, the master keys table is empty and its heading says why."""
    routes = StubAppliance.full()
    del routes["GET /api/v1/admin/keys"]
    app = stub_app(routes)
    async with app.run_test(size=SIZE) as pilot:
        await open_security(pilot)
        assert table_rows(app, "master-keys") == []
        assert static_text(app, "#master-key").startswith("Master keys unknown: 404")
        assert len(table_rows(app, "tokens")) == 2
        assert len(table_rows(app, "issuers")) == 2
