"""Fixtures for the JWKS cache and token verifier tests: a real SQLite file, a real upstream
session, the fake ScaiKey on loopback, and a controllable clock for the kid cooldown."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from scaiflow_box.auth.issuer import LocalIssuer
from scaiflow_box.auth.jwks import JwksCache
from scaiflow_box.auth.tokens import TokenVerifier
from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import load_or_create_master_key
from scaiflow_box.store.db import Database
from scaiflow_box.upstream.client import create_upstream_session
from tests.fakes.scaikey import FakeScaiKey

COOLDOWN = 30.0


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def settings_for(fake: FakeScaiKey | None, **overrides: Any) -> Settings:
    """Settings pointing at the fake: SCAIKEY_ISSUER and SCAIKEY_BASE_URL set by default."""
    values: dict[str, Any] = {"upstream_timeout_seconds": 2.0}
    if fake is not None:
        values.update(scaikey_base_url=fake.base_url, scaikey_issuer=fake.issuer,
                      scaikey_audience=fake.audience)
    values.update(overrides)
    return Settings(**values)


def jwks_rows(db_path: Path) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(
            "SELECT issuer, jwks, source, fetched_at FROM jwks_cache ORDER BY issuer").fetchall()
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "scaiflow.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    database = Database(db_path)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
async def upstream_session() -> AsyncIterator[aiohttp.ClientSession]:
    session = create_upstream_session(Settings(upstream_timeout_seconds=2.0))
    try:
        yield session
    finally:
        await session.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


CacheFactory = Callable[..., Awaitable[JwksCache]]


@pytest.fixture
async def make_cache(
    db: Database, upstream_session: aiohttp.ClientSession, clock: Clock
) -> AsyncIterator[CacheFactory]:
    """Start a JwksCache (waiting for its first fetch unless told not to); all are closed at
    the end of the test."""
    caches: list[JwksCache] = []

    async def factory(settings: Settings, *, database: Database | None = None,
                      session: aiohttp.ClientSession | None = None,
                      wait: bool = True) -> JwksCache:
        chosen = session or upstream_session
        cache = JwksCache(settings, database or db, lambda: chosen,
                          unknown_kid_cooldown=COOLDOWN, clock=clock)
        caches.append(cache)
        await cache.start()
        if wait:
            await cache.wait_first_fetch()
        return cache

    yield factory
    for cache in caches:
        await cache.close()


@pytest.fixture
async def local_issuer(db: Database, tmp_path: Path) -> LocalIssuer:
    master = load_or_create_master_key(tmp_path / "master.key")
    return await db.write(lambda conn: LocalIssuer.load_or_create(conn, master))


@pytest.fixture
async def verifier_for(
    make_cache: CacheFactory, local_issuer: LocalIssuer
) -> Callable[..., Awaitable[tuple[TokenVerifier, JwksCache]]]:
    async def build(settings: Settings) -> tuple[TokenVerifier, JwksCache]:
        cache = await make_cache(settings)
        return TokenVerifier(settings, local_issuer, cache), cache

    return build
