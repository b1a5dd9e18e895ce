"""Service-level fixtures: a real Database in tmp_path with the services built on it as
`app.py` builds them, and principals as the identity service would resolve them."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scaiflow_box.auth.principal import MANAGE, VIEW, Principal
from scaiflow_box.services.catalog import CatalogService
from scaiflow_box.services.flows import FlowService
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.content_cache import VersionContentCache
from scaiflow_box.store.database import Database
from scaiflow_box.store.db import SqliteDatabase
from tests.db_backend import Backend, stored_rows

CATALOG_TABLES = ("catalog_packages", "catalog_package_groups", "catalog_versions")


def principal(sub: str, tenant: str = "tnt_a", *, role: str | None = None,
              permissions: tuple[str, ...] = (VIEW, MANAGE)) -> Principal:
    return Principal(sub=sub, tenant_id=tenant, email=f"{sub}@example.com", display_name=sub,
                     permissions=frozenset(permissions), admin_role=role,
                     admin_role_source="manual" if role else None, token_source="service")


@dataclass
class CatalogBox:
    """One data directory's database and the catalog and flow services on it."""

    db: Database
    flows: FlowService
    catalog: CatalogService

    def sql(self, query: str, *params: Any) -> list[sqlite3.Row]:
        """The stored state, read through a separate connection."""
        return stored_rows(self.db, query, *params)

    def counts(self) -> dict[str, int]:
        """Rows of the catalog's tables and of the catalog's audit actions."""
        found = {table: self.sql(f"SELECT count(*) FROM {table}")[0][0]
                 for table in CATALOG_TABLES}
        found["audit"] = self.sql("SELECT count(*) FROM audit_log WHERE action LIKE 'package.%'"
                                  )[0][0]
        return found

    async def user(self, sub: str, tenant: str = "tnt_a", *, groups: tuple[str, ...] = (),
                   ) -> Principal:
        def run(conn: sqlite3.Connection) -> None:
            user_rows.upsert_user(conn, tenant_id=tenant, user_id=sub,
                                  email=f"{sub}@example.com", display_name=sub)
            for group in groups:
                user_rows.upsert_group(conn, tenant, group, group)
                user_rows.add_membership(conn, tenant, group, sub)

        await self.db.write(run)
        return principal(sub, tenant)


def open_box(path: Path, backend: Backend | None = None) -> CatalogBox:
    """A data directory's database (SQLite at `path`, or MariaDB with `--db=mariadb`)."""
    db = backend.open(path) if backend is not None else SqliteDatabase(path)
    flows = FlowService(db, VersionContentCache())
    return CatalogBox(db, flows, CatalogService(db, flows))


@pytest.fixture
async def box(tmp_path: Path, backend: Backend) -> AsyncIterator[CatalogBox]:
    opened = open_box(tmp_path / "box" / "scaiflow.db", backend)
    yield opened
    opened.db.close()


@pytest.fixture
async def other_box(tmp_path: Path, backend: Backend) -> AsyncIterator[CatalogBox]:
    """A second, independent data directory (another appliance)."""
    opened = open_box(tmp_path / "other" / "scaiflow.db", backend)
    yield opened
    opened.db.close()
