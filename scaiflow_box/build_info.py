"""Which build is running: the version, and for a binary the commit and build date.

`packaging/build.py` writes them into `build_info.json`, which `scaiflow.spec` bundles next to
this module. From a source checkout there is no such file: the commit is what `git describe`
says when git and the checkout's `.git` are there, else unknown ("source").

Standard library only, and git is asked once per process: `scaiflow-box version` must stay
fast (tests/test_cli.py budgets its imports).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from scaiflow_box import __version__

BUILD_INFO_FILE = "build_info.json"
_PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class BuildInfo:
    version: str
    commit: str | None  # e.g. "b149909a1c2d" or "b149909-dirty"; None when unknown
    build_date: str | None  # RFC 3339 UTC; None for a source checkout
    origin: str  # "binary" (built by packaging/build.py) or "source"

    def describe(self) -> str:
        """One line: `scaiflow-box 0.1.0 (commit …, built …)`."""
        if self.origin == "binary":
            return (f"scaiflow-box {self.version} (commit {self.commit or 'unknown'}, "
                    f"built {self.build_date or 'unknown'})")
        if self.commit:
            return f"scaiflow-box {self.version} (source, git {self.commit})"
        return f"scaiflow-box {self.version} (source)"


def _git_describe(checkout: Path) -> str | None:
    git = shutil.which("git")
    if git is None or not (checkout / ".git").exists():  # no git, or not a checkout
        return None
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [git, "-C", str(checkout), "describe", "--always", "--dirty", "--abbrev=12"],
            capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    described = done.stdout.strip()
    return described if done.returncode == 0 and described else None


def read_build_info(package_dir: Path = _PACKAGE_DIR) -> BuildInfo:
    try:
        recorded = json.loads((package_dir / BUILD_INFO_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        recorded = None
    if isinstance(recorded, dict):
        return BuildInfo(__version__, _text(recorded.get("commit")),
                         _text(recorded.get("build_date")), "binary")
    return BuildInfo(__version__, _git_describe(package_dir.parent), None, "source")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@cache
def build_info() -> BuildInfo:
    """This process's build (read once)."""
    return read_build_info()
