"""`scaiflow-box catalog list|export|import` as real processes (SPEC §20): packages carried
between two data directories, export giving exactly the stored bytes, every refusal exit 1
with one line and nothing stored, and a backup/restore that brings the catalog back."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.packages.builders import (
    flow_members,
    load_example,
    package_archive,
    package_json,
    zip_of,
)
from tests.test_cli import environment, run

TENANT = "tnt_local"


def initialised(path: Path) -> Path:
    done = run("init", data_dir=path)
    assert done.returncode == 0, done.stderr
    return path


def rows(data: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"file:{data / 'scaiflow.db'}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in conn.execute(query, params)]
    finally:
        conn.close()


def catalog_counts(data: Path) -> tuple[int, int, int]:
    [counts] = rows(data, "SELECT (SELECT count(*) FROM catalog_packages),"
                          " (SELECT count(*) FROM catalog_versions),"
                          " (SELECT count(*) FROM audit_log WHERE action LIKE 'package.%')")
    return counts  # type: ignore[return-value]


@pytest.fixture
def package_file(tmp_path: Path) -> Path:
    """A package another tool made (deflated, indented, its own author and tenant)."""
    path = tmp_path / "hello.scaipkg"
    path.write_bytes(package_archive(flow_members(load_example("customer-support"),
                                                  package_id="support"),
                                     package_id="support", name="Support"))
    return path


def test_import_list_export_and_carry_to_another_box(tmp_path: Path, package_file: Path) -> None:
    box_a, box_b = initialised(tmp_path / "a"), initialised(tmp_path / "b")
    imported = run("catalog", "import", str(package_file), "--tenant", TENANT, data_dir=box_a)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == "support@0.1.0\n"
    assert imported.stderr == "imported support@0.1.0 into tnt_local (author usr_maker)\n"
    [(author, tenant)] = rows(box_a, "SELECT author_id, tenant_id FROM catalog_packages")
    assert (author, tenant) == ("usr_maker", TENANT)  # the operator keeps the author
    [(actor, details)] = rows(box_a, "SELECT actor, details FROM audit_log"
                                     " WHERE action = 'package.imported'")
    assert actor == "cli" and json.loads(str(details))["via"] == "cli"

    listed = run("catalog", "list", data_dir=box_a)
    assert listed.returncode == 0, listed.stderr
    header, line = listed.stdout.splitlines()
    assert header.split() == ["TENANT", "PACKAGE", "VERSION", "VISIBILITY", "AUTHOR",
                              "UPDATED", "NAME"]
    assert line.split()[:5] == [TENANT, "support", "0.1.0", "tenant", "usr_maker"]
    assert line.endswith(" Support")
    assert run("catalog", "list", "--tenant", "tnt_other", data_dir=box_a).stdout \
        .splitlines()[1:] == []

    exported = tmp_path / "support.scaipkg"
    done = run("catalog", "export", "support", str(exported), "--tenant", TENANT, data_dir=box_a)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    [(stored, sha256)] = rows(box_a, "SELECT scaipkg, sha256 FROM catalog_versions")
    assert exported.read_bytes() == stored
    assert hashlib.sha256(exported.read_bytes()).hexdigest() == sha256
    assert f"sha256 {sha256}" in done.stderr

    moved = run("catalog", "import", str(exported), "--tenant", TENANT, data_dir=box_b)
    assert moved.returncode == 0 and moved.stdout == "support@0.1.0\n", moved.stderr
    [(stored_b, sha_b)] = rows(box_b, "SELECT scaipkg, sha256 FROM catalog_versions")
    assert (stored_b, sha_b) == (stored, sha256)  # same tenant, same author: same bytes
    # exporting to stdout gives the same bytes again
    again = run_bytes(box_b, "catalog", "export", "support@0.1.0", "-", "--tenant", TENANT)
    assert again == stored


def run_bytes(data: Path, *args: str) -> bytes:
    """A command whose stdout is binary."""
    done = subprocess.run([sys.executable, "-m", "scaiflow_box", *args],
                          env=environment(data), capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_importing_the_same_file_twice_changes_nothing(tmp_path: Path,
                                                       package_file: Path) -> None:
    data = initialised(tmp_path / "data")
    assert run("catalog", "import", str(package_file), "--tenant", TENANT,
               data_dir=data).returncode == 0
    exported = tmp_path / "out.scaipkg"
    assert run("catalog", "export", "support", str(exported), "--tenant", TENANT,
               data_dir=data).returncode == 0
    for path in (package_file, exported):
        again = run("catalog", "import", str(path), "--tenant", TENANT, data_dir=data)
        assert again.returncode == 0 and again.stdout == "support@0.1.0\n"
        assert "nothing changed" in again.stderr
    assert catalog_counts(data) == (1, 1, 1)


def _hostile(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    members = flow_members()
    cases = {
        "dot-dot": (zip_of([("package.json", b"{}"), ("../../etc/cron.d/x", b"x")]),
                    "error: archive_unsafe: member name '../../etc/cron.d/x' contains '..'"),
        "not a zip": (b"plain text", "error: invalid_archive: not a readable zip archive"),
        "schema": (package_archive(members, flowgraph_schema_version=7),
                   "error: package.json.flowgraph_schema_version: the package's FlowGraph "
                   "schema version 7 is newer than this appliance reads (2)"),
        "tampered": (zip_of([("package.json", json.dumps({
            **json.loads(package_json(members)), "members": {
                "flow.json": {"sha256": "0" * 64, "size_bytes": 1}}}).encode()),
            ("flow.json", members["flow.json"])]),
            "error: package_integrity: the package fails its integrity check: flow.json does "
            "not match"),
        "bomb": (zip_of([("README.md", bytes(4 * 1024 * 1024))]),
                 "error: archive_too_large: member 'README.md' expands"),
    }
    broken = load_example("hello-world")
    broken["edges"][0]["source"]["port"] = "out_typo"
    cases["compile"] = (package_archive(flow_members_unchecked(broken)),
                        "error: compile_error: the flow does not compile, so no package was "
                        "made: edge")
    paths = {}
    for name, (data, line) in cases.items():
        path = tmp_path / f"{name}.scaipkg"
        path.write_bytes(data)
        paths[name] = (path, line)
    return paths


def flow_members_unchecked(content: dict[str, object]) -> dict[str, bytes]:
    """flow.json only (a flow that does not compile has no manifest)."""
    return {"flow.json": json.dumps(content).encode()}


def test_every_refusal_is_exit_1_one_line_nothing_stored(tmp_path: Path) -> None:
    data = initialised(tmp_path / "data")
    for name, (path, line) in _hostile(tmp_path).items():
        done = run("catalog", "import", str(path), "--tenant", TENANT, data_dir=data)
        assert done.returncode == 1, name
        assert done.stdout == "", name
        assert len(done.stderr.splitlines()) == 1, (name, done.stderr)
        assert done.stderr.startswith(line), (name, done.stderr)
    assert catalog_counts(data) == (0, 0, 0)
    assert sorted(p.name for p in data.iterdir() if not p.name.startswith("scaiflow.")) == [
        "master.key"]


def test_operator_mistakes_are_exit_1_one_line(tmp_path: Path, package_file: Path) -> None:
    data = initialised(tmp_path / "data")
    big = tmp_path / "big.scaipkg"
    big.write_bytes(b"\0" * (8 * 1024 * 1024 + 1))
    existing = tmp_path / "exists.scaipkg"
    existing.write_bytes(b"keep me")
    cases = [
        (["catalog", "import", str(package_file), "--tenant", "tnt_nowhere"],
         "error: no tenant tnt_nowhere on this box"),
        (["catalog", "import", str(tmp_path / "missing.scaipkg"), "--tenant", TENANT],
         "error: cannot read"),
        (["catalog", "import", str(big), "--tenant", TENANT],
         "error: archive_too_large: "),
        (["catalog", "export", "support", str(tmp_path / "x.scaipkg"), "--tenant", TENANT],
         "error: no package 'support' in tenant tnt_local"),
    ]
    for args, line in cases:
        done = run(*args, data_dir=data)
        assert (done.returncode, done.stdout) == (1, ""), done.stderr
        assert done.stderr.startswith(line) and len(done.stderr.splitlines()) == 1, done.stderr
    assert run("catalog", "import", str(package_file), "--tenant", TENANT,
               data_dir=data).returncode == 0
    for args, line in [
            (["catalog", "export", "support@9.9.9", str(tmp_path / "y"), "--tenant", TENANT],
             "error: package 'support' has no version 9.9.9"),
            (["catalog", "export", "support", str(existing), "--tenant", TENANT],
             f"error: cannot write {existing}: File exists")]:
        done = run(*args, data_dir=data)
        assert (done.returncode, done.stdout) == (1, "") and done.stderr.startswith(line), \
            done.stderr
    assert existing.read_bytes() == b"keep me" and not (tmp_path / "y").exists()
    usage = run("catalog", "export", "support", str(tmp_path / "z"), data_dir=data)
    assert usage.returncode == 2 and "--tenant" in usage.stderr


def test_backup_and_restore_keep_the_catalog(tmp_path: Path, package_file: Path) -> None:
    data = initialised(tmp_path / "data")
    assert run("catalog", "import", str(package_file), "--tenant", TENANT,
               data_dir=data).returncode == 0
    [(before,)] = rows(data, "SELECT scaipkg FROM catalog_versions")
    backup = tmp_path / "backup.db"
    assert run("backup", str(backup), data_dir=data).returncode == 0
    later = tmp_path / "later.scaipkg"
    later.write_bytes(package_archive(flow_members(package_id="later"), package_id="later"))
    assert run("catalog", "import", str(later), "--tenant", TENANT, data_dir=data).returncode == 0
    restored = run("restore", str(backup), data_dir=data)
    assert restored.returncode == 0, restored.stderr
    listed = run("catalog", "list", data_dir=data).stdout.splitlines()[1:]
    assert [line.split()[1] for line in listed] == ["support"]
    out = tmp_path / "after.scaipkg"
    assert run("catalog", "export", "support", str(out), "--tenant", TENANT,
               data_dir=data).returncode == 0
    assert out.read_bytes() == before
