"""The operator docs cannot fall behind the code (after Datasette's tests/test_docs.py):
every setting the configuration reads is in docs/operations.md, every sub-command of the
CLI is in the README."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from scaiflow_box.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "scaiflow_box" / "config.py"


def settings_read_by_config() -> set[str]:
    return set(re.findall(r'"((?:SCAIFLOW|SCAIKEY|SCAIGRID)_[A-Z_]+)"', CONFIG.read_text()))


def test_every_setting_is_documented() -> None:
    documented = (ROOT / "docs" / "operations.md").read_text()
    settings = settings_read_by_config()
    assert len(settings) >= 28
    missing = sorted(name for name in settings if f"`{name}`" not in documented)
    assert missing == []


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
