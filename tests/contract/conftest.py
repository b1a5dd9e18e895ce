"""One served appliance for the contract tests (see `served.py`), started once per session and
stopped with SIGTERM at the end, which must exit 0."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.served import (
    OPERATOR,
    SCAIGRID_KEY,
    ScaiGridProcess,
    ScaiKeyProcess,
    ServedAppliance,
    World,
    populate,
)


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedAppliance]:
    root = tmp_path_factory.mktemp("contract")
    grid = ScaiGridProcess(log_path=root / "scaigrid.log")
    grid.start()
    # Sign-in (/auth/exchange, /auth/refresh) goes to a ScaiKey stand-in that honours any
    # generated code or refresh token.
    scaikey = ScaiKeyProcess(log_path=root / "scaikey.log")
    scaikey.start()
    app = ServedAppliance(data_dir=root / "data", log_path=root / "server.log", env={
        "SCAIGRID_BASE_URL": grid.url, "SCAIGRID_API_KEY": SCAIGRID_KEY,
        "SCAIFLOW_EVENT_POLL_SECONDS": "0.2", **scaikey.env()})
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
def world(served: ServedAppliance) -> World:
    return populate(served)
