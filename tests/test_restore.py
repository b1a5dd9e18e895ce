"""`scaiflow-box restore FILE` as a real process (SPEC §19.1, §20): a backup comes back whole,
the replaced database is kept aside, and every unsafe restore is refused with one line and
nothing changed."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.test_cli import environment, run


def tokens(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT sub FROM service_tokens")}
    finally:
        conn.close()


def mint(data: Path, sub: str) -> None:
    minted = run("token", "mint", "--sub", sub, "--tenant", "tnt_local", data_dir=data)
    assert minted.returncode == 0, minted.stderr


def initialised_with_backup(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    mint(data, "usr_before")
    backup = tmp_path / "backup.db"
    done = run("backup", str(backup), data_dir=data)
    assert done.returncode == 0, done.stderr
    mint(data, "usr_after")  # only in the live database
    return data, backup


def leftovers(data: Path) -> list[str]:
    return sorted(p.name for p in data.iterdir() if ".restore-" in p.name)


def test_restore_brings_the_backup_back_and_keeps_the_old_database(tmp_path: Path) -> None:
    data, backup = initialised_with_backup(tmp_path)
    done = run("restore", str(backup), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert tokens(data / "scaiflow.db") == {"usr_before"}
    [aside] = [p for p in data.iterdir() if ".before-restore-" in p.name]
    assert re.fullmatch(r"scaiflow\.db\.before-restore-\d{8}T\d{6}Z", aside.name)
    assert tokens(aside) == {"usr_before", "usr_after"}  # self-contained: its WAL folded in
    assert f"kept as {aside}" in done.stderr
    assert leftovers(data) == []
    assert oct((data / "scaiflow.db").stat().st_mode & 0o777) == "0o600"
    # The restored database serves: the CLI opens it with the same master key.
    mint(data, "usr_again")
    assert tokens(data / "scaiflow.db") == {"usr_before", "usr_again"}


def beside(path: Path) -> list[str]:
    """Files next to `path` whose names extend it (SQLite's -wal, -shm, -journal)."""
    return sorted(p.name for p in path.parent.iterdir()
                  if p.name.startswith(path.name) and p.name != path.name)


def test_backups_and_copies_kept_aside_are_private_single_files(tmp_path: Path) -> None:
    data, backup = initialised_with_backup(tmp_path)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert beside(backup) == []
    # Reading the backup (as the restore check and an operator's sqlite3 do) leaves nothing.
    conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    assert conn.execute("SELECT count(*) FROM service_tokens").fetchone() == (1,)
    conn.close()
    assert beside(backup) == []
    done = run("restore", str(backup), data_dir=data)
    assert done.returncode == 0, done.stderr
    [aside] = [p for p in data.iterdir() if ".before-restore-" in p.name]
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600
    assert beside(aside) == []
    assert tokens(aside) == {"usr_before", "usr_after"}
    assert beside(aside) == []


def test_backup_into_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    target = tmp_path / "no" / "such" / "dir" / "b.db"
    done = run("backup", str(target), data_dir=data)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"error: cannot write {target}: {target.parent} is not a directory "
                           "(create it first)\n")
    assert not (tmp_path / "no").exists()


def test_a_wal_left_by_a_crash_goes_aside_with_the_old_database(tmp_path: Path) -> None:
    data, backup = initialised_with_backup(tmp_path)
    # A process that died with committed rows still in the WAL (no checkpoint at close).
    code = ("import sqlite3, os, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('PRAGMA journal_mode=WAL'); c.execute('PRAGMA wal_autocheckpoint=0')\n"
            "c.execute(\"UPDATE service_tokens SET sub = 'usr_in_wal' WHERE sub = 'usr_after'\")\n"
            "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code, str(data / "scaiflow.db")], check=True)
    assert (data / "scaiflow.db-wal").stat().st_size > 0
    done = run("restore", str(backup), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert tokens(data / "scaiflow.db") == {"usr_before"}  # the old WAL was not replayed
    [aside] = [p for p in data.iterdir() if p.name.endswith(tuple("0123456789Z"))
               and ".before-restore-" in p.name]
    assert tokens(aside) == {"usr_before", "usr_in_wal"}


def test_restore_into_a_fresh_data_dir_with_only_the_master_key(tmp_path: Path) -> None:
    """Disaster recovery: a new host gets the binary, the master key and the backup."""
    data, backup = initialised_with_backup(tmp_path)
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o700)
    (fresh / "master.key").write_bytes((data / "master.key").read_bytes())
    (fresh / "master.key").chmod(0o600)
    done = run("restore", str(backup), data_dir=fresh)
    assert done.returncode == 0, done.stderr
    assert "kept as" not in done.stderr
    assert tokens(fresh / "scaiflow.db") == {"usr_before"}
    users = run("admin", "users", data_dir=fresh)
    assert users.returncode == 0 and "usr_operator" in users.stdout


def test_restore_with_the_master_key_in_the_environment(tmp_path: Path) -> None:
    data, backup = initialised_with_backup(tmp_path)
    key = (data / "master.key").read_text().strip()
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o700)
    done = run("restore", str(backup), data_dir=fresh, env={"SCAIFLOW_MASTER_KEY": key})
    assert done.returncode == 0, done.stderr
    assert not (fresh / "master.key").exists()
    assert tokens(fresh / "scaiflow.db") == {"usr_before"}


