"""The MariaDB schema at head (store/mariadb_schema: baseline.sql, then the later migrations)
against SQLite's schema at head: the same tables, columns, keys, indexes, foreign keys and
triggers, and the same behaviour of the triggers, but for the live-flow counters, which
SQLite alone keeps (migration 013; docs/scale-out.md, "MariaDB baseline schema: choices")."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from scaiflow_box.store import flow_counts, mariadb
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.mariadb import IntegrityViolation, MariaDbConnection
from scaiflow_box.store.mariadb_schema import (
    BASELINE_VERSION,
    apply_baseline,
    later_migrations,
    statements,
)
from scaiflow_box.store.mariadb_schema.upgrade import latest_version, prepare_schema
from scaiflow_box.store.migrations import apply_migrations
from tests.mariadb_server import MariaDbDatabase

pytestmark = pytest.mark.mariadb

# SQLite's declared type → the MariaDB types that hold the same values
COMPATIBLE = {
    "TEXT": {"varchar", "char", "text", "mediumtext", "longtext"},
    "INTEGER": {"bigint", "tinyint"},
    "BLOB": {"longblob"},
    "REAL": {"double"},
}
# `COLLATE NOCASE` in an index: an invisible generated column LOWER(col) on MariaDB
NOCASE_COLUMNS = {("users", "email"): "email_nocase", ("groups", "name"): "name_nocase"}
# SQLite's partial indexes (`WHERE deleted_at IS NULL`): MariaDB has none, so a full index with
# `deleted_at` after the equality columns, and the lists ask for `deleted_at IS NULL`
PARTIAL = {
    "flows_live_order": ["tenant_id", "deleted_at", "created_at", "id"],
    "flows_live_owner_order": ["tenant_id", "owner_id", "deleted_at", "created_at", "id"],
}
# Indexes MariaDB has and SQLite has not: InnoDB wants one led by each foreign key's columns
EXTRA_INDEXES = {("deployments", "deployments_flow_fk")}
# Removed from SQLite by migration 010 (summary written in Python); never on MariaDB
SUMMARY_TRIGGERS = {"flows_summary_insert", "flows_summary_update"}
# The live-flow counters: SQLite's two tables, kept by triggers; MariaDB's one table of
# shards, kept by store/flow_counts.py (its migration 013)
SQLITE_ONLY_TABLES = {"flow_counts", "flow_owner_counts"}
MARIADB_ONLY_TABLES = {"flow_live_counts"}
SQLITE_ONLY_TRIGGERS = {"flow_counts_insert", "flow_counts_soft_delete", "flow_counts_restore",
                        "flow_counts_delete", "flow_owner_counts_insert",
                        "flow_owner_counts_delete", "flow_owner_counts_update"}


@pytest.fixture
def lite(tmp_path: Path) -> Any:
    conn = sqlite3.connect(tmp_path / "head.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA recursive_triggers = ON")
    apply_migrations(conn)
    yield conn
    conn.close()


@pytest.fixture
def maria(mariadb_database: MariaDbDatabase) -> Any:
    conn = mariadb.connect(mariadb_database)
    assert prepare_schema(conn, "test", "test-process") == list(
        range(BASELINE_VERSION + 1, latest_version() + 1))
    yield conn
    conn.close()


def _sqlite_tables(lite: sqlite3.Connection) -> list[str]:
    """SQLite's tables but its counters."""
    return sorted(r[0] for r in lite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        if r[0] not in SQLITE_ONLY_TABLES)


def _maria_rows(maria: MariaDbConnection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in maria.execute(sql, params).fetchall()]


def _maria_index_columns(maria: MariaDbConnection, table: str
                         ) -> dict[str, tuple[bool, list[str]]]:
    """index name → (unique, columns in order)."""
    found: dict[str, tuple[bool, list[str]]] = {}
    for name, non_unique, column in _maria_rows(
            maria, "SELECT index_name, non_unique, column_name FROM information_schema.statistics"
            " WHERE table_schema = DATABASE() AND table_name = ? ORDER BY index_name,"
            " seq_in_index", table):
        found.setdefault(name, (not non_unique, []))[1].append(column)
    return found


