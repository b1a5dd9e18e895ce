"""Shared fixtures: a real appliance (real SQLite file in tmp_path, real aiohttp server on
loopback through pytest-aiohttp, with the appliance's own runner) and helpers that mint real
signed tokens.

Every test also fails when a handler answers a status its route does not declare (the
dispatcher logs it; see `http/dispatch.py`), so the OpenAPI document stays complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestClient, TestServer

from scaiflow_box.app import create_app
from scaiflow_box.config import Settings, load_settings
from scaiflow_box.http.protocol import ApplianceRunner
from scaiflow_box.http.route import Route
from scaiflow_box.keys import DB, ISSUER
from scaiflow_box.services.service_tokens import mint_service_token
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.db import Database
from tests.db_backend import Backend, stored_rows, stored_write
from tests.mariadb_server import (
    MariaDbDatabase,
    MariaDbServer,
    MariaDbUnavailable,
    find_binaries,
    start_server,
)

try:  # the ScaiKey fake's fixtures, when present
    from tests.fakes.fixtures import *  # noqa: F403
except ImportError:  # pragma: no cover
    pass

VIEW_MANAGE = "scaicore:view scaicore:manage"


_OWN_BASETEMP = pytest.StashKey[str]()

DB_BACKENDS = ("sqlite", "mariadb")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db", choices=DB_BACKENDS, default="sqlite",
        help="the database backend the appliance's tests run against: sqlite (the embedded "
             "default) or mariadb (a private mariadbd per xdist worker; docs/scale-out.md §6). "
             "Tests marked `mariadb` use the MariaDB server whatever this says.")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With `--db=mariadb`, tests marked `sqlite_only("why")` are skipped, saying why (each is
    listed in docs/scale-out.md): what they test is SQLite's own (its file, pragmas, backup
    API, WAL).

    Tests that never ask for the backend (`db_backend`, through `backend`, `make_appliance`,
    `appliance`, ...) are deselected: they would run exactly as in the default pass (their
    databases, if any, are SQLite files of their own, or the `mariadb` tests' server, which
    the default pass uses too)."""
    if config.getoption("--db") != "mariadb":
        return
    chosen = [item for item in items if "db_backend" in getattr(item, "fixturenames", ())]
    if len(chosen) != len(items):
        kept = {id(item) for item in chosen}
        config.hook.pytest_deselected(items=[item for item in items if id(item) not in kept])
        items[:] = chosen
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "SQLite's own behaviour"
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))
        gap = item.get_closest_marker("mariadb_gap")
        if gap is not None:  # known not to work on MariaDB yet: must fail, or the mark goes
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"MariaDB: {gap.args[0]}"))


def pytest_configure(config: pytest.Config) -> None:
    """Temporary files on tmpfs when the machine has one: SQLite's fsyncs cost nothing there,
    which is what every test wants except those about durability (tests/test_crash_safety.py
    kills processes, and a killed process loses nothing from the page cache either way)."""
    if config.option.basetemp is None and os.path.isdir("/dev/shm") \
            and os.access("/dev/shm", os.W_OK):
        config.option.basetemp = tempfile.mkdtemp(prefix="scaiflow-tests-", dir="/dev/shm")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    """tmpfs is memory: remove the session's directory instead of keeping it for inspection
    (run with --basetemp=DIR to keep one)."""
    own = config.stash.get(_OWN_BASETEMP, None)
    if own is not None:
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture(autouse=True)
def _every_status_is_declared(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="scaiflow_box.http")
    yield
    undeclared = [r.getMessage() for r in caplog.records
                  if r.getMessage().startswith("undeclared ")]
    assert not undeclared, undeclared


class ApplianceTestServer(TestServer):
    """pytest-aiohttp's server with the appliance's runner (JSON answers to bad requests)."""

    async def _make_runner(self, **kwargs: Any) -> ApplianceRunner:
        return ApplianceRunner(self.app, **kwargs)


