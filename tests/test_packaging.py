"""Packaging that CI cannot otherwise check before the binary is built: the package is safe to
compile like `python -O`, the spec and hooks name files that exist, install.sh installs
(idempotently) into a prefix, the systemd unit verifies, and the smoke test of the frozen
binary exercises every sub-command the CLI has."""

from __future__ import annotations

import ast
import glob
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from scaiflow_box.api.reference import ASSETS
from tests.test_docs import sub_commands

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
INSTALL = PACKAGING / "install.sh"
UNIT = PACKAGING / "scaiflow-box.service"


def test_no_assert_statements_in_the_shipped_code() -> None:
    """The binary's bytecode is compiled with optimize=1 (scaiflow.spec): asserts vanish, so
    none may stand in for a check."""
    found: list[str] = []
    for package in ("scaiflow_box", "tui"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text("utf-8"), str(path))
            found += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
                      if isinstance(node, ast.Assert)]
    assert found == []


def test_the_spec_collects_existing_data_files() -> None:
    spec = (ROOT / "scaiflow.spec").read_text("utf-8")
    patterns = re.findall(r'ROOT / "([^"]*\*[^"]*)"', spec)
    assert {"scaiflow_box/store/migrations/*.sql", "scaiflow_box/examples/*.flow.json",
            "tui/*.tcss"} <= set(patterns)
    for pattern in patterns:
        assert glob.glob(str(ROOT / pattern)), pattern
    assert "optimize=1" in spec and "runtime_tmpdir=None" in spec


def test_the_swagger_hook_collects_exactly_the_served_assets() -> None:
    hook = (PACKAGING / "hooks" / "hook-swagger_ui_bundle.py").read_text("utf-8")
    [served] = re.findall(r"SERVED = \(([^)]*)\)", hook)
    assert set(re.findall(r'"([^"]+)"', served)) == set(ASSETS) - {"init.js"}


def test_the_smoke_test_runs_every_sub_command() -> None:
    """A new sub-command must be tried from the frozen binary too (packaging/smoke_test.sh)."""
    smoke = (PACKAGING / "smoke_test.sh").read_text("utf-8")
    missing = sorted(command for command in sub_commands()
                     if not re.search(rf"sfb {re.escape(command)}\b", smoke)
                     and f"$BINARY {command} " not in smoke)
    assert missing == []


def fake_binary(path: Path, version: str) -> Path:
    path.write_text(f"#!/bin/sh\necho scaiflow-box {version}\n")
    path.chmod(0o755)
    return path


def install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(INSTALL), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_install_into_a_prefix_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "root"
    binary = fake_binary(tmp_path / "scaiflow-box-linux-test", "1.0")
    first = install("--prefix", str(root), "--binary", str(binary))
    assert first.returncode == 0, first.stderr
    installed = root / "usr/local/bin/scaiflow-box"
    unit = root / "etc/systemd/system/scaiflow-box.service"
    env_file = root / "etc/scaiflow-box/scaiflow-box.env"
    assert installed.read_bytes() == binary.read_bytes() and mode(installed) == 0o755
    assert unit.read_bytes() == UNIT.read_bytes() and mode(unit) == 0o644
    assert mode(env_file) == 0o640 and "SCAIFLOW_METRICS" in env_file.read_text()
    assert "install.sh: scaiflow-box 1.0" in first.stdout  # it ran the installed binary
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["etc/scaiflow-box/scaiflow-box.env",
                     "etc/systemd/system/scaiflow-box.service", "usr/local/bin/scaiflow-box"]

    # Again: nothing changes, and the operator's settings are kept.
    env_file.write_text("SCAIFLOW_API_PORT=9000\n")
    second = install("--prefix", str(root), "--binary", str(binary))
    assert second.returncode == 0, second.stderr
    assert "unchanged: " + str(installed) in second.stdout
    assert "unchanged: " + str(unit) in second.stdout
    assert env_file.read_text() == "SCAIFLOW_API_PORT=9000\n"

    # An upgrade replaces the binary (by rename: a running one is never written over).
    inode = installed.stat().st_ino
    upgrade = install("--prefix", str(root), "--binary",
                      str(fake_binary(tmp_path / "new", "2.0")))
    assert upgrade.returncode == 0, upgrade.stderr
    assert "installed: " + str(installed) in upgrade.stdout
    assert "scaiflow-box 2.0" in upgrade.stdout and installed.stat().st_ino != inode
    assert not list(root.rglob("*.new"))


