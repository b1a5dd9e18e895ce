"""The master key with real processes (SPEC §19.2, §20): a wrong key stops `serve`, `init` and
the commands that open the data directory with one line and exit 1; `keys rotate
[--reencrypt]` followed by a restart keeps every secret readable; a rotation killed after its
commit (before the rename) is finished by the next start, one killed before its commit leaves
nothing behind."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scaiflow_box.crypto.envelope import MasterKey, read_key_file
from tests.contract.served import OPERATOR, ServedAppliance
from tests.test_cli import environment, run

CREDS = "/api/v1/tenants/me/scaigrid_credentials"
KEY = "sgk_process_test_key_0123456789"


def served(tmp_path: Path) -> ServedAppliance:
    return ServedAppliance(data_dir=tmp_path / "data", log_path=tmp_path / "server.log",
                           env={"SCAIFLOW_UPSTREAM_ALLOW": "grid.example"})


def db_kek(data: Path) -> str:
    import sqlite3

    conn = sqlite3.connect(f"file:{data / 'scaiflow.db'}?mode=ro", uri=True)
    try:
        return str(conn.execute("SELECT value FROM meta WHERE `key` = 'kek_id'").fetchone()[0])
    finally:
        conn.close()


def set_and_stop(app: ServedAppliance) -> None:
    """Start the appliance, store a tenant key through the API, stop it (exit 0)."""
    app.start()
    token, _ = app.mint(OPERATOR)
    app.expect(204, "POST", CREDS, token=token,
               json_body={"api_key": KEY, "base_url": "https://grid.example"})
    assert app.stop() == 0


def assert_readable(app: ServedAppliance) -> None:
    app.start()
    try:
        token, _ = app.mint(OPERATOR)
        assert app.expect(200, "GET", CREDS, token=token) == {
            "configured": True, "base_url": "https://grid.example", "masked_key": "sgk_…6789"}
    finally:
        assert app.stop() == 0


def mismatch_line(data: Path, held: MasterKey, needed: str) -> str:
    return (f"error: the master key in {data / 'master.key'} (kek {held.kek_id}) does not "
            f"unwrap the data keys of this database (kek {needed}); restore the right "
            "master.key (the one this database was last rotated with)\n")


def test_a_wrong_master_key_stops_serve_init_and_commands_with_one_line(
        tmp_path: Path) -> None:
    app = served(tmp_path)
    set_and_stop(app)
    data = app.data_dir
    right = (data / "master.key").read_bytes()
    needed = db_kek(data)
    wrong = MasterKey.generate()
    (data / "master.key").write_text(wrong.to_base64() + "\n")
    def files() -> list[str]:  # SQLite's -wal/-shm come and go with connections
        # A server's lock file (store/dir_lock.py) is not data: `serve` makes it first.
        return sorted(p.name for p in data.iterdir()
                      if not p.name.endswith(("-wal", "-shm")) and p.name != "scaiflow.lock")

    before = files()
    expected = mismatch_line(data, wrong, needed)
    for args in (("serve", "--port", "9"), ("init",), ("token", "mint", "--sub", "a",
                                                       "--tenant", "t"), ("admin", "users"),
                 ("keys", "rotate")):
        result = run(*args, data_dir=data)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stdout == ""
        assert result.stderr == expected, args
        assert wrong.to_base64() not in result.stderr
    assert files() == before == ["master.key", "scaiflow.db"]
    assert db_kek(data) == needed  # nothing was rotated or rewritten
    (data / "master.key").write_bytes(right)
    assert_readable(app)


@pytest.mark.parametrize("reencrypt", [False, True])
def test_keys_rotate_then_restart_keeps_every_secret_readable(tmp_path: Path,
                                                              reencrypt: bool) -> None:
    app = served(tmp_path)
    set_and_stop(app)
    data = app.data_dir
    old = read_key_file(data / "master.key")
    args = ("keys", "rotate", "--reencrypt") if reencrypt else ("keys", "rotate")
    result = run(*args, data_dir=data)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    new = read_key_file(data / "master.key")
    assert new != old and db_kek(data) == new.kek_id
    assert f"kek {new.kek_id}" in result.stderr and "back it up" in result.stderr
    assert ("2 secret(s) re-encrypted" in result.stderr) == reencrypt  # key and base URL
    assert not (data / "master.key.new").exists()
    assert_readable(app)
    backup = run("backup", str(tmp_path / "copy.db"), data_dir=data)
    assert backup.returncode == 0 and f"under master key kek {new.kek_id}" in backup.stderr


CRASH_AFTER_COMMIT = """
import os, sys
from scaiflow_box.crypto.master_key import MasterKeySource
MasterKeySource.promote = lambda self, key: os._exit(9)  # the machine stops here
from scaiflow_box.cli import main
sys.exit(main(sys.argv[1:]))
"""

CRASH_BEFORE_COMMIT = """
import os, sys
from scaiflow_box.services import key_rotation
key_rotation.rewrap_database = lambda *a, **k: os._exit(9)  # staged, not committed
from scaiflow_box.cli import main
sys.exit(main(sys.argv[1:]))
"""


def crash(script: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script, "keys", "rotate", "--reencrypt"],
                          env=environment(data), capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_rotation_killed_after_its_commit_is_finished_by_the_next_start(
        tmp_path: Path) -> None:
    app = served(tmp_path)
    set_and_stop(app)
    data = app.data_dir
    old = read_key_file(data / "master.key")
    killed = crash(CRASH_AFTER_COMMIT, data)
    assert killed.returncode == 9, killed.stderr
    staged = read_key_file(data / "master.key.new")
    assert read_key_file(data / "master.key") == old  # not renamed...
    assert db_kek(data) == staged.kek_id  # ...but committed
    # Any command that opens the data directory finishes it (here: token mint).
    result = run("token", "mint", "--sub", "ci", "--tenant", "tnt_local", data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "finished an interrupted key rotation" in result.stderr
    assert read_key_file(data / "master.key") == staged
    assert not (data / "master.key.new").exists()
    assert_readable(app)


def test_serve_finishes_an_interrupted_rotation_too(tmp_path: Path) -> None:
    app = served(tmp_path)
    set_and_stop(app)
    data = app.data_dir
    assert crash(CRASH_AFTER_COMMIT, data).returncode == 9
    staged = read_key_file(data / "master.key.new")
    assert_readable(app)  # `serve` starts, finishing the rotation
    assert read_key_file(data / "master.key") == staged
    assert "finished an interrupted key rotation" in app.log()


def test_a_rotation_killed_before_its_commit_leaves_nothing_behind(tmp_path: Path) -> None:
    app = served(tmp_path)
    set_and_stop(app)
    data = app.data_dir
    old = read_key_file(data / "master.key")
    kek = db_kek(data)
    killed = crash(CRASH_BEFORE_COMMIT, data)
    assert killed.returncode == 9, killed.stderr
    assert (data / "master.key.new").exists()  # staged, never used
    result = run("admin", "users", data_dir=data)
    assert result.returncode == 0, result.stderr
    assert "removed" in result.stderr and "never committed" in result.stderr
    assert not (data / "master.key.new").exists()
    assert read_key_file(data / "master.key") == old and db_kek(data) == kek
    assert_readable(app)


def test_a_master_key_open_to_group_or_others_stops_start_up(tmp_path: Path) -> None:
    """As OpenSSH refuses a private key others can read (the modes: tests/crypto)."""
    mode = 0o640
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    key = data / "master.key"
    key.chmod(mode)
    db_before = (data / "scaiflow.db").read_bytes()
    expected = (f"error: master key file {key} is accessible by group or others (mode "
                f"{mode:04o}); a master key must be readable by its owner only: run "
                f"`chmod 600 {key}`\n")
    for args in (("serve", "--port", "9"), ("init",), ("token", "mint", "--sub", "ci",
                                                       "--tenant", "tnt_local"),
                 ("admin", "users"), ("keys", "rotate"), ("backup", str(tmp_path / "b.db"))):
        result = run(*args, data_dir=data)
        assert (result.returncode, result.stdout, result.stderr) == (1, "", expected), args
    assert stat.S_IMODE(key.stat().st_mode) == mode  # never "fixed" behind the operator
    assert (data / "scaiflow.db").read_bytes() == db_before
    assert not (tmp_path / "b.db").exists()
    key.chmod(0o600)
    assert run("token", "mint", "--sub", "ci", "--tenant", "tnt_local",
               data_dir=data).returncode == 0


def retired(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in data.iterdir() if ".retired-" in p.name}


def test_backups_taken_before_rotations_still_restore(tmp_path: Path) -> None:
    """The old keys are kept (SPEC §19.2): a backup from two rotations ago restores, re-wrapped
    under the current key, and the secret set before it reads back."""
    app = served(tmp_path)
    set_and_stop(app)
    data = app.data_dir
    first = read_key_file(data / "master.key")
    backup = tmp_path / "before.db"
    assert run("backup", str(backup), data_dir=data).returncode == 0
    assert run("keys", "rotate", data_dir=data).returncode == 0
    second = read_key_file(data / "master.key")
    assert run("keys", "rotate", "--reencrypt", data_dir=data).returncode == 0
    current = read_key_file(data / "master.key")
    assert retired(data) == {
        f"master.key.retired-{first.kek_id}": (first.to_base64() + "\n").encode(),
        f"master.key.retired-{second.kek_id}": (second.to_base64() + "\n").encode()}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in data.iterdir()
               if ".retired-" in p.name)
    done = run("restore", str(backup), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert (f"the backup was under the retired master key kek {first.kek_id}: its keys are "
            "now wrapped by the current master key") in done.stderr
    assert read_key_file(data / "master.key") == current  # master.key stays what it was
    assert db_kek(data) == current.kek_id
    assert_readable(app)  # the tenant key stored before the backup, through the API


CRASH_AFTER_RETAIN = """
import os, sys
from scaiflow_box.crypto.master_key import MasterKeySource
keep = MasterKeySource._retire_current
def keep_then_stop(self, key):
    keep(self, key)
    os._exit(9)  # the old key is kept, master.key not replaced yet