def serve_app(app: web.Application) -> BaseTestServer:
    return ApplianceTestServer(app)


def hello_content(name: str = "hello") -> dict[str, Any]:
    """A small structurally valid FlowGraph."""
    return {
        "id": "ignored", "name": name, "version": "9.9.9", "scaicore_target": "0.2",
        "metadata": {}, "variables": [], "tests": [],
        "nodes": [
            {"id": "node_entry", "type": "entry_api", "label": "Entry",
             "position": {"x": 0, "y": 0}, "config": {"method": "POST", "path": "/hello"},
             "inputs": [], "outputs": [{"id": "out_request", "label": "request",
                                        "type": "object"}]},
            {"id": "node_reply", "type": "llm_rigid", "label": "Reply",
             "position": {"x": 120, "y": 0}, "config": {"template": "Hello {{name}}"},
             "inputs": [{"id": "in", "label": "in", "type": "object"}], "outputs": []},
        ],
        "edges": [{"id": "edge_1", "type": "sequential",
                   "source": {"node": "node_entry", "port": "out_request"},
                   "target": {"node": "node_reply", "port": "in"}}],
        "config": {"core_identity": {"name": "Hello", "models": [
            {"role": "primary", "ref": "scaigrid", "model": "openai/gpt-4o"}]}},
        "canvas_extra": {"zoom": 1.5},
    }


@dataclass
class Appliance:
    client: TestClient
    settings: Settings
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def db(self) -> Database:
        return self.client.app[DB]

    def sql(self, query: str, *params: Any) -> list[sqlite3.Row]:
        """Read the stored state straight from the database (a separate connection): the
        SQLite file, or the MariaDB database of `--db=mariadb`."""
        return stored_rows(self.settings.database_url or self.settings.db_path, query, *params)

    def stored_size(self) -> tuple[str, int, int]:
        """(engine, size, WAL size) of the database as seen apart from the appliance: the
        SQLite file and its WAL, or the MariaDB schema's tables (data and indexes)."""
        if self.settings.database_url is None:
            path = self.settings.db_path
            wal = Path(f"{path}-wal")
            return "sqlite", path.stat().st_size, wal.stat().st_size if wal.exists() else 0
        [(total,)] = self.sql("SELECT SUM(data_length + index_length) FROM"
                              " information_schema.tables WHERE table_schema = DATABASE()")
        return "mariadb", int(total), 0

    def execute(self, statement: str, *params: Any) -> int:
        """Change the stored state behind the appliance's back (a separate connection,
        committed): the rows changed."""
        return stored_write(self.settings.database_url or self.settings.db_path, statement,
                            *params)

    async def user(self, sub: str, tenant: str = "tnt_a", *, role: str | None = None,
                   email: str | None = None, status: str = "ACTIVE",
                   issuer: str = user_rows.LOCAL) -> None:
        """A user row; local by default, as the service tokens of `token()` act as local
        users (SPEC §2.1); `issuer=user_rows.SCAIKEY` for ScaiKey's users."""
        def run(conn: sqlite3.Connection) -> None:
            user_rows.upsert_user(conn, tenant_id=tenant, user_id=sub, email=email,
                                  display_name=sub, status=status, issuer=issuer,
                                  source="scaikey" if issuer == user_rows.SCAIKEY else "token")
            if role:
                user_rows.set_admin_role(conn, tenant, sub, role, "manual")

        await self.db.write(run)

    async def group(self, group_id: str, tenant: str, members: list[str]) -> None:
        def run(conn: sqlite3.Connection) -> None:
            user_rows.upsert_group(conn, tenant, group_id, group_id)
            for member in members:
                user_rows.add_membership(conn, tenant, group_id, member)

        await self.db.write(run)

    async def token(self, sub: str = "usr_alice", tenant: str = "tnt_a", *,
                    scope: str = VIEW_MANAGE, role: str | None = None) -> str:
        """A real service token from the appliance's own issuer; the user exists first."""
        if role is not None:
            await self.user(sub, tenant, role=role)
        else:  # as the first request would (just-in-time provisioning)
            await self.db.write(lambda conn: user_rows.provision_user_just_in_time(
                conn, tenant_id=tenant, user_id=sub, email=None, display_name=None,
                issuer=user_rows.LOCAL))
        issuer = self.client.app[ISSUER]
        minted = await self.db.write(lambda conn: mint_service_token(
            conn, issuer, sub=sub, tenant_id=tenant, scope=scope, ttl_seconds=3600,
            created_by="tests"))
        return minted.token

    async def headers(self, sub: str = "usr_alice", tenant: str = "tnt_a", **kw: Any
                      ) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(sub, tenant, **kw)}"}


