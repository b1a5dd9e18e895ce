"""Running `python -m scaiflow_box` as a real process, as an operator would, in a hermetic
environment (no appliance setting of the caller's, no env file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def environment(data_dir: Path | None = None, env: dict[str, str] | None = None,
                ) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("SCAIFLOW_", "SCAIKEY_",
                                                                         "SCAIGRID_"))}
    environ["SCAIFLOW_ENV_FILE"] = ""
    if data_dir is not None:
        environ["SCAIFLOW_DATA_DIR"] = str(data_dir)
    environ.update(env or {})
    return environ


def run(*args: str, data_dir: Path | None = None, env: dict[str, str] | None = None,
        python_flags: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *python_flags, "-m", "scaiflow_box", *args],
                          env=environment(data_dir, env), capture_output=True, text=True,
                          timeout=60, check=False)