MasterKeySource._retire_current = keep_then_stop
from scaiflow_box.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_rotation_killed_after_keeping_the_old_key_is_finished_by_the_next_start(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    old = read_key_file(data / "master.key")
    killed = crash(CRASH_AFTER_RETAIN, data)
    assert killed.returncode == 9, killed.stderr
    staged = read_key_file(data / "master.key.new")
    assert read_key_file(data / "master.key") == old and db_kek(data) == staged.kek_id
    assert retired(data) == {f"master.key.retired-{old.kek_id}":
                             (old.to_base64() + "\n").encode()}
    result = run("keys", "list", data_dir=data)  # any command finishes the rotation
    assert result.returncode == 0, result.stderr
    assert "finished an interrupted key rotation" in result.stderr
    assert read_key_file(data / "master.key") == staged
    assert sorted(p.name for p in data.iterdir() if "master.key" in p.name) == [
        "master.key", f"master.key.retired-{old.kek_id}"]
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["KEK", "STATUS"], [staged.kek_id, "current"], [old.kek_id, "retired"]]


def test_keys_list_and_prune(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    first_backup, second_backup = tmp_path / "b0.db", tmp_path / "b1.db"
    old = read_key_file(data / "master.key")
    assert run("backup", str(first_backup), data_dir=data).returncode == 0
    assert run("keys", "rotate", data_dir=data).returncode == 0
    new = read_key_file(data / "master.key")
    assert run("backup", str(second_backup), data_dir=data).returncode == 0
    listed = run("keys", "list", data_dir=data)
    assert listed.returncode == 0 and listed.stderr == ""
    header, current, kept = (line.split() for line in listed.stdout.splitlines())
    assert header == ["KEK", "STATUS", "RETIRED", "BACKUPS", "FILE"]
    assert current == [new.kek_id, "current", "-", "1", str(data / "master.key")]
    assert kept[:2] == [old.kek_id, "retired"] and kept[3:] == [
        "1", str(data / f"master.key.retired-{old.kek_id}")]
    retired_file = data / f"master.key.retired-{old.kek_id}"

    def prune(*args: str) -> subprocess.CompletedProcess[str]:
        return run("keys", "prune", *args, data_dir=data)

    refused = prune(new.kek_id, "--yes")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (f"error: kek {new.kek_id} is the current master key "
                              f"({data / 'master.key'}): it is never pruned (`scaiflow-box "
                              "keys rotate` first)\n")
    unknown = prune("0123456789ab", "--yes")
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: no retired master key kek 0123456789ab is kept")
    asked = prune(old.kek_id)  # without --yes: says what would be lost, changes nothing
    assert asked.returncode == 1 and asked.stdout == ""
    assert f"  {first_backup} (made " in asked.stderr and "; still there)" in asked.stderr
    assert str(second_backup) not in asked.stderr  # made with the current key
    assert f"scaiflow-box keys prune {old.kek_id} --yes" in asked.stderr
    assert retired_file.exists()
    first_backup.unlink()
    asked = prune(old.kek_id)
    assert f"  {first_backup} (made " in asked.stderr
    assert "; no longer at that path)" in asked.stderr and retired_file.exists()
    done = prune(old.kek_id, "--yes")
    assert done.returncode == 0, done.stderr
    assert done.stderr == (f"removed {retired_file}: backups made with kek {old.kek_id} can "
                           "no longer be restored (1 recorded)\n")
    assert not retired_file.exists()
    assert [line.split()[1] for line in run("keys", "list", data_dir=data
                                            ).stdout.splitlines()[1:]] == ["current"]
    conn = sqlite3.connect(f"file:{data / 'scaiflow.db'}?mode=ro", uri=True)
    [(actor, target, details)] = conn.execute(
        "SELECT actor, target_id, details FROM audit_log WHERE action = 'keys.pruned'")
    conn.close()
    assert (actor, target) == ("cli", old.kek_id)
    assert details == f'{{"backups":["{first_backup}"]}}'
