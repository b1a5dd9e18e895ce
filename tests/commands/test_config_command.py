"""`scaiflow-box config` as a real process: every setting's effective value, secrets masked,
and where it came from; problems listed after the table (exit 1)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from scaiflow_box.config import settings_markdown, settings_table
from tests.cli_process import run

SECRET = "sgk_do_not_print_me_0123456789"
MASTER_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # base64 of bytes 0..31


def table(stdout: str) -> dict[str, tuple[str, str]]:
    """SETTING -> (value, source) from the printed table (columns apart by 2+ spaces)."""
    lines = stdout.splitlines()
    assert re.split(r"\s{2,}", lines[1]) == ["SETTING", "VALUE", "SOURCE"]
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[2:]:
        name, value, source = re.split(r"\s{2,}", line)
        rows[name] = (value, source)
    return rows


def test_values_and_where_they_came_from(tmp_path: Path) -> None:
    env_file = tmp_path / "box.env"
    env_file.write_text("SCAIFLOW_API_PORT=9100\nSCAIFLOW_LOG_LEVEL=debug\n"
                        f"SCAIGRID_API_KEY={SECRET}\n")
    done = run("config", "--data-dir", str(tmp_path / "data"),
               env={"SCAIFLOW_ENV_FILE": str(env_file), "SCAIFLOW_LOG_LEVEL": "warning",
                    "SCAIFLOW_MASTER_KEY": MASTER_KEY,
                    "SCAIFLOW_CORS_ORIGINS": "https://canvas.example/"})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines()[0] == f"env file: {env_file}"
    rows = table(done.stdout)
    assert list(rows) == [row.env for row in settings_table()]
    assert rows["SCAIFLOW_API_PORT"] == ("9100", f"env file {env_file}")
    assert rows["SCAIFLOW_LOG_LEVEL"] == ("warning", "environment")  # the environment wins
    assert rows["SCAIFLOW_DATA_DIR"] == (str(tmp_path / "data"), "command line")
    assert rows["SCAIFLOW_CORS_ORIGINS"] == ("https://canvas.example", "environment")
    assert rows["SCAIGRID_API_KEY"] == ("********", f"env file {env_file}")
    assert rows["SCAIFLOW_MASTER_KEY"] == ("********", "environment")
    assert rows["SCAIFLOW_API_HOST"] == ("127.0.0.1", "default")
    assert rows["SCAIFLOW_API_TOKEN"] == ("-", "default")
    assert rows["SCAIFLOW_MASTER_KEY_FILE"] == ("- (default: <data dir>/master.key)", "default")
    assert SECRET not in done.stdout and MASTER_KEY not in done.stdout
    assert not (tmp_path / "data").exists()  # it needs, and makes, no data directory


def test_problems_follow_the_table(tmp_path: Path) -> None:
    done = run("config", env={"SCAIFLOW_API_PORT": "eighty", "SCAIFLOW_MASTER_KEY": "bad key!",
                              "SCAIFLOW_LOG_LEVEL": "loud"})
    assert done.returncode == 1
    rows = table(done.stdout)
    assert rows["SCAIFLOW_API_PORT"] == ("eighty (invalid)", "environment")
    assert rows["SCAIFLOW_MASTER_KEY"] == ("******** (invalid)", "environment")
    assert done.stderr.splitlines() == [
        "config error: SCAIFLOW_API_PORT: expected a whole number, got 'eighty'",
        "config error: SCAIFLOW_MASTER_KEY: must be the base64 encoding of 32 bytes "
        "(e.g. the output of `head -c 32 /dev/urandom | base64`)",
        "config error: SCAIFLOW_LOG_LEVEL: expected debug, info, warning or error, got 'loud'"]
    assert "bad key!" not in done.stdout + done.stderr


def test_json(tmp_path: Path) -> None:
    done = run("config", "--json", env={"SCAIFLOW_SCAIKEY_CLIENT_SECRET": SECRET,
                                        "SCAIFLOW_METRICS": "yes"})
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["env_file"] is None and body["problems"] == []
    by_name = {row["name"]: row for row in body["settings"]}
    assert by_name["SCAIFLOW_SCAIKEY_CLIENT_SECRET"] == {
        "name": "SCAIFLOW_SCAIKEY_CLIENT_SECRET", "value": "********", "source": "environment",
        "secret": True, "invalid": False, "default": None}
    assert by_name["SCAIFLOW_METRICS"] == {
        "name": "SCAIFLOW_METRICS", "value": "true", "source": "environment", "secret": False,
        "invalid": False, "default": "false"}
    assert by_name["SCAIKEY_AUDIENCE"]["default"] == "client id"
    assert SECRET not in done.stdout


def test_a_missing_env_file_is_one_line(tmp_path: Path) -> None:
    done = run("config", env={"SCAIFLOW_ENV_FILE": str(tmp_path / "nope.env")})
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"config error: SCAIFLOW_ENV_FILE: file not found: {tmp_path}/nope.env\n"


def test_markdown_is_the_docs_table() -> None:
    done = run("config", "--markdown")
    assert done.returncode == 0 and done.stdout == settings_markdown()


def test_version_and_dash_dash_version_agree() -> None:
    version, flag = run("version"), run("--version")
    assert version.returncode == flag.returncode == 0
    assert version.stdout == flag.stdout
    assert version.stdout.startswith("scaiflow-box ") and "(source" in version.stdout
