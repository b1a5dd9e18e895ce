"""ScaiKey's admin API as sync uses it (SPEC §18.2), against the fake ScaiKey: the
client-credentials token (HTTP Basic, scope admin:read, cached until shortly before expiry,
fetched again on 401), pagination to the end, the 403 that means "member walk", and items
checked before they are trusted."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest

from scaiflow_box.config import Settings
from scaiflow_box.upstream.client import UpstreamUnreachable, create_upstream_session
from scaiflow_box.upstream.scaikey import ScaiKeyError
from scaiflow_box.upstream.scaikey_admin import (
    AdminApiForbidden,
    DirectoryUser,
    ScaiKeyAdminClient,
    basic_client_auth,
)
from tests.fakes.scaikey import FakeScaiKey


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    s = create_upstream_session(Settings(upstream_timeout_seconds=2.0))
    try:
        yield s
    finally:
        await s.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_client(fake: FakeScaiKey, session: aiohttp.ClientSession,
                clock: Clock | None = None, **overrides: str) -> ScaiKeyAdminClient:
    settings = Settings(scaikey_base_url=fake.base_url, scaikey_issuer=fake.issuer,
                        scaikey_client_id=overrides.get("client_id", fake.client_id),
                        scaikey_client_secret=overrides.get("secret", fake.client_secret))
    client = ScaiKeyAdminClient.from_settings(settings, lambda: session)
    assert client is not None
    if clock is not None:
        client._clock = clock
    return client


def test_not_configured_without_base_url_client_id_and_secret() -> None:
    def session() -> aiohttp.ClientSession:
        raise AssertionError("never called")

    base = {"scaikey_base_url": "https://idp.example", "scaikey_client_id": "scaiflow",
            "scaikey_client_secret": "s"}
    assert ScaiKeyAdminClient.from_settings(Settings(**base), session) is not None
    for missing in base:
        partial = {k: v for k, v in base.items() if k != missing}
        assert ScaiKeyAdminClient.from_settings(Settings(**partial), session) is None


def test_basic_client_auth_form_encodes_id_and_secret() -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding."""
    value = basic_client_auth("scaiflow", "a:b c/+")
    assert value.startswith("Basic ")
    assert base64.b64decode(value[6:]).decode() == "scaiflow:a%3Ab%20c%2F%2B"
    assert base64.b64decode(basic_client_auth("id", "secret")[6:]) == b"id:secret"


async def test_client_credentials_token_is_cached_until_shortly_before_expiry(
        scaikey_server: FakeScaiKey, session: aiohttp.ClientSession) -> None:
    scaikey_server.access_ttl = 300
    clock = Clock()
    client = make_client(scaikey_server, session, clock)
    first = await client.access_token()
    assert await client.access_token() == first
    [request] = scaikey_server.token_requests
    assert request["grant_type"] == "client_credentials"
    assert request["basic_auth"] and request["client_id"] == scaikey_server.client_id
    assert request["form"] == {"grant_type": "client_credentials", "scope": "admin:read"}
    clock.now += 300 - 31  # still 31 s left: kept
    assert await client.access_token() == first
    clock.now += 2  # 29 s left: within the 30 s margin, a fresh one
    second = await client.access_token()
    assert second != first and len(scaikey_server.token_requests) == 2
    assert scaikey_server.hits["discovery"] == 1  # the token endpoint is discovered once


async def test_a_refused_client_is_a_safe_scaikey_error(
        scaikey_server: FakeScaiKey, session: aiohttp.ClientSession) -> None:
    client = make_client(scaikey_server, session, secret="wrong-secret")
    with pytest.raises(ScaiKeyError) as caught:
        await client.effective_users("tnt_acme")
    assert caught.value.status == 401
    assert "invalid_client" in caught.value.reason
    assert "wrong-secret" not in caught.value.reason and "127.0.0.1" not in caught.value.reason


async def test_effective_users_are_read_to_the_last_page(
        scaikey_server: FakeScaiKey, session: aiohttp.ClientSession) -> None:
    for n in range(250):
        scaikey_server.add_user(f"usr_{n:03d}", status="SUSPENDED" if n == 7 else "ACTIVE")
    scaikey_server.add_user("usr_other", "tnt_other")
    client = make_client(scaikey_server, session)
    users = await client.effective_users("tnt_acme")
    assert [u.id for u in users] == [f"usr_{n:03d}" for n in range(250)]
    assert users[7] == DirectoryUser("usr_007", "tnt_acme", "usr_007@example.test", "usr_007",
                                     "SUSPENDED")
    assert scaikey_server.hits["effective_users"] == 3  # 100 + 100 + 50
    assert len(scaikey_server.token_requests) == 1


async def test_groups_and_members(scaikey_server: FakeScaiKey,
                                  session: aiohttp.ClientSession) -> None:
    scaikey_server.add_user("usr_a")
    scaikey_server.add_user("usr_b")
    scaikey_server.add_group("grp_1", name="Editors", members=["usr_a", "usr_b"])
    scaikey_server.add_group("grp_2", "tnt_other", name="Others")
    client = make_client(scaikey_server, session)
    groups = await client.groups("tnt_acme")
    assert [(g.id, g.tenant_id, g.name) for g in groups] == [("grp_1", "tnt_acme", "Editors")]
    assert {g.id for g in await client.groups(None)} == {"grp_1", "grp_2"}
    assert [m.id for m in await client.group_members("grp_1")] == ["usr_a", "usr_b"]


async def test_effective_users_403_is_admin_api_forbidden(
        scaikey_server: FakeScaiKey, session: aiohttp.ClientSession) -> None:
    scaikey_server.effective_users_forbidden = True
    client = make_client(scaikey_server, session)
    with pytest.raises(AdminApiForbidden) as caught:
        await client.effective_users("tnt_acme")
    assert caught.value.status == 403
    assert await client.groups("tnt_acme") == []  # the fallback still works


async def test_a_401_fetches_a_fresh_token_once(scaikey_server: FakeScaiKey,
                                                session: aiohttp.ClientSession) -> None:
    scaikey_server.add_user("usr_a")
    client = make_client(scaikey_server, session)
    await client.access_token()
    scaikey_server.rotate_keys(keep_old=False)  # the cached token no longer verifies
    assert [u.id for u in await client.effective_users("tnt_acme")] == ["usr_a"]
    assert len(scaikey_server.token_requests) == 2


@pytest.mark.parametrize("item", [
    "usr_a", {"email": "no-id@example.test"}, {"id": "usr/../x"}, {"id": "usr_a", "status": 5},
    {"id": "usr_a", "status": "X" * 33},
])
async def test_a_malformed_user_fails_the_whole_call(
        scaikey_server: FakeScaiKey, session: aiohttp.ClientSession, item: object) -> None:
    """A sync that skipped a user it could not read would soft-delete them."""
    async def bad_page(request: aiohttp.web.Request) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"items": [item], "total": 1, "page": 1,
                                          "per_page": 100, "pages": 1})

    scaikey_server._effective_users = bad_page  # type: ignore[method-assign]
    await scaikey_server.stop()
    await scaikey_server.start()
    client = make_client(scaikey_server, session)
    with pytest.raises(ScaiKeyError, match="effective-users"):
        await client.effective_users("tnt_acme")


async def test_scaikey_down_is_unreachable(scaikey_server: FakeScaiKey,
                                           session: aiohttp.ClientSession) -> None:
    client = make_client(scaikey_server, session)
    await scaikey_server.stop()
    with pytest.raises(UpstreamUnreachable):
        await client.effective_users("tnt_acme")
