"""`scaiflow-box init` (and every start): data dir, master key, database, issuer key, and on
a box with no ScaiKey the local tenant and its bootstrap super admin (SPEC §20)."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass

from scaiflow_box.auth.issuer import LocalIssuer
from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import MasterKey, load_or_create_master_key
from scaiflow_box.store import audit
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.db import Database

LOCAL_TENANT = "tnt_local"
OPERATOR = "usr_operator"


@dataclass(frozen=True)
class InitReport:
    master_key: MasterKey
    issuer: LocalIssuer
    operator_created: bool


def bootstrap_operator(conn: sqlite3.Connection) -> bool:
    """Create tnt_local/usr_operator as super_admin (source bootstrap) once; idempotent."""
    user_rows.ensure_tenant(conn, LOCAL_TENANT, source="bootstrap")
    existing = user_rows.get_user(conn, LOCAL_TENANT, OPERATOR)
    if existing is not None:
        return False
    user_rows.upsert_user(conn, tenant_id=LOCAL_TENANT, user_id=OPERATOR, email=None,
                          display_name="Appliance operator", source="bootstrap")
    user_rows.set_admin_role(conn, LOCAL_TENANT, OPERATOR, "super_admin", "bootstrap")
    audit.record(conn, tenant_id=LOCAL_TENANT, actor="scaiflow-box init",
                 action="user.bootstrapped", target_type="user", target_id=OPERATOR,
                 details={"role": "super_admin"})
    return True


def initialize(settings: Settings, db: Database) -> InitReport:
    """Idempotent; `db` must be open. Runs with blocking I/O (CLI or executor)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)
    master = load_or_create_master_key(settings.master_key_path)

    def run(conn: sqlite3.Connection) -> tuple[LocalIssuer, bool]:
        issuer = LocalIssuer.load_or_create(conn, master)
        created = False if settings.scaikey_configured else bootstrap_operator(conn)
        return issuer, created

    issuer, created = db.write_sync(run)
    return InitReport(master, issuer, created)
