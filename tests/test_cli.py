"""The `scaiflow-box` command line, run as a real process (SPEC §20)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from tests.cli_process import environment, run


def test_init_is_idempotent_and_bootstraps_the_operator(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = run("init", data_dir=data)
    assert first.returncode == 0, first.stderr
    assert "usr_operator" in first.stderr and first.stdout == ""
    key = data / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    key_bytes = key.read_bytes()
    second = run("init", data_dir=data)
    assert second.returncode == 0 and "usr_operator" not in second.stderr
    assert key.read_bytes() == key_bytes
    conn = sqlite3.connect(data / "scaiflow.db")
    assert conn.execute("SELECT tenant_id, admin_role, admin_role_source FROM users"
                        " WHERE id = 'usr_operator'").fetchone() == ("tnt_local", "super_admin",
                                                                     "bootstrap")
    # The issuer's private key is stored wrapped, never as PEM.
    [wrapped] = conn.execute("SELECT private_key FROM issuer_keys").fetchone()
    assert wrapped.startswith("sfb1:") and "PRIVATE KEY" not in wrapped
    db_bytes = (data / "scaiflow.db").read_bytes()
    assert b"PRIVATE KEY" not in db_bytes


def test_token_mint_prints_only_the_token_and_revoke_works(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    minted = run("token", "mint", "--sub", "ci-bot", "--tenant", "tnt_acme", "--scope",
                 "scaicore:view", "--ttl", "600", data_dir=data)
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    assert minted.stdout == token + "\n"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "ci-bot" and claims["tenant_id"] == "tnt_acme"
    assert claims["scope"] == "scaicore:view" and claims["exp"] - claims["iat"] == 600
    assert claims["iss"].startswith("scaiflow-box:") and claims["jti"].startswith("tok_")
    revoked = run("token", "revoke", claims["jti"], data_dir=data)
    assert revoked.returncode == 0, revoked.stderr
    again = run("token", "revoke", claims["jti"], data_dir=data)
    assert again.returncode == 1 and "no live service token" in again.stderr
    conn = sqlite3.connect(data / "scaiflow.db")
    assert conn.execute("SELECT revoked_at IS NOT NULL FROM service_tokens").fetchone() == (1,)
    bad = run("token", "mint", "--sub", "x", "--tenant", "t", "--ttl", "99999999", data_dir=data)
    assert bad.returncode == 2 and "ttl" in bad.stderr and bad.stdout == ""


def test_admin_grant_revoke_and_users(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    conn = sqlite3.connect(data / "scaiflow.db")
    conn.execute("INSERT INTO users (id, tenant_id, email, status, source, created_at,"
                 " updated_at) VALUES ('usr_a', 'tnt_x', 'Alice@Example.com', 'ACTIVE', 'token',"
                 " 'now', 'now')")
    conn.commit()
    granted = run("admin", "grant", "alice@example.com", "--role", "tenant_admin", data_dir=data)
    assert granted.returncode == 0, granted.stderr
    assert conn.execute("SELECT admin_role, admin_role_source FROM users WHERE id = 'usr_a'"
                        ).fetchone() == ("tenant_admin", "manual")
    listed = run("admin", "users", "--tenant", "tnt_x", data_dir=data)
    assert "usr_a" in listed.stdout and "tenant_admin" in listed.stdout
    assert "usr_operator" not in listed.stdout
    assert run("admin", "revoke", "usr_a", data_dir=data).returncode == 0
    assert conn.execute("SELECT admin_role FROM users WHERE id = 'usr_a'").fetchone() == (None,)
    unknown = run("admin", "grant", "nobody@example.com", "--role", "super_admin",
                  data_dir=data)
    assert unknown.returncode == 1 and "sign in once" in unknown.stderr
    bad_role = run("admin", "grant", "usr_a", "--role", "god", data_dir=data)
    assert bad_role.returncode == 2


def test_bad_configuration_is_one_line_per_problem(tmp_path: Path) -> None:
    result = run("init", data_dir=tmp_path / "d", env={
        "SCAIFLOW_API_PORT": "eighty", "SCAIKEY_ALGORITHMS": "HS256",
        "SCAIFLOW_CORS_ORIGINS": "*", "SCAIGRID_BASE_URL": "ftp://grid"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 4
    assert all(line.startswith("config error: ") for line in lines)
    joined = "\n".join(lines)
    for name in ("SCAIFLOW_API_PORT", "SCAIKEY_ALGORITHMS", "SCAIFLOW_CORS_ORIGINS",
                 "SCAIGRID_BASE_URL"):
        assert name in joined
    assert not (tmp_path / "d").exists()


def test_auth_disabled_is_refused_off_loopback(tmp_path: Path) -> None:
    result = run("init", data_dir=tmp_path / "d", env={"SCAIFLOW_AUTH_DISABLED": "true",
                                                       "SCAIFLOW_API_HOST": "0.0.0.0"})
    assert result.returncode == 1 and "SCAIFLOW_AUTH_DISABLED" in result.stderr


def test_env_file_is_read_and_real_env_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "box.env"
    env_file.write_text("SCAIFLOW_API_PORT=notaport\nexport SCAIKEY_ALGORITHMS='ES256'\n")
    result = run("init", data_dir=tmp_path / "d", env={"SCAIFLOW_ENV_FILE": str(env_file)})
    assert result.returncode == 1 and "SCAIFLOW_API_PORT" in result.stderr
    result = run("init", data_dir=tmp_path / "d", env={"SCAIFLOW_ENV_FILE": str(env_file),
                                                       "SCAIFLOW_API_PORT": "9000"})
    assert result.returncode == 0, result.stderr


def test_usage_errors_exit_2_and_version(tmp_path: Path) -> None:
    assert run().returncode == 2
    assert run("token").returncode == 2
    assert run("frobnicate").returncode == 2
    version = run("version")
    assert version.returncode == 0 and version.stdout.startswith("scaiflow-box ")


def test_backup_and_jwks_show(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    target = tmp_path / "copy.db"
    result = run("backup", str(target), data_dir=data)
    assert result.returncode == 0, result.stderr
    copy = sqlite3.connect(target)
    assert copy.execute("SELECT count(*) FROM users WHERE id = 'usr_operator'").fetchone() == (1,)
    assert run("backup", str(target), data_dir=data).returncode == 1  # never overwrites
    shown = run("jwks", "show", data_dir=data)
    assert shown.returncode == 0
    [local] = json.loads(shown.stdout)
    assert local["source"] == "local" and len(local["key_ids"]) == 1


@pytest.mark.parametrize("missing", ["--issuer"])
def test_jwks_import_needs_an_issuer(tmp_path: Path, missing: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text('{"keys": []}')
    result = run("jwks", "import", str(path), data_dir=tmp_path / "data")
    assert result.returncode == 2 and missing in result.stderr


# -- only init and serve create a data directory (SPEC §20) -----------------------------
def refusal(data_dir: Path) -> str:
    where = data_dir.resolve()
    return (f"error: {where} is not an initialised scaiflow-box data directory; run "
            f"`scaiflow-box init --data-dir {where}` first\n")


def data_dir_commands(tmp_path: Path) -> dict[str, list[str]]:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    return {
        "token mint": ["token", "mint", "--sub", "ci-bot", "--tenant", "tnt_acme"],
        "token revoke": ["token", "revoke", "tok_x"],
        "admin grant": ["admin", "grant", "a@example.com", "--role", "super_admin"],
        "admin revoke": ["admin", "revoke", "usr_a"],
        "admin users": ["admin", "users"],
        "jwks import": ["jwks", "import", str(jwks), "--issuer", "https://key.example"],
        "jwks show": ["jwks", "show"],
        "backup": ["backup", str(tmp_path / "copy.db")],
        "tenants list": ["tenants", "list"],
        "tenants delete": ["tenants", "delete", "tnt_acme"],
        "keys list": ["keys", "list"],
        "keys prune": ["keys", "prune", "0123456789ab", "--yes"],
        "catalog list": ["catalog", "list"],
        "catalog export": ["catalog", "export", "hello", str(tmp_path / "copy.db"),
                           "--tenant", "tnt_local"],
        "catalog import": ["catalog", "import", str(jwks), "--tenant", "tnt_local"],
    }


COMMANDS = ["token mint", "token revoke", "admin grant", "admin revoke", "admin users",
            "jwks import", "jwks show", "backup", "tenants list", "tenants delete",
            "keys list", "keys prune", "catalog list", "catalog export", "catalog import"]


CASES = [(command, "missing") for command in COMMANDS] + [
    (command, "empty database") for command in COMMANDS] + [
    ("token mint", "empty"), ("token mint", "key only")]


@pytest.mark.parametrize(("command", "state"), CASES)
def test_commands_refuse_a_data_dir_init_never_ran_on(tmp_path: Path, command: str,
                                                      state: str) -> None:
    data = tmp_path / "data"
    if state != "missing":
        data.mkdir()
    if state == "key only":
        (data / "master.key").write_text("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
    if state == "empty database":
        (data / "scaiflow.db").touch()
    before = sorted(p.name for p in data.iterdir()) if data.exists() else None
    args = data_dir_commands(tmp_path)[command]
    if state == "missing":
        result = run(*args, data_dir=data)  # SCAIFLOW_DATA_DIR
    else:
        result = run(*args, "--data-dir", str(data))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == refusal(data)
    after = sorted(p.name for p in data.iterdir()) if data.exists() else None
    assert after == before  # nothing created: no key, no database, no issuer
    assert not (tmp_path / "copy.db").exists()


def test_a_missing_master_key_is_not_papered_over(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    (data / "master.key").rename(tmp_path / "saved.key")
    result = run("token", "mint", "--sub", "a", "--tenant", "t", data_dir=data)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: no master key at {data / 'master.key'}")
    assert len(result.stderr.splitlines()) == 1
    assert not (data / "master.key").exists()
    (tmp_path / "saved.key").rename(data / "master.key")
    assert run("token", "mint", "--sub", "a", "--tenant", "t", data_dir=data).returncode == 0


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "scaiflow.db").write_bytes(b"not a database" * 100)
    result = run("admin", "users", data_dir=data)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"error: cannot open {data / 'scaiflow.db'}: file is not a database\n"


def test_tui_refuses_a_data_dir_init_never_ran_on(tmp_path: Path) -> None:
    """The real process on a terminal (the TUI needs one): it stops before the UI opens."""
    data = tmp_path / "data"
    controller, terminal = os.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "scaiflow_box", "tui", "--url", "http://127.0.0.1:9"],
            env=environment(data, {"TERM": "dumb"}), stdin=terminal, stdout=terminal,
            stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 1
    assert result.stderr == refusal(data)
    assert not data.exists()


# -- start-up cost ----------------------------------------------------------------------
def imported_modules(*args: str) -> set[str]:
    done = run(*args, python_flags=("-X", "importtime"))
    assert done.returncode == 0, done.stderr
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


def heavy(modules: set[str], *prefixes: str) -> set[str]:
    return {m for m in modules if m in prefixes or m.startswith(tuple(p + "." for p in prefixes))}


def test_version_imports_neither_the_server_nor_the_compiler_nor_the_tui() -> None:
    modules = imported_modules("version")
    assert "scaiflow_box.cli" in modules  # the measurement sees our imports
    assert heavy(modules, "scaiflow_box.compiler", "scaiflow_box.server", "scaiflow_box.app",
                 "scaiflow_box.commands", "aiohttp", "textual", "tui", "pydantic",
                 "cryptography", "yaml", "sqlite_utils") == set()


def test_validate_imports_the_compiler_but_not_the_server_or_the_tui() -> None:
    example = str(Path(__file__).parents[1] / "examples" / "hello-world.flow.json")
    modules = imported_modules("validate", example)
    assert "scaiflow_box.compiler" in modules
    assert heavy(modules, "scaiflow_box.server", "aiohttp", "textual", "tui") == set()


# -- serve -------------------------------------------------------------------------------
def test_a_taken_port_is_one_line_and_exit_1(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--host", "127.0.0.1", "--port", str(port), data_dir=data)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.endswith(f"cannot listen on 127.0.0.1:{port}: the port is already in use; "
                         "pick another port with --port or SCAIFLOW_API_PORT")
    # The app's cleanup ran: the database was closed (SQLite removes the WAL files then). The
    # lock file stays (store/dir_lock.py): removing a lock file is a race.
    assert sorted(p.name for p in data.iterdir()) == ["master.key", "scaiflow.db",
                                                      "scaiflow.lock"]


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["init"],
                                     ["admin", "users"]])
def test_a_database_from_a_newer_version_is_refused(tmp_path: Path,
                                                    command: list[str]) -> None:
    """Downgrading the binary must not run an old schema's code over a newer database."""
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    conn = sqlite3.connect(data / "scaiflow.db")
    conn.execute("INSERT INTO schema_migrations (version, name, applied_at)"
                 " VALUES (999, 'from_the_future', 'x')")
    conn.commit()
    before = (data / "scaiflow.db").read_bytes()
    conn.close()
    done = run(*command, data_dir=data)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: the database has schema version 999, newer than "
                                "this scaiflow-box knows"), done.stderr
    assert "Traceback" not in done.stderr
    conn = sqlite3.connect(data / "scaiflow.db")
    assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == 999
    conn.close()
    assert (data / "scaiflow.db").read_bytes()[:100] == before[:100]