def test_the_same_tables_columns_and_primary_keys(lite: sqlite3.Connection,
                                                  maria: MariaDbConnection) -> None:
    tables = _sqlite_tables(lite)
    assert len(tables) >= 25
    assert sorted(_maria_rows(maria, "SELECT table_name, engine, table_collation"
                                     " FROM information_schema.tables"
                                     " WHERE table_schema = DATABASE()")) == \
        sorted((t, "InnoDB", "utf8mb4_bin") for t in {*tables, *MARIADB_ONLY_TABLES})
    autoincrement = {t for t in tables if "AUTOINCREMENT" in lite.execute(
        "SELECT sql FROM sqlite_master WHERE name = ?", (t,)).fetchone()[0]}
    assert autoincrement == {"audit_log", "live_doc_updates"}
    for table in tables:
        info = lite.execute(f"PRAGMA table_info({table})").fetchall()
        columns = _maria_rows(
            maria, "SELECT column_name, data_type, is_nullable, column_default, extra,"
                   " collation_name FROM information_schema.columns"
                   " WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
            table)
        visible = [c for c in columns if "INVISIBLE" not in c[4]]
        hidden = {(table, c[0]) for c in columns if "INVISIBLE" in c[4]}
        assert hidden == {(t, c) for (t, _), c in NOCASE_COLUMNS.items() if t == table}
        assert [c[0] for c in visible] == [c[1] for c in info], table
        for (_, name, declared, notnull, default, pk), (_, kind, nullable, maria_default,
                                                       extra, collation) in zip(
                info, visible, strict=True):
            where = f"{table}.{name}"
            assert kind in COMPATIBLE[declared], (where, declared, kind)
            assert (nullable == "NO") == bool(notnull or pk), where
            assert (None if maria_default in (None, "NULL") else maria_default) == default, where
            assert ("auto_increment" in extra) == (table in autoincrement and pk == 1), where
            assert collation in (None, "utf8mb4_bin"), where
        lite_pk = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
        maria_pk = _maria_index_columns(maria, table).get("PRIMARY", (True, []))[1]
        assert lite_pk and maria_pk == lite_pk, table  # every table has one (Galera)


def test_every_sqlite_index_and_unique_key_has_its_mariadb_counterpart(
        lite: sqlite3.Connection, maria: MariaDbConnection) -> None:
    extra: set[tuple[str, str]] = set()
    for table in _sqlite_tables(lite):
        maria_indexes = _maria_index_columns(maria, table)
        lite_uniques = []
        for _, name, unique, origin, partial in lite.execute(f"PRAGMA index_list({table})"):
            if origin == "pk":
                continue
            keys = [(r[2], r[4]) for r in lite.execute(f"PRAGMA index_xinfo({name})") if r[5]]
            columns = [NOCASE_COLUMNS[(table, c)] if coll == "NOCASE" else c
                       for c, coll in keys]
            if origin == "u":  # a UNIQUE constraint: compared by its columns
                lite_uniques.append(columns)
                continue
            if partial:
                columns = PARTIAL[name]
                assert [c for c in columns if c != "deleted_at"] == [c for c, _ in keys]
            assert maria_indexes.get(name) == (bool(unique), columns), (table, name)
        maria_uniques = [cols for name, (unique, cols) in maria_indexes.items()
                         if unique and name != "PRIMARY"]
        assert sorted(maria_uniques) == sorted(lite_uniques), table
        lite_names = {r[1] for r in lite.execute(f"PRAGMA index_list({table})")}
        extra |= {(table, name) for name, (unique, _) in maria_indexes.items()
                  if not unique and name not in lite_names}
    assert extra == EXTRA_INDEXES


