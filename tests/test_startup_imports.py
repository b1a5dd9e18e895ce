"""What each sub-command loads at start-up (DESIGN: import time is budgeted): `serve` never
loads the TUI (Textual), and `tui` never loads the server stack (aiohttp's web server, the
route table, the compiler). Measured in fresh processes, as an operator starts them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.test_cli import environment, heavy, run
from tests.test_restore import free_port

SERVER_STACK = ("aiohttp.web", "scaiflow_box.server", "scaiflow_box.app", "scaiflow_box.api",
                "scaiflow_box.http", "scaiflow_box.compiler", "scaiflow_box.services.flows")


def test_serve_does_not_load_the_tui(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "scaiflow_box", "serve", "--port", str(port)],
        env=environment(data), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr[-2000:]
    modules = {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert "scaiflow_box.server" in modules and "aiohttp.web" in modules
    assert heavy(modules, "textual", "tui", "rich", "scaiflow_box.tui_command",
                 "sqlite_utils", "pycrdt") == set()  # pycrdt: on the first live document


def test_tui_does_not_load_the_server_stack(tmp_path: Path) -> None:
    """`run_tui` as the `tui` command calls it, with the app's run replaced (no terminal)."""
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    code = (
        "import json, sys\n"
        "from scaiflow_box.cli import build_parser\n"
        "from scaiflow_box.config import load_settings\n"
        "import scaiflow_box.tui_command as command\n"
        "args = build_parser().parse_args(['tui', '--url', 'http://127.0.0.1:9'])\n"
        "status = command.run_tui(load_settings(), url=args.url, sub=args.sub,\n"
        "                         tenant_id=args.tenant, run_app=lambda app: 0)\n"
        "print(json.dumps({'status': status, 'modules': sorted(sys.modules)}))\n")
    done = subprocess.run([sys.executable, "-c", code], env=environment(data),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    modules = set(result["modules"])
    assert result["status"] == 0
    assert {"textual.app", "tui.app", "scaiflow_box.commands.tui_session"} <= modules
    assert heavy(modules, *SERVER_STACK) == set()
