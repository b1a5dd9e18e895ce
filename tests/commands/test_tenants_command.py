"""`scaiflow-box tenants list | tenants delete`, the new-tenant notice of `token mint`, and the
audit rows of the operator's commands (jwks import, backup, restore), as real processes on a
real data directory."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import jwt

from tests.cli_process import run

SMOKE_JWKS = Path(__file__).resolve().parents[2] / "packaging" / "smoke" / "jwks.json"


def rows(data: Path, query: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{data / 'scaiflow.db'}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in conn.execute(query, params)]
    finally:
        conn.close()


def initialised(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    assert run("init", data_dir=data).returncode == 0
    return data


def mint(data: Path, tenant: str) -> tuple[str, str]:
    done = run("token", "mint", "--sub", "ci-bot", "--tenant", tenant, data_dir=data)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), done.stderr


def test_mint_says_when_a_tenant_is_new(tmp_path: Path) -> None:
    data = initialised(tmp_path)
    token, stderr = mint(data, "tnt_locall")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert stderr.splitlines()[1] == (
        "note: tenant tnt_locall is new on this appliance (did you mean tnt_local?); it was "
        f"created with user ci-bot. If the id is mistyped: scaiflow-box token revoke {jti}, "
        "then scaiflow-box tenants delete tnt_locall")
    # the token is minted all the same, and the second one for that tenant says nothing
    assert rows(data, "SELECT tenant_id FROM service_tokens WHERE id = ?", jti) == [
        ("tnt_locall",)]
    second, again = mint(data, "tnt_locall")
    assert "new on this appliance" not in again
    # A subject belongs to one tenant: the right tenant is refused until the typo is undone
    # the way the note says.
    refused = run("token", "mint", "--sub", "ci-bot", "--tenant", "tnt_local", data_dir=data)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == "error: ci-bot is a user of tenant tnt_locall, not tnt_local\n"
    for token_id in (jti, jwt.decode(second, options={"verify_signature": False})["jti"]):
        assert run("token", "revoke", token_id, data_dir=data).returncode == 0
    deleted = run("tenants", "delete", "tnt_locall", data_dir=data)
    assert deleted.returncode == 0, deleted.stderr
    assert rows(data, "SELECT id FROM users WHERE id = 'ci-bot'") == []
    _, known = mint(data, "tnt_local")
    assert "new on this appliance" not in known and len(known.splitlines()) == 1
    assert rows(data, "SELECT tenant_id FROM users WHERE id = 'ci-bot'") == [("tnt_local",)]


def test_list_and_delete(tmp_path: Path) -> None:
    data = initialised(tmp_path)
    listed = run("tenants", "list", data_dir=data)
    assert listed.returncode == 0, listed.stderr
    header, *lines = listed.stdout.splitlines()
    assert header.split() == ["ID", "SOURCE", "USERS", "FLOWS", "CREATED", "NAME"]
    assert [line.split()[:4] for line in lines] == [["tnt_local", "bootstrap", "1", "0"]]

    # A tenant that holds something is refused, naming what, and nothing changes.
    refused = run("tenants", "delete", "tnt_local", data_dir=data)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == ("error: tenant tnt_local is not empty: it holds 1 user(s) synced "
                              "from ScaiKey, made by init, or holding an admin role\n")
    assert rows(data, "SELECT id FROM tenants") == [("tnt_local",)]
    unknown = run("tenants", "delete", "tnt_nowhere", data_dir=data)
    assert (unknown.returncode, unknown.stderr) == (
        1, "error: no tenant 'tnt_nowhere' on this appliance\n")

    # A tenant made just in time by a user's first token, the token since revoked.
    conn = sqlite3.connect(data / "scaiflow.db")
    with conn:
        conn.execute("INSERT INTO tenants (id, name, slug, source, created_at, updated_at)"
                     " VALUES ('tnt_typo', 'typo', 'typo', 'token', 'now', 'now')")
        conn.execute("INSERT INTO users (id, tenant_id, status, source, created_at, updated_at)"
                     " VALUES ('ci-bot', 'tnt_typo', 'ACTIVE', 'token', 'now', 'now')")
    conn.close()
    listed = run("tenants", "list", data_dir=data)
    assert [line.split()[:4] for line in listed.stdout.splitlines()[1:]] == [
        ["tnt_local", "bootstrap", "1", "0"], ["tnt_typo", "token", "1", "0"]]
    deleted = run("tenants", "delete", "tnt_typo", data_dir=data)
    assert deleted.returncode == 0, deleted.stderr
    assert (deleted.stdout, deleted.stderr) == (
        "", "deleted tenant tnt_typo (rows removed with it: users 1)\n")
    assert rows(data, "SELECT id FROM tenants") == [("tnt_local",)]
    assert rows(data, "SELECT count(*) FROM users WHERE tenant_id = 'tnt_typo'") == [(0,)]
    assert rows(data, "SELECT actor, action, target_id FROM audit_log"
                      " WHERE action = 'tenant.deleted'") == [("cli", "tenant.deleted",
                                                               "tnt_typo")]


def audit(data: Path, action: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(actor, target, json.loads(details)) for actor, target, details in rows(
        data, "SELECT actor, target_id, details FROM audit_log WHERE action = ?", action)]


def test_jwks_import_backup_and_restore_are_audited(tmp_path: Path) -> None:
    data = initialised(tmp_path)
    imported = run("jwks", "import", str(SMOKE_JWKS), "--issuer", "https://key.example",
                   data_dir=data, env={"SCAIKEY_ALGORITHMS": "ES256"})
    assert imported.returncode == 0, imported.stderr
    [(actor, target, details)] = audit(data, "jwks.imported")
    assert (actor, target) == ("cli", "https://key.example")
    assert details == {"key_ids": ["smoke-test-key"], "file": str(SMOKE_JWKS)}

    copy = tmp_path / "copy.db"
    backed_up = run("backup", str(copy), data_dir=data)
    assert backed_up.returncode == 0, backed_up.stderr
    [(actor, target, details)] = audit(data, "backup.created")
    kek = re.search(r"kek (\w+)", backed_up.stderr)
    assert kek is not None
    assert (actor, target) == ("cli", str(copy))
    assert details == {"kek_id": kek.group(1), "encrypted_values": details["encrypted_values"]}
    assert details["encrypted_values"] >= 1

    restored = run("restore", str(copy), data_dir=data)
    assert restored.returncode == 0, restored.stderr
    # The restored database (the copy, made before its own backup row) records the restore.
    assert audit(data, "backup.created") == []
    [(actor, target, details)] = audit(data, "backup.restored")
    assert (actor, target) == ("cli", str((data / "scaiflow.db").resolve()))
    [kept] = data.glob("scaiflow.db.before-restore-*")
    assert details == {"file": str(copy), "backup_schema": details["schema"],
                       "schema": details["schema"], "kept_aside": str(kept)}
