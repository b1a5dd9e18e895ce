"""Build the one-file binary: `make binary` runs this with the build venv's Python.

    python packaging/build.py            # dist/scaiflow-box-linux-<arch>
    python packaging/build.py --onedir   # dist/scaiflow-box-linux-<arch>/ (for comparison)

Runs PyInstaller on `scaiflow.spec` from a clean work directory, checks that the result starts
(`version`) and names the commit it was built from, and prints its size and the build time.
The spec holds what goes in; the hooks for third-party packages are in packaging/hooks.

The commit (`git describe`-style, `-dirty` for uncommitted changes) and the build date go into
build/build_info.json, which the spec bundles as `scaiflow_box/build_info.json`
(`scaiflow_box/build_info.py` reads it). The date is now, or SOURCE_DATE_EPOCH when the caller
sets it (a reproducible build).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZE_BUDGET_MB = 60


def git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              timeout=30, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def write_build_info(path: Path) -> dict[str, str]:
    """The commit and build date the binary will report (`scaiflow-box version`)."""
    commit = git("describe", "--always", "--dirty", "--abbrev=12") or "unknown"
    epoch = os.environ.get("SOURCE_DATE_EPOCH")  # the caller's, not our bytecode default
    built = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    info = {"commit": commit, "build_date": built.strftime("%Y-%m-%dT%H:%M:%SZ")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info) + "\n", encoding="utf-8")
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--onedir", action="store_true", help="one-folder build instead")
    parser.add_argument("--dist", default=str(ROOT / "dist"), help="output directory")
    args = parser.parse_args()

    name = f"scaiflow-box-linux-{platform.machine()}"
    dist = Path(args.dist)
    work = ROOT / "build" / ("pyinstaller-onedir" if args.onedir else "pyinstaller")
    shutil.rmtree(work, ignore_errors=True)
    info_file = ROOT / "build" / "build_info.json"
    info = write_build_info(info_file)
    env = {**os.environ, "SCAIFLOW_BUILD_ONEDIR": "1" if args.onedir else "0",
           "SCAIFLOW_BUILD_INFO": str(info_file),
           # Reproducible bytecode timestamps and no user site-packages leaking in.
           "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "1700000000"),
           "PYTHONNOUSERSITE": "1"}
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
                    "--log-level", "WARN", "--workpath", str(work), "--distpath", str(dist),
                    str(ROOT / "scaiflow.spec")], cwd=ROOT, env=env, check=True)
    elapsed = time.monotonic() - started

    target = dist / name
    executable = target / name if args.onedir else target
    if args.onedir:
        size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    else:
        size = target.stat().st_size
    version = subprocess.run([str(executable), "version"], capture_output=True, text=True,
                             check=False, timeout=60)
    if version.returncode != 0 or not version.stdout.startswith("scaiflow-box ") \
            or f"commit {info['commit']}," not in version.stdout:
        print(f"build.py: {executable} does not start:\n{version.stdout}{version.stderr}",
              file=sys.stderr)
        return 1
    print(f"build.py: {target} ({size / 1e6:.1f} MB) built in {elapsed:.0f} s; "
          f"{version.stdout.strip()}")
    if size > SIZE_BUDGET_MB * 1e6:
        print(f"build.py: over the {SIZE_BUDGET_MB} MB budget (docs/performance.md)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
