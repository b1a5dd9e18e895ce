"""The operator docs cannot fall behind the code (after Datasette's tests/test_docs.py):
docs/operations.md's settings table is the one `config.py` declares, and every sub-command of
the CLI is in the README."""

from __future__ import annotations

import argparse
import re
from dataclasses import fields
from pathlib import Path

from scaiflow_box.cli import build_parser
from scaiflow_box.config import Settings, settings_markdown, settings_table

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "scaiflow_box"
OPERATIONS = ROOT / "docs" / "operations.md"
TABLE_START = "<!-- settings-table:"
TABLE_END = "<!-- end of settings-table -->"


def test_the_docs_settings_table_is_the_code_s() -> None:
    """docs/operations.md holds the table `scaiflow-box config --markdown` prints, as is."""
    text = OPERATIONS.read_text()
    start = text.index(TABLE_START)
    block = text[text.index("\n", start) + 1:text.index(TABLE_END)]
    assert block == settings_markdown(), (
        "docs/operations.md's settings table differs from scaiflow_box/config.py: replace it "
        "with the output of `scaiflow-box config --markdown`")


def test_every_setting_is_in_the_table_once() -> None:
    table = settings_table()
    names = [row.env for row in table]
    assert len(names) == len(set(names)) and len(names) >= 36
    # every Settings field is a row, and its default is the row's default, parsed
    assert [row.field_name for row in table] == [f.name for f in fields(Settings)]
    defaults = Settings()
    for row in table:
        assert getattr(defaults, row.field_name) == row.default_value(), row.env
    # and the code reads no variable of ours past the table (SCAIFLOW_ENV_FILE names the
    # file the table's values come from)
    sources = [path.read_text() for path in PACKAGE.rglob("*.py")]
    mentioned = {name for text in sources
                 for name in re.findall(r"\b(?:SCAIFLOW|SCAIKEY|SCAIGRID)_[A-Z_]+\b", text)}
    # Python names of ours that happen to look alike (error codes: `SCAIGRID_AUTH = ...`)
    identifiers = {name for text in sources
                   for name in re.findall(r"(?m)^((?:SCAIFLOW|SCAIKEY|SCAIGRID)_[A-Z_]+)\s*[:=]",
                                          text)}
    assert sorted(mentioned - identifiers - set(names)) == ["SCAIFLOW_ENV_FILE"]
    documented = OPERATIONS.read_text()
    assert "`SCAIFLOW_ENV_FILE`" in documented


def test_secrets_are_kept_out_of_reprs() -> None:
    secret = {row.field_name for row in settings_table() if row.secret}
    assert secret == {"master_key", "scaikey_client_secret", "scaikey_webhook_secret",
                      "api_token", "scaigrid_api_key"}
    assert {f.name for f in fields(Settings) if not f.repr} == secret


def sub_commands() -> set[str]:
    found: set[str] = set()
    parser = build_parser()

    def walk(p: argparse.ArgumentParser, prefix: str) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    full = f"{prefix} {name}".strip()
                    found.add(full)
                    walk(child, full)

    walk(parser, "")
    return found


def test_every_cli_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = sub_commands()
    assert {"serve", "init", "token mint", "validate", "tui"} <= commands

    def documented(command: str) -> bool:
        group, _, action = command.partition(" ")
        for line in readme.splitlines():
            if f"scaiflow-box {command}" in line:
                return True
            # `scaiflow-box jwks import FILE | jwks show`: the group's line names the action
            if action and f"scaiflow-box {group} " in line and f" {action}" in line:
                return True
        return False

    assert sorted(c for c in commands if not documented(c)) == []