def test_the_same_foreign_keys_and_triggers(lite: sqlite3.Connection,
                                            maria: MariaDbConnection) -> None:
    lite_keys: dict[tuple[str, int], list[Any]] = {}
    for table in _sqlite_tables(lite):
        for key_id, seq, parent, child_col, parent_col, _, on_delete, _ in lite.execute(
                f"PRAGMA foreign_key_list({table})"):
            entry = lite_keys.setdefault((table, key_id), [table, parent, [], [], on_delete])
            entry[2].insert(seq, child_col)
            entry[3].insert(seq, parent_col)
    maria_keys: dict[tuple[str, str], list[Any]] = {}
    for table, name, parent, child_col, parent_col, on_delete in _maria_rows(
            maria, "SELECT k.table_name, k.constraint_name, k.referenced_table_name,"
                   " k.column_name, k.referenced_column_name, r.delete_rule"
                   " FROM information_schema.key_column_usage k"
                   " JOIN information_schema.referential_constraints r"
                   " ON r.constraint_schema = k.constraint_schema"
                   " AND r.constraint_name = k.constraint_name AND r.table_name = k.table_name"
                   " WHERE k.table_schema = DATABASE() AND k.referenced_table_name IS NOT NULL"
                   " ORDER BY k.table_name, k.constraint_name, k.ordinal_position"):
        entry = maria_keys.setdefault((table, name), [table, parent, [], [], on_delete])
        entry[2].append(child_col)
        entry[3].append(parent_col)

    def normal(keys: dict[Any, list[Any]]) -> list[tuple[Any, ...]]:
        return sorted((t, p, tuple(c), tuple(pc), "RESTRICT" if d == "NO ACTION" else d)
                      for t, p, c, pc, d in keys.values())

    assert normal(maria_keys) == normal(lite_keys)
    assert len(maria_keys) == 7
    lite_triggers = {r[0] for r in lite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'")} - SUMMARY_TRIGGERS
    assert lite_triggers >= SQLITE_ONLY_TRIGGERS
    maria_triggers = {r[0] for r in _maria_rows(
        maria, "SELECT trigger_name FROM information_schema.triggers"
               " WHERE trigger_schema = DATABASE()")}
    assert maria_triggers == lite_triggers - SQLITE_ONLY_TRIGGERS and len(maria_triggers) == 4


def test_the_schema_is_recorded_as_sqlites_migrations_and_each_step_runs_again(
        lite: sqlite3.Connection, maria: MariaDbConnection) -> None:
    recorded = [tuple(r) for r in lite.execute(
        "SELECT version, name FROM schema_migrations ORDER BY version")]
    assert _maria_rows(maria, "SELECT version, name FROM schema_migrations ORDER BY version") \
        == recorded and len(recorded) == latest_version()
    # Every SQLite migration after the baseline has its MariaDB counterpart, and no more.
    assert [(n, name) for n, name, _ in later_migrations()] == recorded[BASELINE_VERSION:]
    # A baseline or a migration that stopped halfway is simply run again, statement by
    # statement: each one runs twice here (the migrations' rows are written last).
    apply_baseline(maria)
    for _, _, sql in later_migrations():
        for statement in statements(sql):
            maria.execute(statement)
            maria.execute(statement)
    assert _maria_rows(maria, "SELECT version, name FROM schema_migrations ORDER BY version") \
        == recorded


FLOW = ("INSERT INTO flows (id, tenant_id, name, owner_id, version, version_seq, created_at,"
        " updated_at, deleted_at) VALUES (?, ?, ?, ?, '1.0.0', 1, ?, ?, ?)")
# (statement, parameters): what the repositories do to flows, in both dialects
FLOW_CHANGES: list[tuple[str, tuple[Any, ...]]] = [
    (FLOW, ("f1", "t1", "one", "ann", "2026-01-01", "2026-01-01", None)),
    (FLOW, ("f2", "t1", "two", "bob", "2026-01-02", "2026-01-02", None)),
    (FLOW, ("f3", "t1", "three", "ann", "2026-01-03", "2026-01-03", None)),
    (FLOW, ("f4", "t2", "four", "ann", "2026-01-04", "2026-01-04", None)),
    (FLOW, ("f5", "t1", "gone", "ann", "2026-01-05", "2026-01-05", "2026-01-06")),
    ("UPDATE flows SET name = 'renamed', updated_at = '2026-02-01' WHERE id = 'f1'", ()),
    ("UPDATE flows SET deleted_at = '2026-02-02' WHERE id = 'f2'", ()),  # soft delete
    ("UPDATE flows SET deleted_at = deleted_at, name = 'x' WHERE id = 'f2'", ()),  # stays deleted
    ("UPDATE flows SET deleted_at = NULL WHERE id = 'f5'", ()),  # restore
    ("UPDATE flows SET owner_id = 'bob' WHERE id = 'f3'", ()),  # ownership move
    ("UPDATE flows SET owner_id = 'cy', deleted_at = '2026-02-03' WHERE id = 'f4'", ()),
    ("UPDATE flows SET deleted_at = deleted_at WHERE id = 'f1'", ()),  # set, unchanged
    ("DELETE FROM flows WHERE id = 'f2'", ()),  # a soft-deleted flow
    ("DELETE FROM flows WHERE id = 'f1'", ()),  # a live one
]


def test_live_counts_follow_the_store_as_sqlites_triggers_do(
        lite: sqlite3.Connection, maria: MariaDbConnection) -> None:
    """What a list's `total` reads (store/flow_counts.py): SQLite's counters, kept by its
    triggers, and MariaDB's shards, kept by the store's `insert_flow`/`update_flow`, agree
    after every kind of change, written by two processes (shards); folding the shards of
    gone processes into '' changes no count."""
    lite.row_factory = sqlite3.Row
    steps: list[tuple[str, str, Any]] = [
        ("p1", "insert", ("f1", "t1", "ann")), ("p1", "insert", ("f2", "t1", "bob")),
        ("p2", "insert", ("f3", "t1", "ann")), ("p2", "insert", ("f4", "t2", "ann")),
        ("p2", "insert", ("f5", "t1", "ann")),
        ("p1", "update", ("t1", "f5", {"deleted_at": "2026-01-06"})),  # soft delete
        ("p2", "update", ("t1", "f1", {"name": "renamed"})),  # no count moves
        ("p2", "update", ("t1", "f2", {"deleted_at": "2026-02-02"})),
        ("p1", "update", ("t1", "f2", {"deleted_at": "2026-02-03", "name": "x"})),  # stays
        ("p2", "update", ("t1", "f5", {"deleted_at": None})),  # restore
        ("p1", "update", ("t1", "f3", {"owner_id": "bob"})),  # ownership move
        ("p2", "update", ("t2", "f4", {"owner_id": "cy", "deleted_at": "2026-02-04"})),
        ("p1", "update", ("t1", "f2", {"owner_id": "cy", "deleted_at": None})),  # both
        ("p1", "update", ("t1", "nope", {"deleted_at": None})),  # no such flow
    ]

    def counts(db: Any) -> list[int]:
        return [flow_counts.tenant_total(db, "t1"), flow_counts.tenant_total(db, "t2"),
                *(flow_counts.owner_total(db, t, o) for t in ("t1", "t2")
                  for o in ("ann", "bob", "cy"))]

    for shard, kind, args in steps:
        maria.counter_shard = shard
        for db in (lite, maria):
            if kind == "insert":
                flow_rows.insert_flow(db, flow_id=args[0], tenant_id=args[1], name="n",
                                      description="", owner_id=args[2], version="1.0.0",
                                      now="2026-01-01")
            else:
                flow_rows.update_flow(db, args[0], args[1], **args[2])
        assert counts(maria) == counts(lite), (shard, kind, args)
    assert counts(maria) == [4, 0, 2, 1, 1, 0, 0, 0]
    assert {r[0] for r in _maria_rows(maria, "SELECT shard FROM flow_live_counts")} == {
        "p1", "p2"}
    assert flow_counts.fold_gone_shards(maria) == 2  # neither has a change head
    assert counts(maria) == [4, 0, 2, 1, 1, 0, 0, 0]
    assert {r[0] for r in _maria_rows(maria, "SELECT shard FROM flow_live_counts")} == {""}
    for db in (lite, maria):  # the super admin's overview reads the same counts
        for tenant in ("t1", "t2"):
            db.execute("INSERT INTO tenants (id, name, slug, created_at, updated_at)"
                       " VALUES (?, ?, ?, 'now', 'now')", (tenant, tenant, tenant))
        assert [(r[0], r[6]) for r in user_rows.tenant_overview(db)] == [("t1", 4), ("t2", 0)]


def test_versions_are_append_only_as_in_sqlite(lite: sqlite3.Connection,
                                               maria: MariaDbConnection) -> None:
    for db in (lite, maria):
        db.execute(FLOW, ("f1", "t1", "one", "ann", "2026-01-01", "2026-01-01", None))
        db.execute("INSERT INTO flow_versions (flow_id, seq, tenant_id, version, storage_key,"
                   " content, sha256, size_bytes, created_by, created_at)"
                   " VALUES ('f1', 1, 't1', '1.0.0', 'k', ?, 'abc', 3, 'ann', 'now')",
                   (b"\x00{}",))
        for sql in ("UPDATE flow_versions SET size_bytes = 4",
                    "DELETE FROM flow_versions WHERE flow_id = 'f1'"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(sql)
    with pytest.raises(IntegrityViolation):
        maria.execute("DELETE FROM flow_versions")
    assert maria.execute("SELECT content FROM flow_versions").fetchone()[0] == b"\x00{}"


def test_nocase_lookups_and_orders_match_sqlite(lite: sqlite3.Connection,
                                                maria: MariaDbConnection) -> None:
    """`email = ? COLLATE NOCASE` is `email_nocase = LOWER(?)` on MariaDB, and the groups'
    order `name COLLATE NOCASE, id` is `name_nocase, id`: the same answers for ASCII."""
    for db in (lite, maria):
        for user, email in [("u1", "Ann@Example.org"), ("u2", "ann@example.ORG"),
                            ("u3", "bob@example.org")]:
            db.execute("INSERT INTO users (id, tenant_id, email, created_at, updated_at)"
                       " VALUES (?, 't1', ?, 'now', 'now')", (user, email))
        for group, name in [("g1", "beta"), ("g2", "Alpha"), ("g3", "alpha"), ("g4", "Gamma"),
                            ("g0", "ALPHA")]:
            db.execute("INSERT INTO `groups` (id, tenant_id, name, created_at, updated_at)"
                       " VALUES (?, 't1', ?, 'now', 'now')", (group, name))
    query = "aNN@EXAMPLE.org"
    assert [r[0] for r in lite.execute(
        "SELECT id FROM users WHERE email = ? COLLATE NOCASE ORDER BY id", (query,))] == \
        [r[0] for r in maria.execute(
            "SELECT id FROM users WHERE email_nocase = LOWER(?) ORDER BY id", (query,))] == \
        ["u1", "u2"]
    assert [r[0] for r in lite.execute(
        "SELECT id FROM groups WHERE tenant_id = 't1' ORDER BY name COLLATE NOCASE, id")] == \
        [r[0] for r in maria.execute(
            "SELECT id FROM `groups` WHERE tenant_id = 't1' ORDER BY name_nocase, id")] == \
        ["g0", "g2", "g3", "g1", "g4"]
    assert maria.execute("SELECT count(*) FROM users WHERE email = ?",
                         ("ann@example.org",)).fetchone()[0] == 0  # `=` itself stays exact


def test_a_tenants_secret_names_fit_the_longest_tenant_id(maria: MariaDbConnection) -> None:
    """`tenants/{tenant id}/scaigrid_base_url` for a tenant id of 200 characters (ids.PLAIN_ID)
    fits `tenant_secrets.name`: schemathesis found a 500 (error 1406, data too long) when the
    column was as wide as an id."""
    from scaiflow_box.services.credentials import BASE_URL, secret_name
    from scaiflow_box.store.secrets import put_secret

    tenant_id = "tnt_" + "x" * 196
    name = secret_name(tenant_id, BASE_URL)
    put_secret(maria, tenant_id, name, "sealed", "usr_root")
    maria.commit()
    assert _maria_rows(maria, "SELECT name FROM tenant_secrets WHERE tenant_id = ?",
                       tenant_id) == [(name,)]
