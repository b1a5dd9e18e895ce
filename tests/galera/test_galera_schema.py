"""The appliance's schema on a three-node Galera cluster: created through node 1, the same on
nodes 2 and 3, and every table has a primary key (Galera replicates row changes by key; a
table without one is refused by `wsrep_certify_nonPK` or replicated by full-row scans)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scaiflow_box.store.database import open_database
from scaiflow_box.store.mariadb_schema.upgrade import latest_version
from tests.galera.conftest import GaleraDatabase

pytestmark = [pytest.mark.slow, pytest.mark.galera, pytest.mark.xdist_group("galera")]


def schema_of(database: GaleraDatabase, node: int) -> dict[str, list[tuple[object, ...]]]:
    """What information_schema says of the database, through `node`."""
    where = "table_schema = DATABASE()"
    return {
        "tables": database.rows(
            node, f"SELECT table_name, engine, table_collation FROM information_schema.tables"
                  f" WHERE {where} ORDER BY table_name"),
        "columns": database.rows(
            node, f"SELECT table_name, column_name, ordinal_position, column_type,"
                  f" is_nullable, column_default FROM information_schema.columns WHERE {where}"
                  f" ORDER BY table_name, ordinal_position"),
        "indexes": database.rows(
            node, f"SELECT table_name, index_name, seq_in_index, column_name, non_unique"
                  f" FROM information_schema.statistics WHERE {where}"
                  f" ORDER BY table_name, index_name, seq_in_index"),
        "triggers": database.rows(
            node, "SELECT trigger_name, event_object_table, action_timing, event_manipulation"
                  " FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
                  " ORDER BY trigger_name"),
        "migrations": database.rows(
            node, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"),
    }


def test_the_schema_made_through_node_1_is_on_every_node_and_every_table_has_a_key(
        galera_database: GaleraDatabase) -> None:
    open_database(Path("unused"), galera_database.url(1)).close()

    on_node_1 = schema_of(galera_database, 1)
    assert [row[0] for row in on_node_1["migrations"]] == list(range(1, latest_version() + 1))
    assert len(on_node_1["tables"]) >= 25 and len(on_node_1["triggers"]) == 4  # append-only
    assert {(engine, collation) for _, engine, collation in on_node_1["tables"]} == {
        ("InnoDB", "utf8mb4_bin")}
    for node in (2, 3):
        assert schema_of(galera_database, node) == on_node_1, f"node {node}"

    for node in (1, 2, 3):
        without_key = galera_database.rows(
            node,
            "SELECT t.table_name FROM information_schema.tables t"
            " LEFT JOIN information_schema.table_constraints c"
            "  ON c.table_schema = t.table_schema AND c.table_name = t.table_name"
            "  AND c.constraint_type = 'PRIMARY KEY'"
            " WHERE t.table_schema = DATABASE() AND t.table_type = 'BASE TABLE'"
            "  AND c.constraint_name IS NULL")
        assert without_key == [], f"node {node}: tables without a primary key {without_key}"

    # A second open through another node finds the schema and applies nothing.
    open_database(Path("unused"), galera_database.url(3)).close()
    assert schema_of(galera_database, 2)["migrations"] == on_node_1["migrations"]
