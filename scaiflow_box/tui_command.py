"""`scaiflow-box tui`: start the operator TUI (the app lives in `tui/`; the CLI declares
the options).

The TUI is a client of the REST API. This command hands it what only the data directory
gives: a token source (a 15-minute service token minted from the data directory, revoked on
exit: `commands/tui_session.py`) and the data-directory tools that work with the server down
(the CLI's own commands: `commands/tui_data_dir.py`). `tui/` itself never imports the
server's services, crypto or config. The CLI imports this module only when `tui` runs, and
Textual and the app only load in `run_tui`, so other sub-commands do not pay for them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from scaiflow_box.config import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from tui.app import ScaiflowAdmin


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def default_url(settings: Settings) -> str:
    """http://{SCAIFLOW_API_HOST}:{SCAIFLOW_API_PORT}; a wildcard bind is reached on loopback."""
    host = settings.api_host
    if host in ("0.0.0.0", ""):  # noqa: S104 - a listen address, mapped to where to connect
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.api_port}"


def cmd_tui(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(
            None, {"data_dir": Path(args.data_dir) if args.data_dir else None})
    except ConfigError as exc:
        for problem in exc.problems:
            _err(f"config error: {problem}")
        return 1
    url = (args.url or default_url(settings)).rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        _err(f"error: --url must be an http(s) URL with a host, got {url!r}")
        return 2
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        _err("error: the TUI needs an interactive terminal")
        return 1
    return run_tui(settings, url=url, sub=args.sub, tenant_id=args.tenant)


@contextmanager
def _logging_through_textual() -> Iterator[None]:
    """While the UI owns the terminal, log records go through Textual (a stream handler
    writing to the real stderr would scribble over the screen)."""
    from textual.logging import TextualHandler

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [TextualHandler()]
    try:
        yield
    finally:
        root.handlers = saved


def run_tui(settings: Settings, *, url: str, sub: str, tenant_id: str,
            run_app: Callable[[ScaiflowAdmin], int | None] | None = None) -> int:
    """Mint the session token, run the app, revoke the session's tokens. Blocking.

    `run_app` runs the app (default `app.run()`); tests pass their own.
    """
    from scaiflow_box.commands.tui_data_dir import CliDataDirTools
    from scaiflow_box.commands.tui_session import LocalTokenSource, SessionTokenError
    from tui.app import ScaiflowAdmin
    from tui.client import AdminClient

    tokens = LocalTokenSource(settings, sub=sub, tenant_id=tenant_id)
    try:
        tokens.prime()
    except SessionTokenError as exc:
        _err(f"error: {exc}")
        return 1
    try:
        app = ScaiflowAdmin(AdminClient(url, tokens),
                            tools=CliDataDirTools(settings.data_dir))
        with _logging_through_textual():
            result = run_app(app) if run_app is not None else app.run()
        return result or 0
    finally:
        try:
            tokens.revoke_all()
        except SessionTokenError as exc:
            _err(f"warning: could not revoke the TUI's session token ({exc}); "
                 "it expires within 15 minutes")
