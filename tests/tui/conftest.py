"""Fixtures of the TUI tests (the helpers they use are in `helpers.py`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Appliance
from tests.tui.helpers import TuiSession, open_session


@pytest.fixture(name="tui_session")
async def tui_session_fixture(appliance: Appliance) -> AsyncIterator[TuiSession]:
    """The TUI's real credential: a session token minted from the appliance's data dir."""
    async with open_session(appliance) as session:
        yield session
