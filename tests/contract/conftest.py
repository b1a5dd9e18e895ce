"""One served appliance for the contract tests (see `served.py`), started once per session and
stopped with SIGTERM at the end, which must exit 0."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.served import ServedAppliance, World, populate


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedAppliance]:
    root = tmp_path_factory.mktemp("contract")
    app = ServedAppliance(data_dir=root / "data", log_path=root / "server.log")
    app.start()
    try:
        yield app
    finally:
        code = app.stop()
        assert code == 0, f"serve exited {code} on SIGTERM:\n{app.log()[-4000:]}"


@pytest.fixture(scope="session")
def world(served: ServedAppliance) -> World:
    return populate(served)