def test_admin_revoke_refuses_to_remove_the_last_super_admin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    for args in (("admin", "revoke", "usr_operator"),
                 ("admin", "grant", "usr_operator", "--role", "tenant_admin")):
        refused = run(*args, data_dir=data)
        assert refused.returncode == 1, refused.stderr
        assert refused.stdout == ""
        assert refused.stderr == (
            "error: usr_operator is the last super admin: without one nobody can administer "
            "this appliance; grant super_admin to another user first (`scaiflow-box admin "
            "grant <user> --role super_admin`)\n")
    conn = sqlite3.connect(data / "scaiflow.db")
    assert conn.execute("SELECT admin_role, admin_role_source FROM users WHERE id ="
                        " 'usr_operator'").fetchone() == ("super_admin", "bootstrap")
    assert conn.execute("SELECT count(*) FROM audit_log WHERE action LIKE 'role.%'"
                        ).fetchone() == (0,)
    # Once someone else is super admin, the operator may step down.
    assert run("token", "mint", "--sub", "usr_ops2", "--tenant", "tnt_local",
               data_dir=data).returncode == 0
    assert run("admin", "grant", "usr_ops2", "--role", "super_admin",
               data_dir=data).returncode == 0
    assert run("admin", "revoke", "usr_operator", data_dir=data).returncode == 0
    assert conn.execute("SELECT admin_role FROM users WHERE id = 'usr_operator'"
                        ).fetchone() == (None,)


@pytest.mark.parametrize("scaikey", [{"SCAIKEY_BASE_URL": "https://key.example"},
                                     {"SCAIKEY_ISSUER": "https://key.example/oauth"}])
def test_serve_refuses_scaikey_tokens_without_a_known_audience(
        tmp_path: Path, scaikey: dict[str, str]) -> None:
    data = tmp_path / "data"
    refused = run("serve", "--port", "9", data_dir=data, env=scaikey)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == (
        "config error: SCAIKEY_AUDIENCE: ScaiKey tokens are accepted but their audience is "
        "unknown; set SCAIKEY_AUDIENCE or SCAIFLOW_SCAIKEY_CLIENT_ID (the `aud` of this "
        "appliance's ScaiKey tokens)\n")
    assert not data.exists()  # refused before anything was created
    # Other commands do not serve ScaiKey tokens: they still run.
    assert run("init", data_dir=data, env=scaikey).returncode == 0
