"""Pytest fixtures for the fakes; `tests/conftest.py` star-imports this module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.scaigrid import FakeScaiGrid
from tests.fakes.scaikey import FakeScaiKey

__all__ = ["scaigrid_server", "scaikey_server"]


@pytest.fixture
async def scaikey_server() -> AsyncIterator[FakeScaiKey]:
    """A started fake ScaiKey on a random loopback port (RS256 key "key-1")."""
    fake = await FakeScaiKey().start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def scaigrid_server() -> AsyncIterator[FakeScaiGrid]:
    """A started ScaiGrid stand-in on a random loopback port, accepting the API key
    `scaigrid_server.api_key` (tenant slug "acme")."""
    fake = await FakeScaiGrid().start()
    try:
        yield fake
    finally:
        await fake.stop()
