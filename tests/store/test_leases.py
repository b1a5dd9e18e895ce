"""Lease statements (store/leases.py) on both engines: one holder at a time, taken over only
after expiry, the fence counting each change of hands, released at once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scaiflow_box.store import leases, mariadb
from scaiflow_box.store.mariadb_schema import apply_baseline
from scaiflow_box.store.migrations import apply_migrations


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Any]:
    conn = sqlite3.connect(tmp_path / "leases.db", isolation_level=None)
    apply_migrations(conn)
    yield conn
    conn.close()


@pytest.fixture
def maria(mariadb_database: Any) -> Iterator[Any]:
    conn = mariadb.connect(mariadb_database)
    apply_baseline(conn)
    conn.commit()
    yield conn
    conn.close()


def _the_rules(conn: Any) -> None:
    name = "directory_sync"
    assert leases.take(conn, name, "a", now=100.0, ttl=30) == 1
    assert leases.take(conn, name, "b", now=110.0, ttl=30) is None  # a's runs until 130
    assert leases.take(conn, name, "a", now=120.0, ttl=30) == 1  # renewed: same turn
    assert leases.take(conn, name, "b", now=149.0, ttl=30) is None  # now until 150
    assert leases.take(conn, name, "b", now=150.5, ttl=30) == 2  # expired: b's turn
    assert leases.take(conn, name, "a", now=151.0, ttl=30) is None
    assert leases.release(conn, name, "a") is False  # not a's to give
    assert leases.release(conn, name, "b") is True
    assert leases.take(conn, name, "a", now=152.0, ttl=30) == 3  # given up: taken at once
    # Leases are independent of each other.
    assert leases.take(conn, "retention", "b", now=152.0, ttl=30) == 1
    assert leases.holders(conn) == [("directory_sync", "a", 3, 182.0),
                                    ("retention", "b", 1, 182.0)]
    conn.commit()


def test_one_holder_at_a_time_on_sqlite(lite: sqlite3.Connection) -> None:
    _the_rules(lite)


@pytest.mark.mariadb
def test_one_holder_at_a_time_on_mariadb(maria: Any) -> None:
    _the_rules(maria)


def test_every_lease_the_code_asks_for_has_its_row(lite: sqlite3.Connection) -> None:
    assert [name for name, *_ in leases.holders(lite)] == sorted(leases.LEASES)
