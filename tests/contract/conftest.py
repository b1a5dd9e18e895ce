"""One served appliance for the contract tests (see `served.py`), started once per session and
stopped with SIGTERM at the end, which must exit 0. The schemathesis run has one of its own
(`serve_appliance`, test_schemathesis.py): what it explores depends on the answers it gets, so
it starts from the same world whichever contract tests ran before it on its worker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.contract.served import (
    OPERATOR,
    SCAIGRID_KEY,
    WEBHOOK_SECRET,
    ScaiGridProcess,
    ScaiKeyProcess,
    ServedAppliance,
    World,
    populate,
)
from tests.mariadb_server import MariaDbServer


@contextmanager
def serve_appliance(root: Path, request: pytest.FixtureRequest,
                    db_backend: str) -> Iterator[ServedAppliance]:
    """A served appliance with its ScaiGrid and ScaiKey stand-ins under `root`."""
    # `--db=mariadb`: the served appliance and its CLI use a new database on the worker's
    # private mariadbd (kept until the server goes).
    database: dict[str, str] = {}
    if db_backend == "mariadb":
        server: MariaDbServer = request.getfixturevalue("mariadb_server")
        name = server.create_database()
        database = {"SCAIFLOW_DATABASE_URL": f"mariadb://root@/{name}?unix_socket="
                                             f"{quote(str(server.socket_path))}"}
    grid = ScaiGridProcess(log_path=root / "scaigrid.log")
    grid.start()
    # Sign-in (/auth/exchange, /auth/refresh) goes to a ScaiKey stand-in that honours any
    # generated code or refresh token.
    scaikey = ScaiKeyProcess(log_path=root / "scaikey.log")
    scaikey.start()
    app = ServedAppliance(data_dir=root / "data", log_path=root / "server.log",
                          database=database, env={
        "SCAIGRID_BASE_URL": grid.url, "SCAIGRID_API_KEY": SCAIGRID_KEY,
        "SCAIFLOW_EVENT_POLL_SECONDS": "0.2", "SCAIFLOW_SCAIKEY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        # Sync runs when the run asks (POST /admin/sync), not in the background mid-run.
        "SCAIFLOW_SYNC_INTERVAL_MINUTES": "0", **scaikey.env()})
    try:
        # Schemathesis sends one bearer to every operation (auth.wfc; it cannot combine that
        # with a second scheme), so the manager's token is minted before the start and is
        # also the dev token: any shared secret is one (SPEC §2.1 item 3).
        app.cli("init")
        app.manager = app.mint(OPERATOR)
        app.env["SCAIFLOW_API_TOKEN"] = app.manager[0]
        app.start()
        yield app
    finally:
        code = app.stop() if app.proc is not None else 0
        grid.stop()
        scaikey.stop()
        assert code == 0, f"serve exited {code} on SIGTERM:\n{app.log()[-4000:]}"


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest,
           db_backend: str) -> Iterator[ServedAppliance]:
    with serve_appliance(tmp_path_factory.mktemp("contract"), request, db_backend) as app:
        yield app


@pytest.fixture(scope="session")
def world(served: ServedAppliance) -> World:
    return populate(served)