AppFactory = Callable[..., Awaitable[Appliance]]


@pytest.fixture
def backend(request: pytest.FixtureRequest, db_backend: str) -> Iterator[Backend]:
    """Where this test's databases go (`--db`): SQLite files, or new databases on the worker's
    private mariadbd, dropped after the test."""
    server = request.getfixturevalue("mariadb_server") if db_backend == "mariadb" else None
    chosen = Backend(db_backend, server)
    yield chosen
    chosen.drop_all()


@pytest.fixture
def make_appliance(backend: Backend, aiohttp_client: Any, tmp_path: Path) -> AppFactory:
    # `backend` first: set up first, torn down last, so a MariaDB database is dropped after
    # the appliances on it have stopped (a drop under a running appliance held its shutdown
    # ~10 s).
    counter = {"n": 0}
    databases: dict[str, dict[str, str]] = {}

    async def factory(routes: list[Route] | None = None, **env: str) -> Appliance:
        """An appliance on loopback; `routes` replaces the route table (tests' own routes).
        The background directory sync is off unless `SCAIFLOW_SYNC_INTERVAL_MINUTES` is given:
        a sync a few seconds into a test would change the users it set up."""
        counter["n"] += 1
        data_dir = env.get("SCAIFLOW_DATA_DIR", str(tmp_path / f"data{counter['n']}"))
        if data_dir not in databases:  # one database per data dir, as SQLite's file is
            databases[data_dir] = backend.environment()
        environ = {"SCAIFLOW_DATA_DIR": data_dir, "SCAIFLOW_ENV_FILE": "",
                   "SCAIFLOW_SYNC_INTERVAL_MINUTES": "0", **databases[data_dir], **env}
        settings = load_settings(environ)
        client = await aiohttp_client(serve_app(create_app(settings, routes)))
        return Appliance(client=client, settings=settings)

    return factory


@pytest.fixture
async def appliance(make_appliance: AppFactory) -> Appliance:
    return await make_appliance()


# --- MariaDB (docs/scale-out.md §6) --------------------------------------------------------


@pytest.fixture(scope="session")
def db_backend(request: pytest.FixtureRequest) -> str:
    """The backend `--db` selects (sqlite by default)."""
    return str(request.config.getoption("--db"))


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MariaDbServer]:
    """A private mariadbd for this test process (one per xdist worker), started once.
    Without Debian's mariadb-server installed the tests that need it are skipped, except on
    CI (CI=true), where the MariaDB tests must run: `.ci/run` installs the package."""
    try:
        find_binaries()
    except MariaDbUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the MariaDB tests: {exc}")
        pytest.skip(str(exc))
    server = start_server(tmp_path_factory.mktemp("mariadb"))
    yield server
    server.stop()


@pytest.fixture
def mariadb_database(mariadb_server: MariaDbServer) -> Iterator[MariaDbDatabase]:
    """A new empty utf8mb4/utf8mb4_bin database on the private server, dropped after the test;
    reached over the unix socket as root (`.over_tcp()` for 127.0.0.1)."""
    name = mariadb_server.create_database()
    yield MariaDbDatabase(server=mariadb_server, database=name,
                          unix_socket=str(mariadb_server.socket_path))
    mariadb_server.drop_database(name)
