"""The TUI's data-directory tools (`tui.data_dir_tools.DataDirTools`): each runs the CLI
command an operator would type — `scaiflow-box backup FILE --data-dir D` and so on — as a
child process of this very executable.

Running the command itself, not a copy of its insides, keeps one implementation of each
operation (its checks, audit rows and messages), keeps the TUI process free of the server's
services and crypto, and leaves the operation's stdout and stderr to the TUI alone (an
in-process call would write over the terminal Textual owns). Child processes cost a start-up
each (about 0.3 s; an extraction for the one-file binary), which these rare operations can
afford.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from tui.data_dir_tools import ToolOutcome


def cli_command() -> list[str]:
    """How to start `scaiflow-box` again: the one-file binary itself, or this interpreter
    with the package."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    return [sys.executable, "-m", "scaiflow_box"]


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    if getattr(sys, "frozen", False):
        # A new instance of the binary, as when the operator runs it, not a worker that
        # borrows this process's unpacked files (PyInstaller >= 6.10).
        env["PYINSTALLER_RESET_ENVIRONMENT"] = "1"
    return env


class CliDataDirTools:
    def __init__(self, data_dir: Path, *, command: Sequence[str] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self._data_dir = str(data_dir.resolve())
        self._command = list(command or cli_command())
        self._env = child_environment(env)

    @property
    def data_dir(self) -> str:
        return self._data_dir

    async def _run(self, *args: str) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) of `scaiflow-box ARGS --data-dir D`."""
        try:
            process = await asyncio.create_subprocess_exec(
                *self._command, *args, "--data-dir", self._data_dir,
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._env)
        except OSError as exc:
            return 1, "", f"error: cannot run {self._command[0]}: {exc.strerror or exc}"
        try:
            out, err = await process.communicate()
        except asyncio.CancelledError:
            process.kill()
            await process.wait()
            raise
        return process.returncode or 0, out.decode(errors="replace"), \
            err.decode(errors="replace").strip()

    async def _outcome(self, *args: str) -> ToolOutcome:
        code, _, messages = await self._run(*args)
        return ToolOutcome(code == 0, messages or f"exit {code}")

    async def backup(self, target: str) -> ToolOutcome:
        return await self._outcome("backup", target)

    async def restore(self, source: str) -> ToolOutcome:
        return await self._outcome("restore", source)

    async def rotate_master_key(self, *, reencrypt: bool) -> ToolOutcome:
        code, out, messages = await self._run(
            "keys", "rotate", *(["--reencrypt"] if reencrypt else []))
        # stdout holds the new key only when it comes from SCAIFLOW_MASTER_KEY and the
        # rotation committed; after a failure the command says to discard what it printed.
        secret = out.strip() if code == 0 and out.strip() else None
        return ToolOutcome(code == 0, messages or f"exit {code}", secret)

    async def import_jwks(self, path: str, *, issuer: str | None) -> ToolOutcome:
        return await self._outcome("jwks", "import", path,
                                   *(["--issuer", issuer] if issuer else []))

    async def grant_admin(self, user: str, role: str) -> ToolOutcome:
        return await self._outcome("admin", "grant", user, "--role", role)
