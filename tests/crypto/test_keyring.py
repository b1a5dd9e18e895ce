"""The keyring and the master key (SPEC §19.2) on real SQLite files: per-tenant data keys,
AAD binding, the registry of encrypted fields, rotation in one transaction, the crash-safe
key-file protocol at start-up, and a second process's rotation seen by a running keyring."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaiflow_box.auth.issuer import LocalIssuer
from scaiflow_box.crypto.envelope import (
    DecryptionFailed,
    KeyFileTooOpen,
    MasterKey,
    MasterKeyError,
    encrypt_value,
    open_sealed,
    read_key_file,
    split_stored,
)
from scaiflow_box.crypto.keyring import Keyring, check_encrypted_fields, open_keyring
from scaiflow_box.crypto.master_key import MasterKeyMismatch, MasterKeySource
from scaiflow_box.services.key_rotation import rewrap_database, rotate_offline
from scaiflow_box.store import secrets as secret_rows
from scaiflow_box.store.db import Database
from scaiflow_box.store.encrypted_fields import (
    DATA_KEYS,
    ENCRYPTED_FIELDS,
    ISSUER_KEYS,
    TENANT_SECRETS,
    EncryptedField,
    aad_for,
    registered_field,
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "scaiflow.db")
    yield database
    database.close()


def source_in(tmp_path: Path) -> MasterKeySource:
    return MasterKeySource(tmp_path / "master.key")


def open_ring(db: Database, source: MasterKeySource, *, create: bool = True) -> Keyring:
    def run(conn: sqlite3.Connection) -> Keyring:
        keyring = open_keyring(source, conn, create=create)
        LocalIssuer.load_or_create(conn, keyring.master)
        secret_rows.set_kek_id(conn, keyring.master.kek_id)
        return keyring

    return db.write_sync(run)


def put(db: Database, keyring: Keyring, tenant: str, name: str, value: bytes) -> str:
    def run(conn: sqlite3.Connection) -> str:
        sealed = keyring.encrypt(conn, TENANT_SECRETS, tenant, name, value)
        secret_rows.put_secret(conn, tenant, name, sealed, "tests")
        return sealed

    return db.write_sync(run)


def get(db: Database, keyring: Keyring, tenant: str, name: str) -> bytes:
    def run(conn: sqlite3.Connection) -> bytes:
        stored = secret_rows.get_secrets(conn, tenant, [name])[name]
        return keyring.decrypt(conn, TENANT_SECRETS, tenant, name, stored)

    return db.read_inline(run)


def rows(db_path: Path, query: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


# -- the registry --------------------------------------------------------------------------
def test_the_registry_names_every_encrypted_column_and_its_aad() -> None:
    assert [(f.table, f.column) for f in ENCRYPTED_FIELDS] == [
        ("data_keys", "wrapped"), ("issuer_keys", "private_key"), ("tenant_secrets", "value")]
    assert registered_field("tenant_secrets") is TENANT_SECRETS
    with pytest.raises(KeyError):
        registered_field("flows")
    assert TENANT_SECRETS.aad("tnt_a", "tenants/tnt_a/x") == b"tnt_a|tenant_secrets|tenants/tnt_a/x"
    assert ISSUER_KEYS.aad(None, "sfb-k") == b"-|issuer_keys|sfb-k"
    assert DATA_KEYS.aad("tnt_a", "dek_1") == b"tnt_a|data_keys|dek_1"


def test_only_registered_data_key_fields_are_encrypted(db: Database, tmp_path: Path) -> None:
    keyring = open_ring(db, source_in(tmp_path))
    rogue = EncryptedField("flows", "name", "id", "tenant_id", "data_key")
    with pytest.raises(ValueError, match="not a registered"):
        db.write_sync(lambda conn: keyring.encrypt(conn, rogue, "tnt_a", "x", b"v"))
    with pytest.raises(ValueError, match="not a registered"):
        db.write_sync(lambda conn: keyring.encrypt(conn, DATA_KEYS, "tnt_a", "x", b"v"))


# -- encryption ------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plaintext=st.binary(max_size=512), tenant=st.sampled_from(["tnt_a", "tnt_b"]),
       name=st.text(min_size=1, max_size=40))
def test_encrypt_then_decrypt_gives_the_plaintext_back_and_nothing_else(
        plaintext: bytes, tenant: str, name: str) -> None:
    key = MasterKey.generate().key
    stored = encrypt_value(key, "kek", "dek_1", plaintext, aad_for(tenant, "tenant_secrets", name))
    kek, dek, sealed = split_stored(stored)
    assert (kek, dek) == ("kek", "dek_1") and stored.startswith("sfb1:kek:dek_1:")
    assert open_sealed(key, sealed, aad_for(tenant, "tenant_secrets", name)) == plaintext
    other = "tnt_b" if tenant == "tnt_a" else "tnt_a"
    for aad in (aad_for(other, "tenant_secrets", name), aad_for(tenant, "data_keys", name),
                aad_for(tenant, "tenant_secrets", name + "x")):
        with pytest.raises(DecryptionFailed):
            open_sealed(key, sealed, aad)


def test_one_data_key_per_tenant_created_on_first_use(db: Database, tmp_path: Path) -> None:
    keyring = open_ring(db, source_in(tmp_path))
    assert rows(db.path, "SELECT * FROM data_keys") == []
    first = put(db, keyring, "tnt_a", "tenants/tnt_a/k", b"alpha")
    second = put(db, keyring, "tnt_a", "tenants/tnt_a/u", b"beta")
    put(db, keyring, "tnt_b", "tenants/tnt_b/k", b"gamma")
    deks = rows(db.path, "SELECT id, tenant_id, kek_id, wrapped FROM data_keys ORDER BY tenant_id")
    assert [d["tenant_id"] for d in deks] == ["tnt_a", "tnt_b"]
    for dek in deks:
        assert dek["id"].startswith("dek_") and dek["kek_id"] == keyring.master.kek_id
        assert dek["wrapped"].startswith(f"sfb1:{keyring.master.kek_id}:-:")
    assert split_stored(first)[1] == split_stored(second)[1] == deks[0]["id"]
    assert first.startswith(f"sfb1:{keyring.master.kek_id}:{deks[0]['id']}:")
    # A random nonce: the same value twice gives two ciphertexts.
    assert put(db, keyring, "tnt_a", "tenants/tnt_a/k", b"alpha") != first
    assert get(db, keyring, "tnt_a", "tenants/tnt_a/k") == b"alpha"
    # A fresh keyring (a restart) decrypts from the stored rows alone.
    fresh = open_ring(db, source_in(tmp_path), create=False)
    assert get(db, fresh, "tnt_b", "tenants/tnt_b/k") == b"gamma"


def test_a_ciphertext_moved_to_another_tenant_or_field_does_not_decrypt(
        db: Database, tmp_path: Path) -> None:
    keyring = open_ring(db, source_in(tmp_path))
    sealed_a = put(db, keyring, "tnt_a", "tenants/tnt_a/key", b"secret-a")
    put(db, keyring, "tnt_b", "tenants/tnt_b/key", b"secret-b")
    put(db, keyring, "tnt_a", "tenants/tnt_a/url", b"https://grid")

    def decrypt(tenant: str, name: str, stored: str) -> bytes:
        return db.read_inline(lambda conn: keyring.decrypt(conn, TENANT_SECRETS, tenant, name,
                                                           stored))

    with pytest.raises(DecryptionFailed):  # tnt_b has no such data key
        decrypt("tnt_b", "tenants/tnt_b/key", sealed_a)
    with pytest.raises(DecryptionFailed):  # same tenant and data key, another name
        decrypt("tnt_a", "tenants/tnt_a/url", sealed_a)
    # Even relabelled with tnt_b's own data key id, tnt_a's ciphertext does not open.
    dek_b = rows(db.path, "SELECT id FROM data_keys WHERE tenant_id = 'tnt_b'")[0]["id"]
    fmt, kek, _dek, body = sealed_a.split(":", 3)
    with pytest.raises(DecryptionFailed):
        decrypt("tnt_b", "tenants/tnt_b/key", f"{fmt}:{kek}:{dek_b}:{body}")
    tampered = sealed_a[:-6] + ("AAAAAA" if not sealed_a.endswith("AAAAAA") else "BBBBBB")
    with pytest.raises(DecryptionFailed):
        decrypt("tnt_a", "tenants/tnt_a/key", tampered)
    assert decrypt("tnt_a", "tenants/tnt_a/key", sealed_a) == b"secret-a"


# -- rotation --------------------------------------------------------------------------------
def every_value(db_path: Path) -> dict[tuple[str, str], str]:
    values: dict[tuple[str, str], str] = {}
    for field in ENCRYPTED_FIELDS:
        tenant = field.tenant_column or "'-'"
        for row in rows(db_path, f"SELECT {tenant}, {field.name_column}, {field.column}"
                                 f" FROM {field.table}"):
            values[(field.table, f"{row[0]}/{row[1]}")] = row[2]
    return values


@pytest.mark.parametrize("reencrypt", [False, True])
def test_rotation_rewraps_every_registered_value_in_one_transaction(
        db: Database, tmp_path: Path, reencrypt: bool) -> None:
    source = source_in(tmp_path)
    keyring = open_ring(db, source)
    old = keyring.master
    for tenant in ("tnt_a", "tnt_b", "tnt_c"):
        put(db, keyring, tenant, f"tenants/{tenant}/k", f"key of {tenant}".encode())
        put(db, keyring, tenant, f"tenants/{tenant}/u", f"url of {tenant}".encode())
    before = every_value(db.path)
    deks_before = {r["id"] for r in rows(db.path, "SELECT id FROM data_keys")}

    report, new = rotate_offline(db, keyring, reencrypt=reencrypt, actor="tests")

    assert read_key_file(source.path) == new != old and not source.pending_path.exists()
    after = every_value(db.path)
    secrets_only = {slot for slot in before if slot[0] != "data_keys"}
    assert {slot for slot in after if slot[0] != "data_keys"} == secrets_only
    assert (set(after) != set(before)) == reencrypt  # new data keys have new ids
    kek_id, count, problems = check_encrypted_fields(db._writer_conn)
    assert (kek_id, count, problems) == (new.kek_id, len(after), [])
    for slot, value in after.items():
        assert value.startswith(f"sfb1:{new.kek_id}:"), slot
        if slot not in before:
            continue  # a new data key
        if slot[0] != "tenant_secrets" or reencrypt:
            assert value != before[slot], slot  # rewrapped / re-encrypted
        else:  # only the kek label moved; the ciphertext is the same
            assert value.split(":", 2)[2] == before[slot].split(":", 2)[2]
    deks_after = {r["id"] for r in rows(db.path, "SELECT id FROM data_keys")}
    assert len(deks_after) == 3
    assert (deks_after.isdisjoint(deks_before) if reencrypt else deks_after == deks_before)
    assert report.data_keys == 3 and report.issuer_keys == 1
    assert report.secrets_reencrypted == (6 if reencrypt else 0)
    [audit] = rows(db.path, "SELECT actor, action, target_id, details FROM audit_log")
    assert (audit["actor"], audit["action"], audit["target_id"]) == (
        "tests", "keys.rotated", new.kek_id)
    assert new.to_base64() not in audit["details"]
    # A restart with the new key reads everything; the old key opens nothing.
    restarted = open_ring(db, source, create=False)
    for tenant in ("tnt_a", "tnt_b", "tnt_c"):
        assert get(db, restarted, tenant, f"tenants/{tenant}/k") == f"key of {tenant}".encode()
    source.path.write_text(old.to_base64() + "\n")
    with pytest.raises(MasterKeyMismatch):
        open_ring(db, source, create=False)


def test_a_failed_rotation_changes_nothing(db: Database, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    source = source_in(tmp_path)
    keyring = open_ring(db, source)
    put(db, keyring, "tnt_a", "tenants/tnt_a/k", b"v")
    before = every_value(db.path)
    key_before = source.path.read_text()

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(secret_rows, "set_kek_id", fail)
    with pytest.raises(RuntimeError):
        rotate_offline(db, keyring, reencrypt=True)
    assert every_value(db.path) == before
    assert source.path.read_text() == key_before and not source.pending_path.exists()


def test_a_running_keyring_follows_a_rotation_made_by_another_process(
        tmp_path: Path) -> None:
    """Two Database objects on one file stand for the server and the CLI."""
    source = source_in(tmp_path)
    server_db = Database(tmp_path / "scaiflow.db")
    cli_db = Database(tmp_path / "scaiflow.db")
    try:
        server = open_ring(server_db, source)
        put(server_db, server, "tnt_a", "tenants/tnt_a/k", b"before")
        cli = open_ring(cli_db, MasterKeySource(source.path), create=False)
        _report, new = rotate_offline(cli_db, cli, reencrypt=True)
        # The server meets a data key wrapped by a key it does not hold: it re-reads master.key.
        assert get(server_db, server, "tnt_a", "tenants/tnt_a/k") == b"before"
        assert server.master == new
        # New tenants' data keys are wrapped by the database's current key.
        put(server_db, server, "tnt_b", "tenants/tnt_b/k", b"after")
        [row] = rows(server_db.path, "SELECT kek_id FROM data_keys WHERE tenant_id = 'tnt_b'")
        assert row["kek_id"] == new.kek_id
    finally:
        cli_db.close()
        server_db.close()


def test_a_keyring_refuses_a_database_whose_key_is_gone(db: Database, tmp_path: Path) -> None:
    source = source_in(tmp_path)
    keyring = open_ring(db, source)
    other = MasterKey.generate()
    db.write_sync(lambda conn: rewrap_database(conn, keyring, other, reencrypt=True,
                                               actor="tests"))
    # Nobody stored `other`: neither master.key nor master.key.new holds it.
    fresh = Keyring(source, read_key_file(source.path))
    with pytest.raises(MasterKeyMismatch, match=f"kek {other.kek_id}"):
        db.read_inline(lambda conn: fresh.current_master(conn))


# -- start-up: the key must fit, and the crash-safe protocol ----------------------------------
def test_a_wrong_key_stops_start_up_with_one_line_naming_no_secret(
        db: Database, tmp_path: Path) -> None:
    source = source_in(tmp_path)
    right = open_ring(db, source).master
    wrong = MasterKey.generate()
    source.path.write_text(wrong.to_base64() + "\n")
    with pytest.raises(MasterKeyMismatch) as caught:
        open_ring(db, source, create=False)
    message = str(caught.value)
    assert message == (f"the master key in {source.path} (kek {wrong.kek_id}) does not unwrap "
                       f"the data keys of this database (kek {right.kek_id}); restore the "
                       "right master.key (the one this database was last rotated with)")
    assert wrong.to_base64() not in message and right.to_base64() not in message
    env = MasterKeySource(source.path, wrong.to_base64())
    with pytest.raises(MasterKeyMismatch, match=r"in SCAIFLOW_MASTER_KEY .* set SCAIFLOW_MASTER"):
        open_ring(db, env, create=False)
    # `create` never replaces a missing key of a database that has wrapped values.
    source.path.unlink()
    with pytest.raises(MasterKeyError, match="no master key at"):
        open_ring(db, source, create=True)
    assert not source.path.exists()


def test_a_rotation_that_committed_but_did_not_rename_is_finished_at_start_up(
        db: Database, tmp_path: Path) -> None:
    source = source_in(tmp_path)
    keyring = open_ring(db, source)
    put(db, keyring, "tnt_a", "tenants/tnt_a/k", b"kept")
    old_text = source.path.read_text()
    new = MasterKey.generate()

    def crash_after_commit(conn: sqlite3.Connection) -> None:
        source.stage(new)
        rewrap_database(conn, keyring, new, reencrypt=True, actor="tests")

    db.write_sync(crash_after_commit)  # committed; the rename never happened
    assert source.path.read_text() == old_text and source.pending_path.exists()
    restarted = open_ring(db, source, create=False)
    assert restarted.master == new == read_key_file(source.path)
    assert not source.pending_path.exists()
    assert get(db, restarted, "tnt_a", "tenants/tnt_a/k") == b"kept"


def test_a_staged_key_of_a_rotation_that_never_committed_is_removed(
        db: Database, tmp_path: Path) -> None:
    source = source_in(tmp_path)
    keyring = open_ring(db, source)
    put(db, keyring, "tnt_a", "tenants/tnt_a/k", b"kept")
    source.stage(MasterKey.generate())  # then the process died before its commit
    restarted = open_ring(db, source, create=False)
    assert restarted.master == keyring.master and not source.pending_path.exists()
    assert get(db, restarted, "tnt_a", "tenants/tnt_a/k") == b"kept"
    # A half-written one is ignored too (written 0600, as `stage` creates it).
    source.pending_path.write_text("garbage")
    source.pending_path.chmod(0o600)
    open_ring(db, source, create=False)
    assert not source.pending_path.exists()


def test_check_encrypted_fields_finds_a_plaintext_value(db: Database, tmp_path: Path) -> None:
    keyring = open_ring(db, source_in(tmp_path))
    put(db, keyring, "tnt_a", "tenants/tnt_a/k", b"v")
    db.write_sync(lambda conn: secret_rows.put_secret(conn, "tnt_a", "tenants/tnt_a/u",
                                                      "https://plain", "tests"))
    kek_id, count, problems = check_encrypted_fields(db._writer_conn)
    assert kek_id == keyring.master.kek_id and count == 4  # issuer key, data key, 2 secrets
    assert problems == ["tenant_secrets.value of 'tenants/tnt_a/u' is not encrypted"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o610])
def test_a_key_file_open_to_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    source = source_in(tmp_path)
    key = source.load(create=True)
    source.path.chmod(mode)
    with pytest.raises(KeyFileTooOpen) as refused:
        source.load()
    assert str(refused.value) == (
        f"master key file {source.path} is accessible by group or others (mode {mode:04o}); "
        f"a master key must be readable by its owner only: run `chmod 600 {source.path}`")
    source.path.chmod(0o400)  # read-only for the owner is fine
    assert source.load() == key


def test_a_staged_key_open_to_others_is_neither_used_nor_removed(tmp_path: Path) -> None:
    source = source_in(tmp_path)
    source.load(create=True)
    source.stage(MasterKey.generate())
    source.pending_path.chmod(0o644)
    with pytest.raises(KeyFileTooOpen):
        source.load_pending()
    assert source.pending_path.exists()
