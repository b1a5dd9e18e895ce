"""`scaiflow-box tui`: options, the default URL, start-up errors, and a whole session
(mint → run the app → quit → revoked)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest

from scaiflow_box import cli
from scaiflow_box.commands.tui_data_dir import CliDataDirTools
from scaiflow_box.config import load_settings
from scaiflow_box.tui_command import cmd_tui, default_url, run_tui
from tests.conftest import Appliance
from tests.tui.helpers import SIZE, base_url, settle, static_text
from tui.app import ScaiflowAdmin


def parser() -> argparse.ArgumentParser:
    return cli.build_parser()


def test_options_and_defaults() -> None:
    args = parser().parse_args(["tui"])
    assert (args.data_dir, args.url, args.sub, args.tenant) == (None, None, "usr_operator",
                                                                "tnt_local")
    assert args.func is cli.cmd_tui
    args = parser().parse_args(["tui", "--data-dir", "/d", "--url", "http://box:8001",
                                "--sub", "usr_alice", "--tenant", "tnt_acme"])
    assert (args.data_dir, args.url, args.sub, args.tenant) == ("/d", "http://box:8001",
                                                                "usr_alice", "tnt_acme")


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:9100"),
    ("0.0.0.0", "http://127.0.0.1:9100"),
    ("::", "http://[::1]:9100"),
    ("10.1.2.3", "http://10.1.2.3:9100"),
])
def test_default_url_follows_the_listen_address(host: str, url: str) -> None:
    settings = load_settings({"SCAIFLOW_API_HOST": host, "SCAIFLOW_API_PORT": "9100",
                              "SCAIFLOW_ENV_FILE": ""})
    assert default_url(settings) == url


def test_bad_url_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("SCAIFLOW_ENV_FILE", "")
    args = parser().parse_args(["tui", "--data-dir", str(tmp_path), "--url", "box:8001"])
    assert cmd_tui(args) == 2
    assert "--url must be an http(s) URL" in capsys.readouterr().err


def test_no_terminal_is_refused(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setenv("SCAIFLOW_ENV_FILE", "")
    args = parser().parse_args(["tui", "--data-dir", str(tmp_path)])
    assert cmd_tui(args) == 1  # pytest's stdin is not a terminal
    assert "needs an interactive terminal" in capsys.readouterr().err


def test_config_errors_are_reported_one_per_line(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SCAIFLOW_ENV_FILE", "")
    monkeypatch.setenv("SCAIFLOW_API_PORT", "nope")
    assert cmd_tui(parser().parse_args(["tui"])) == 1
    assert "config error: SCAIFLOW_API_PORT" in capsys.readouterr().err


def test_a_wrong_data_dir_stops_before_the_ui(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    settings = load_settings({"SCAIFLOW_DATA_DIR": str(tmp_path / "none"),
                              "SCAIFLOW_ENV_FILE": ""})
    started: list[ScaiflowAdmin] = []
    code = run_tui(settings, url="http://127.0.0.1:1", sub="usr_operator",
                   tenant_id="tnt_local", run_app=lambda app: started.append(app) or 0)
    assert code == 1
    assert started == []
    where = (tmp_path / "none").resolve()
    assert capsys.readouterr().err == (
        f"error: {where} is not an initialised scaiflow-box data directory; run "
        f"`scaiflow-box init --data-dir {where}` first\n")
    assert not where.exists()


async def test_a_whole_session_mints_runs_and_revokes(appliance: Appliance) -> None:
    seen: dict[str, object] = {}

    def drive(app: ScaiflowAdmin) -> int | None:
        """Run the real app headless on this thread's own loop and quit with q."""
        async def session() -> None:
            async with app.run_test(size=SIZE) as pilot:
                await settle(pilot)
                seen["whoami"] = static_text(app, "#whoami")
                seen["tools"] = app.tools
                seen["live"] = appliance.sql(
                    "SELECT id FROM service_tokens WHERE created_by = 'tui'"
                    " AND revoked_at IS NULL")
                await pilot.press("q")

        asyncio.run(session())
        return app.return_code

    code = await asyncio.to_thread(run_tui, appliance.settings, url=base_url(appliance),
                                   sub="usr_operator", tenant_id="tnt_local", run_app=drive)
    assert code == 0
    assert "as usr_operator @ tnt_local" in str(seen["whoami"])
    # the data-directory tools are handed in with the token source, on the same directory
    tools = seen["tools"]
    assert isinstance(tools, CliDataDirTools)
    assert tools.data_dir == str(appliance.settings.data_dir.resolve())
    assert len(seen["live"]) == 1  # type: ignore[arg-type]
    rows = appliance.sql("SELECT revoked_at FROM service_tokens WHERE created_by = 'tui'")
    assert len(rows) == 1 and rows[0]["revoked_at"] is not None