def refused(tmp_path: Path, data: Path, backup: Path, message: str) -> None:
    before = (data / "scaiflow.db").read_bytes() if (data / "scaiflow.db").exists() else None
    done = run("restore", str(backup), data_dir=data)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error: ") and message in line, line
    if before is not None:
        assert (data / "scaiflow.db").read_bytes() == before
    assert not [p for p in data.iterdir() if ".before-restore-" in p.name]
    assert leftovers(data) == []


def test_refuses_a_backup_with_a_newer_schema(tmp_path: Path) -> None:
    data, backup = initialised_with_backup(tmp_path)
    conn = sqlite3.connect(backup)
    conn.execute("INSERT INTO schema_migrations (version, name, applied_at)"
                 " VALUES (999, 'from_the_future', 'x')")
    conn.commit()
    conn.close()
    refused(tmp_path, data, backup, "schema version 999, newer than this binary knows")


def test_refuses_a_damaged_backup(tmp_path: Path) -> None:
    data, backup = initialised_with_backup(tmp_path)
    conn = sqlite3.connect(backup)
    conn.execute("CREATE TABLE filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(200)])
    conn.execute("CREATE INDEX filler_x ON filler (x)")
    conn.commit()
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    [root] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'filler_x'").fetchone()
    conn.close()
    raw = bytearray(backup.read_bytes())
    start = (root - 1) * page_size
    raw[start:start + page_size] = os.urandom(page_size)  # the index's root page is garbage
    backup.write_bytes(bytes(raw))
    refused(tmp_path, data, backup, "the backup fails SQLite's integrity check: ")


def test_refuses_what_is_not_a_scaiflow_database(tmp_path: Path) -> None:
    data, _ = initialised_with_backup(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 200)
    refused(tmp_path, data, junk, "is not a readable SQLite database")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    refused(tmp_path, data, other, "not a scaiflow-box one")
    refused(tmp_path, data, tmp_path / "missing.db", "is not a file")


def test_refuses_when_the_master_key_does_not_open_the_backup(tmp_path: Path) -> None:
    data, backup = initialised_with_backup(tmp_path)
    (data / "master.key").write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    refused(tmp_path, data, backup, "this backup needs the master key kek ")


def test_refuses_without_a_master_key_or_a_data_dir(tmp_path: Path) -> None:
    data, backup = initialised_with_backup(tmp_path)
    (data / "master.key").unlink()
    refused(tmp_path, data, backup, "a backup does not contain it")
    done = run("restore", str(backup), data_dir=tmp_path / "nowhere")
    assert done.returncode == 1 and "does not exist" in done.stderr
    assert not (tmp_path / "nowhere").exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_refuses_while_a_server_holds_the_data_dir(tmp_path: Path) -> None:
    data, backup = initialised_with_backup(tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "scaiflow_box", "serve", "--port", str(port)],
        env=environment(data), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        refused(tmp_path, data, backup, "a scaiflow-box server (or another restore) is using")
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    # Stopped: now it restores.
    assert run("restore", str(backup), data_dir=data).returncode == 0


def test_with_an_env_key_a_retired_key_saved_beside_it_opens_old_backups(
        tmp_path: Path) -> None:
    """SCAIFLOW_MASTER_KEY is never written to disk, so a rotation retires nothing; the
    operator who kept the old value saves it as master.key.retired-<kek id> (0600) and the
    backup restores, re-wrapped under the key in the environment."""
    data, backup = initialised_with_backup(tmp_path)
    old = (data / "master.key").read_text().strip()
    (data / "master.key").unlink()  # from now on the key lives in the environment only
    rotated = run("keys", "rotate", data_dir=data, env={"SCAIFLOW_MASTER_KEY": old})
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    env = {"SCAIFLOW_MASTER_KEY": new}
    assert not [p for p in data.iterdir() if "master.key" in p.name]
    with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as conn:
        [(old_kek,)] = conn.execute("SELECT value FROM meta WHERE `key` = 'kek_id'")
    before = (data / "scaiflow.db").read_bytes()
    missing = run("restore", str(backup), data_dir=data, env=env)
    assert missing.returncode == 1
    assert f"no retired key kek {old_kek} is kept beside {data / 'master.key'}" in \
        missing.stderr
    kept = data / f"master.key.retired-{old_kek}"
    kept.write_text(old + "\n")
    kept.chmod(0o644)
    too_open = run("restore", str(backup), data_dir=data, env=env)
    assert too_open.returncode == 1
    assert too_open.stderr.endswith(f"run `chmod 600 {kept}`\n")
    assert (data / "scaiflow.db").read_bytes() == before and leftovers(data) == []
    kept.chmod(0o600)
    done = run("restore", str(backup), data_dir=data, env=env)
    assert done.returncode == 0, done.stderr
    assert f"retired master key kek {old_kek}" in done.stderr
    users = run("admin", "users", data_dir=data, env=env)  # the env key opens it now
    assert users.returncode == 0 and "usr_operator" in users.stdout
    assert tokens(data / "scaiflow.db") == {"usr_before"}
