"""Master key rotation (SPEC §19.2, §20 `scaiflow-box keys rotate [--reencrypt]`).

A new KEK; every data key and the issuer keys are re-wrapped under it in ONE transaction
(`--reencrypt` also replaces every tenant's data key and re-encrypts every registered secret).
The fields touched are those of the registry (`store.encrypted_fields.ENCRYPTED_FIELDS`). The
key file follows the crash-safe protocol of `crypto.master_key`: staged as `master.key.new`
while the transaction holds the write lock, renamed over `master.key` after the commit.

The CLI runs `rotate_offline`; the admin API (`KeyRotationService`) runs the same transaction
through the server's writer and the file steps in an executor, never on the event loop.

On MariaDB both refuse while another process sharing the database is alive (its change head
beat within `changes.LIVE_WITHIN_SECONDS`): the new key would reach only this host's key file,
and the others could no longer unwrap a data key (docs/scale-out.md §5). The check runs inside
the rotation's transaction, before the key file is staged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from scaiflow_box.auth.principal import Principal
from scaiflow_box.crypto.envelope import MasterKey, MasterKeyError, encrypt_value, wrap_with_master
from scaiflow_box.crypto.keyring import Keyring
from scaiflow_box.crypto.master_key import ENV_NAME
from scaiflow_box.errors import Conflict
from scaiflow_box.store import audit, changes
from scaiflow_box.store import secrets as secret_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.encrypted_fields import DATA_KEYS, ENCRYPTED_FIELDS
from scaiflow_box.store.engine import Connection


@dataclass(frozen=True)
class RotationReport:
    kek_id: str
    data_keys: int
    issuer_keys: int
    secrets_reencrypted: int


def rewrap_database(conn: Connection, keyring: Keyring, new: MasterKey, *,
                    reencrypt: bool, actor: str, request_id: str | None = None
                    ) -> RotationReport:
    """The rotation's transaction body: every registered value moves to `new`. Reads the old
    values with the key the database names, so it works whatever the keyring held before."""
    keyring.current_master(conn)  # the old key must be at hand before anything changes
    counts = {field.table: 0 for field in ENCRYPTED_FIELDS}
    # Values the master key wraps itself (data keys are replaced instead with --reencrypt).
    for field in ENCRYPTED_FIELDS:
        if field.protected_by != "master_key" or (reencrypt and field is DATA_KEYS):
            continue
        for tenant_id, name, value in secret_rows.encrypted_values(conn, field):
            plain = keyring.unwrap(field, tenant_id, name, value)
            secret_rows.update_encrypted_value(
                conn, field, tenant_id, name,
                wrap_with_master(new, plain, field.aad(tenant_id, name)))
            counts[field.table] += 1
    reencrypted = 0
    if reencrypt:
        old_keys = secret_rows.all_data_keys(conn)
        fresh: dict[str, tuple[str, bytes]] = {}

        def fresh_key(tenant_id: str) -> tuple[str, bytes]:
            if tenant_id not in fresh:
                fresh[tenant_id] = keyring.create_data_key(conn, tenant_id, new)
            return fresh[tenant_id]

        for field in ENCRYPTED_FIELDS:
            if field.protected_by != "data_key":
                continue
            for tenant_id, name, value in secret_rows.encrypted_values(conn, field):
                if tenant_id is None:  # data-key fields are per tenant: a damaged row
                    raise MasterKeyError(f"{field.table} row {name!r} has no tenant")
                plain = keyring.decrypt(conn, field, tenant_id, name, value)
                dek_id, key = fresh_key(tenant_id)
                secret_rows.update_encrypted_value(
                    conn, field, tenant_id, name,
                    encrypt_value(key, new.kek_id, dek_id, plain, field.aad(tenant_id, name)))
                reencrypted += 1
        for row in old_keys:  # every tenant gets a new data key, secrets or not
            fresh_key(row["tenant_id"])
        secret_rows.delete_data_keys(conn, [row["id"] for row in old_keys])
        counts[DATA_KEYS.table] = len(fresh)
    else:
        secret_rows.set_data_keys_kek(conn, new.kek_id)
        # The kek id a secret names is the key that wraps its data key: keep it current (a
        # label outside the AAD; the ciphertext does not change).
        for field in ENCRYPTED_FIELDS:
            if field.protected_by != "data_key":
                continue
            for tenant_id, name, value in secret_rows.encrypted_values(conn, field):
                _format, _old_kek, rest = value.split(":", 2)
                secret_rows.update_encrypted_value(conn, field, tenant_id, name,
                                                   f"{_format}:{new.kek_id}:{rest}")
    secret_rows.set_kek_id(conn, new.kek_id)
    report = RotationReport(kek_id=new.kek_id, data_keys=counts[DATA_KEYS.table],
                            issuer_keys=counts["issuer_keys"], secrets_reencrypted=reencrypted)
    audit.record(conn, tenant_id=None, actor=actor, action="keys.rotated",
                 target_type="master_key", target_id=new.kek_id,
                 details={"reencrypt": reencrypt, "data_keys": report.data_keys,
                          "issuer_keys": report.issuer_keys,
                          "secrets_reencrypted": reencrypted},
                 request_id=request_id)
    return report


def refuse_while_others_live(conn: Connection, process_id: str) -> None:
    """Conflict (`rotation_not_possible`) while other processes share the database (never on
    SQLite, where `live_processes` finds none)."""
    others = changes.live_processes(conn, exclude=process_id)
    if others:
        raise Conflict(
            f"{len(others)} other scaiflow-box process(es) sharing this database are running: "
            "a new master key would reach only this host's key file, and they could no longer "
            "read the encrypted values",
            code="rotation_not_possible",
            fix="Stop the other processes, rotate from this one, copy the new master key to "
                "their hosts, then start them again (a stopped process stops counting at once, "
                f"one that died after {changes.LIVE_WITHIN_SECONDS:.0f} s).")


def rotate_offline(db: Database, keyring: Keyring, *, reencrypt: bool, actor: str = "cli",
                   before_commit: Callable[[MasterKey], None] | None = None,
                   ) -> tuple[RotationReport, MasterKey]:
    """The whole rotation from a process without an event loop (the CLI). `before_commit`
    runs last inside the transaction: with a key from the environment the CLI prints the new
    key there, so a key the database needs is never lost to a crash after the commit."""
    source = keyring.source
    new = MasterKey.generate()

    def job(conn: Connection) -> RotationReport:
        refuse_while_others_live(conn, db.process_id)
        if not source.from_env:
            source.stage(new)
        report = rewrap_database(conn, keyring, new, reencrypt=reencrypt, actor=actor)
        if before_commit is not None:
            before_commit(new)
        return report

    try:
        report = db.write_sync(job)
    except Exception:
        source.discard_pending(new)
        raise
    if not source.from_env:
        source.promote(new)
    keyring.adopt(new)
    return report, new


class KeyRotationService:
    """`POST /api/v1/admin/keys/rotate`: the same rotation inside the running server."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self.db = db
        self.keyring = keyring
        self._lock = asyncio.Lock()

    async def rotate(self, principal: Principal, *, reencrypt: bool,
                     request_id: str | None = None) -> RotationReport:
        principal.require_super_admin()
        if self.keyring.source.from_env:
            raise Conflict(
                f"the master key comes from {ENV_NAME}: the server cannot store a new one",
                code="rotation_not_possible",
                fix=f"Run `scaiflow-box keys rotate` on the box, set {ENV_NAME} to the key it "
                    "prints, and restart the appliance.")
        # Shielded: once the transaction is queued, the key file must follow the database
        # even if the request goes away.
        return await asyncio.shield(self._rotate(principal.sub, reencrypt, request_id))

    async def _rotate(self, actor: str, reencrypt: bool, request_id: str | None
                      ) -> RotationReport:
        loop = asyncio.get_running_loop()
        source = self.keyring.source
        async with self._lock:
            new = MasterKey.generate()

            def job(conn: Connection) -> RotationReport:
                refuse_while_others_live(conn, self.db.process_id)
                source.stage(new)
                return rewrap_database(conn, self.keyring, new, reencrypt=reencrypt,
                                       actor=actor, request_id=request_id)

            try:
                report = await self.db.write(job)
            except Exception:
                await loop.run_in_executor(None, source.discard_pending, new)
                raise
            await loop.run_in_executor(None, source.promote, new)
            self.keyring.adopt(new)
            return report