def test_install_help_prints_its_usage() -> None:
    done = install("--help")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("Install (or upgrade) scaiflow-box on a Linux host")
    for option in ("--binary PATH", "--prefix DIR", "--dry-run", "--no-start", "-h, --help"):
        assert f"  {option}" in done.stdout
    assert "set -eu" not in done.stdout
    assert not [line for line in done.stdout.splitlines() if line.startswith("#")]
    wrong = install("--frobnicate")
    assert (wrong.returncode, wrong.stdout) == (2, "")
    assert wrong.stderr.startswith("install.sh: unknown option --frobnicate\nInstall (or")


def test_the_build_bundles_the_commit_and_build_date() -> None:
    """build.py writes build/build_info.json and hands it to the spec, which bundles it where
    `scaiflow_box/build_info.py` reads it."""
    from scaiflow_box.build_info import BUILD_INFO_FILE

    build = (PACKAGING / "build.py").read_text("utf-8")
    spec = (ROOT / "scaiflow.spec").read_text("utf-8")
    assert f'ROOT / "build" / "{BUILD_INFO_FILE}"' in build
    assert '"SCAIFLOW_BUILD_INFO": str(info_file)' in build
    assert 'BUILD_INFO = os.environ.get("SCAIFLOW_BUILD_INFO")' in spec
    assert 'datas.append((BUILD_INFO, "scaiflow_box"))' in spec


def test_install_dry_run_changes_nothing(tmp_path: Path) -> None:
    binary = fake_binary(tmp_path / "b", "1.0")
    done = install("--prefix", str(tmp_path / "root"), "--binary", str(binary), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "root").exists()
    assert "would run: mv -f" in done.stdout and "would write: " in done.stdout
    system = install("--prefix", "/", "--binary", str(binary), "--dry-run")
    assert system.returncode == 0, system.stderr
    for step in ("useradd --system", "systemctl daemon-reload",
                 "systemctl enable scaiflow-box.service"):
        assert step in system.stdout or "user scaiflow-box exists" in system.stdout, step


def test_install_refuses_without_a_binary(tmp_path: Path) -> None:
    done = install("--prefix", str(tmp_path / "root"), "--binary", str(tmp_path / "missing"))
    assert done.returncode == 1 and "no binary" in done.stderr
    assert install("--frobnicate").returncode == 2


def test_the_unit(tmp_path: Path) -> None:
    text = UNIT.read_text("utf-8")
    for setting in ("User=scaiflow-box", "StateDirectory=scaiflow-box scaiflow-box/tmp",
                    "Environment=SCAIFLOW_DATA_DIR=/var/lib/scaiflow-box",
                    "Environment=TMPDIR=/var/lib/scaiflow-box/tmp", "NoNewPrivileges=yes",
                    "ProtectSystem=strict", "PrivateTmp=yes", "KillSignal=SIGTERM",
                    "ExecStart=/usr/local/bin/scaiflow-box serve"):
        assert setting in text.splitlines(), setting
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit's syntax was not verified")
    # The unit names the installed binary; verify a copy pointing at one that exists here.
    copy = tmp_path / "scaiflow-box.service"
    copy.write_text(text.replace("/usr/local/bin/scaiflow-box", shutil.which("true") or ""))
    done = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "SYSTEMD_LOG_COLOR": "0"})
    assert done.returncode == 0, done.stderr
    # Unknown keys and bad values are warnings (exit 0): none may mention the unit.
    assert "scaiflow-box.service" not in done.stdout + done.stderr, done.stdout + done.stderr


def test_install_names_the_hosts_ca_bundle(tmp_path: Path) -> None:
    """The binary's OpenSSL (Debian's) looks in /usr/lib/ssl; on a RHEL-like host the env file
    points it at the host's bundle."""
    root = tmp_path / "root"
    bundle = root / "etc/pki/tls/certs/ca-bundle.crt"
    bundle.parent.mkdir(parents=True)
    bundle.write_text("")
    done = install("--prefix", str(root), "--binary", str(fake_binary(tmp_path / "b", "1.0")))
    assert done.returncode == 0, done.stderr
    env_file = (root / "etc/scaiflow-box/scaiflow-box.env").read_text()
    assert "\nSSL_CERT_FILE=/etc/pki/tls/certs/ca-bundle.crt\n" in env_file
