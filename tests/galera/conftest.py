"""The three-node Galera cluster (tests/galera/cluster.py), started once per test session, and
a new empty appliance database on it per test, reachable through each node."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scaiflow_box.store.engine import DatabaseUrl
from tests.galera.cluster import GaleraCluster, GaleraNode, find_galera, start_cluster
from tests.mariadb_server import MariaDbUnavailable

_names = itertools.count(1)


@pytest.fixture(scope="session")
def galera_cluster() -> Iterator[GaleraCluster]:
    """Three synced nodes for the session. Without Debian's galera-4, mariadb-server or rsync
    the Galera tests are skipped, naming the package, except on CI (CI=true), where they must
    run: `.ci/run` installs them."""
    try:
        find_galera()
    except MariaDbUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Galera tests: {exc}")
        pytest.skip(str(exc))
    started = time.monotonic()
    cluster = start_cluster()
    print(f"\nGalera: 3 nodes synced in {time.monotonic() - started:.1f} s "
          f"(per node: {', '.join(f'{s:.1f}' for s in cluster.start_seconds)} s)")
    yield cluster
    cluster.stop()


@dataclass(frozen=True)
class GaleraDatabase:
    """One appliance database on the cluster; `url(n)` reaches it through node n (1-3)."""

    cluster: GaleraCluster
    name: str

    def node(self, number: int) -> GaleraNode:
        return self.cluster.nodes[number - 1]

    def url(self, number: int) -> DatabaseUrl:
        node = self.node(number)
        assert node.server is not None
        return DatabaseUrl(host="localhost", port=node.port, user="root", database=self.name,
                           unix_socket=str(node.server.socket_path))

    def rows(self, number: int, sql: str, *params: object) -> list[tuple[object, ...]]:
        """Rows of `sql` read through node `number` (autocommit; `wsrep_sync_wait = 1`, so
        every write the cluster committed before the read is seen)."""
        conn = self.node(number).connect(self.name)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SET SESSION wsrep_sync_wait = 1")
                cursor.execute(sql, params or None)
                return list(cursor.fetchall())
        finally:
            conn.close()


@pytest.fixture
def galera_database(galera_cluster: GaleraCluster) -> Iterator[GaleraDatabase]:
    """A new empty utf8mb4/utf8mb4_bin database, created through node 1 (DDL replicates to
    every node), dropped after the test."""
    name = f"scaiflow_{next(_names)}"
    galera_cluster.admin(
        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
    yield GaleraDatabase(galera_cluster, name)
    galera_cluster.admin(f"DROP DATABASE IF EXISTS `{name}`")
