"""JwksCache against the fake ScaiKey and a real SQLite file (SPEC §19.3)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from jwt import PyJWK

from scaiflow_box.auth import jwks as jwks_module
from scaiflow_box.auth.jwks import (
    JwksCache,
    cache_max_age,
    import_jwks_file,
    parse_jwks,
)
from scaiflow_box.config import ConfigError
from scaiflow_box.store.db import Database
from scaiflow_box.upstream.client import create_upstream_session
from scaiflow_box.upstream.scaikey import PLATFORM_ISSUER_PATH
from tests.auth.conftest import COOLDOWN, CacheFactory, Clock, jwks_rows, settings_for
from tests.fakes.scaikey import FakeScaiKey
from tests.fakes.tokens import new_signing_key


def kids(cache: JwksCache) -> list[str]:
    return list(cache.status()[0]["key_ids"])


# -- discovery and sources ----------------------------------------------------------------
async def test_discovery_under_the_configured_issuer(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db_path: Path
) -> None:
    cache = await make_cache(settings_for(scaikey_server))

    assert scaikey_server.hits["discovery"] == 1
    assert scaikey_server.hits["platform_discovery"] == 0
    assert scaikey_server.jwks_fetches == 1
    key = await cache.get_key("key-1")
    assert isinstance(key, PyJWK)
    assert key.algorithm_name == "RS256"
    assert cache.issuer == scaikey_server.issuer
    [entry] = cache.status()
    assert entry["issuer"] == scaikey_server.issuer
    assert entry["source"] == "discovery"
    assert entry["key_ids"] == ["key-1"]
    assert entry["last_error"] is None
    assert entry["fetched_at"].endswith("Z")
    assert 0 <= entry["age_seconds"] < 5
    [row] = jwks_rows(db_path)
    assert row["issuer"] == scaikey_server.issuer
    assert row["source"] == "discovery"
    assert [k["kid"] for k in json.loads(row["jwks"])["keys"]] == ["key-1"]


async def test_discovery_from_the_base_url_learns_the_issuer(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db: Database, clock: Clock
) -> None:
    settings = settings_for(scaikey_server, scaikey_issuer=None)
    unstarted = JwksCache(settings, db, lambda: None, clock=clock)  # type: ignore[arg-type,return-value]
    # Before any discovery the platform issuer is derived from the base URL.
    assert unstarted.issuer == scaikey_server.base_url + PLATFORM_ISSUER_PATH

    cache = await make_cache(settings)

    assert scaikey_server.hits["platform_discovery"] == 1
    assert scaikey_server.hits["discovery"] == 0
    assert scaikey_server.jwks_fetches == 1
    assert cache.issuer == scaikey_server.issuer  # the discovery document's `issuer`
    assert kids(cache) == ["key-1"]


async def test_a_configured_jwks_url_skips_discovery(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db_path: Path
) -> None:
    cache = await make_cache(settings_for(scaikey_server,
                                          scaikey_jwks_url=scaikey_server.jwks_uri))

    assert scaikey_server.hits["discovery"] + scaikey_server.hits["platform_discovery"] == 0
    assert scaikey_server.jwks_fetches == 1
    assert cache.status()[0]["source"] == "url"
    assert jwks_rows(db_path)[0]["source"] == "url"


async def test_jwks_url_without_issuer_uses_discovery_for_the_issuer_only(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory
) -> None:
    cache = await make_cache(settings_for(scaikey_server, scaikey_issuer=None,
                                          scaikey_jwks_url=scaikey_server.jwks_uri))

    assert scaikey_server.hits["platform_discovery"] == 1
    assert cache.issuer == scaikey_server.issuer
    await cache.refresh()
    assert scaikey_server.hits["platform_discovery"] == 1  # learned once
    assert scaikey_server.jwks_fetches == 2


async def test_start_does_not_wait_for_a_stalled_scaikey(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory
) -> None:
    # The stall is long against the bound (and within the session's 2 s timeout), so that a
    # start-up slowed by a loaded machine (CI) still tells "did not wait" from "waited".
    scaikey_server.stall(1.5, "jwks")
    loop = asyncio.get_running_loop()
    started = loop.time()
    cache = await make_cache(settings_for(scaikey_server), wait=False)
    assert loop.time() - started < 0.75
    assert not cache.has_keys()
    # A token arriving now shares the in-flight first fetch instead of starting another.
    assert isinstance(await cache.get_key("key-1"), PyJWK)
    assert scaikey_server.jwks_fetches == 1


def test_cache_control_max_age_is_clamped() -> None:
    assert cache_max_age(None) == 600
    assert cache_max_age("public, max-age=300") == 300
    assert cache_max_age("max-age=5") == 60
    assert cache_max_age("max-age=9999999") == 86_400
    assert cache_max_age("s-maxage=120") == 120
    assert cache_max_age("max-age=soon") == 600
    assert cache_max_age("no-store") == 60


async def test_refresh_is_scheduled_before_max_age_expires(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory
) -> None:
    scaikey_server.max_age = 200
    cache = await make_cache(settings_for(scaikey_server))
    assert cache.refresh_delay == pytest.approx(180)
    scaikey_server.max_age = None
    await cache.refresh()
    assert cache.refresh_delay == pytest.approx(540)


async def test_background_refresh_runs_on_schedule(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwks_module, "MIN_MAX_AGE", 0.05)
    scaikey_server.max_age = 0
    cache = await make_cache(settings_for(scaikey_server))
    new_kid = scaikey_server.rotate_keys()
    for _ in range(100):
        if scaikey_server.jwks_fetches >= 3:
            break
        await asyncio.sleep(0.02)
    assert scaikey_server.jwks_fetches >= 3
    assert new_kid in kids(cache)  # picked up without any token asking for it


async def test_background_retry_recovers_after_a_failed_start(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jwks_module, "RETRY_MIN_SECONDS", 0.05)
    scaikey_server.fail("jwks", 503)
    cache = await make_cache(settings_for(scaikey_server))
    assert not cache.has_keys()
    assert cache.status()[0]["last_error"] == "JWKS answered HTTP 503"
    scaikey_server.clear_faults()
    for _ in range(100):
        if cache.has_keys():
            break
        await asyncio.sleep(0.02)
    assert kids(cache) == ["key-1"]
    assert cache.status()[0]["last_error"] is None


# -- unknown kids -------------------------------------------------------------------------
async def test_unknown_kid_refreshes_once_then_respects_the_cooldown(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, clock: Clock
) -> None:
    cache = await make_cache(settings_for(scaikey_server))
    assert scaikey_server.jwks_fetches == 1

    assert await cache.get_key("nope-1") is None
    assert scaikey_server.jwks_fetches == 2
    assert await cache.get_key("nope-1") is None  # negative cache
    assert await cache.get_key("nope-2") is None  # another kid, same cooldown
    clock.advance(COOLDOWN - 1)
    assert await cache.get_key("nope-3") is None
    assert scaikey_server.jwks_fetches == 2
    assert await cache.get_key("key-1") is not None  # known kids never wait

    clock.advance(2)
    assert await cache.get_key("nope-1") is None
    assert scaikey_server.jwks_fetches == 3


async def test_concurrent_unknown_kids_share_one_fetch(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory
) -> None:
    cache = await make_cache(settings_for(scaikey_server))
    new_kid = scaikey_server.rotate_keys()
    scaikey_server.stall(0.3, "jwks")

    results = await asyncio.gather(*[cache.get_key(new_kid) for _ in range(10)],
                                   *[cache.get_key(f"junk-{i}") for i in range(10)])

    assert scaikey_server.jwks_fetches == 2
    assert all(isinstance(r, PyJWK) for r in results[:10])
    assert all(r is None for r in results[10:])


async def test_rotated_key_is_found_after_exactly_one_refresh(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, clock: Clock
) -> None:
    cache = await make_cache(settings_for(scaikey_server))
    new_kid = scaikey_server.rotate_keys(keep_old=False)

    assert isinstance(await cache.get_key(new_kid), PyJWK)
    assert scaikey_server.jwks_fetches == 2
    assert kids(cache) == [new_kid]
    # The dropped key is gone from the set: refused, and no fetch inside the cooldown.
    assert await cache.get_key("key-1") is None
    assert scaikey_server.jwks_fetches == 2


async def test_kid_missing_after_a_shared_fetch_is_remembered(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory
) -> None:
    # Long enough that the start-up fetch is still in flight when the lookup comes, even on
    # a loaded machine.
    scaikey_server.stall(1.0, "jwks")
    cache = await make_cache(settings_for(scaikey_server), wait=False)
    # Joins the start-up fetch (no kid-triggered refresh of its own) and is still missing.
    assert await cache.get_key("nope") is None
    assert scaikey_server.jwks_fetches == 1
    # The negative cache answers without a fetch even though no kid refresh happened yet.
    assert await cache.get_key("nope") is None
    assert scaikey_server.jwks_fetches == 1


async def test_overlong_kid_never_triggers_a_fetch(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory
) -> None:
    cache = await make_cache(settings_for(scaikey_server))
    assert await cache.get_key("k" * 10_000) is None
    assert await cache.get_key("") is None
    assert scaikey_server.jwks_fetches == 1


async def test_kid_is_logged_escaped_and_truncated(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, caplog: pytest.LogCaptureFixture
) -> None:
    cache = await make_cache(settings_for(scaikey_server))
    evil = "x\nINFO forged log line \x1b[31m" + "A" * 200
    with caplog.at_level(logging.INFO, logger="scaiflow_box.auth.jwks"):
        assert await cache.get_key(evil) is None
    messages = [r.getMessage() for r in caplog.records if r.name == "scaiflow_box.auth.jwks"]
    assert any("unknown key id" in m for m in messages)
    for message in messages:
        assert "\n" not in message and "\x1b" not in message
        assert "A" * 60 not in message  # truncated to 64 characters
    assert any(repr(evil[:64]) in m for m in messages)


# -- failures -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("http500", "JWKS answered HTTP 500"),
        ("empty", "JWKS has no usable signing key"),
        ("not_json", "response is not JSON"),
        ("not_jwks", 'not a JWKS: expected a JSON object with a "keys" array'),
        ("only_oct", "JWKS has no usable signing key"),
    ],
)
async def test_failed_fetch_keeps_the_last_good_set(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db_path: Path, fault: str,
    reason: str,
) -> None:
    cache = await make_cache(settings_for(scaikey_server))
    [before] = jwks_rows(db_path)

    if fault == "http500":
        scaikey_server.fail("jwks")
    elif fault == "empty":
        scaikey_server.jwks_override = {"keys": []}
    elif fault == "not_json":
        scaikey_server.jwks_override = "<html>oops</html>"
    elif fault == "not_jwks":
        scaikey_server.jwks_override = [1, 2, 3]
    else:
        scaikey_server.jwks_override = {"keys": [{"kty": "oct", "kid": "key-9", "k": "c2VjcmV0"}]}

    assert await cache.refresh() is False
    assert scaikey_server.jwks_fetches == 2
    assert isinstance(await cache.get_key("key-1"), PyJWK)
    [entry] = cache.status()
    assert entry["key_ids"] == ["key-1"]
    assert entry["last_error"] == reason
    assert jwks_rows(db_path) == [before]  # the persisted set is untouched

    scaikey_server.clear_faults()
    scaikey_server.jwks_override = None
    assert await cache.refresh() is True
    assert cache.status()[0]["last_error"] is None


async def test_timeout_keeps_the_last_good_set(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory
) -> None:
    settings = settings_for(scaikey_server, upstream_timeout_seconds=0.3)
    session = create_upstream_session(settings)
    try:
        cache = await make_cache(settings, session=session)
        scaikey_server.stall(0.6, "jwks")
        assert await cache.refresh() is False
    finally:
        await session.close()
    assert cache.status()[0]["last_error"] == "timed out"
    assert isinstance(await cache.get_key("key-1"), PyJWK)


async def test_discovery_failure_is_reported_and_retried(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory
) -> None:
    scaikey_server.fail("discovery", 503)
    cache = await make_cache(settings_for(scaikey_server))
    assert not cache.has_keys()
    assert cache.status()[0]["last_error"] == "discovery answered HTTP 503"
    assert cache.status()[0]["key_ids"] == []
    assert scaikey_server.jwks_fetches == 0

    scaikey_server.clear_faults()
    assert await cache.refresh() is True
    assert kids(cache) == ["key-1"]


# -- persistence ----------------------------------------------------------------------------
async def test_restart_while_scaikey_is_down_uses_the_persisted_set(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db: Database, db_path: Path,
) -> None:
    first = await make_cache(settings_for(scaikey_server, scaikey_issuer=None))
    await first.close()
    db.close()
    await scaikey_server.stop()

    second_db = Database(db_path)
    try:
        # Only SCAIKEY_BASE_URL is set: the issuer must come from the persisted set.
        second = await make_cache(settings_for(scaikey_server, scaikey_issuer=None),
                                  database=second_db)
        assert second.issuer == scaikey_server.issuer
        assert isinstance(await second.get_key("key-1"), PyJWK)
        [entry] = second.status()
        assert entry["source"] == "discovery"
        assert entry["key_ids"] == ["key-1"]
        assert entry["last_error"] == "connection failed"
        await second.close()
    finally:
        second_db.close()


async def test_every_successful_fetch_is_persisted(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db_path: Path
) -> None:
    cache = await make_cache(settings_for(scaikey_server))
    new_kid = scaikey_server.rotate_keys()
    assert await cache.refresh() is True
    [row] = jwks_rows(db_path)
    assert sorted(k["kid"] for k in json.loads(row["jwks"])["keys"]) == ["key-1", new_kid]


# -- key filtering --------------------------------------------------------------------------
async def test_only_asymmetric_public_signature_keys_are_used(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db_path: Path
) -> None:
    leaked = new_signing_key("leaked", "RS256").private_jwk
    leaked.pop("key_ops")  # a leaked private key that otherwise looks like a signature key
    weak = new_signing_key("weak", "RS256", rsa_bits=1024)
    ec_no_alg = new_signing_key("ec-no-alg", "ES256").public_jwk
    del ec_no_alg["alg"]
    mismatched = new_signing_key("ec-says-rsa", "ES256").public_jwk | {"alg": "RS256"}
    encryption = new_signing_key("enc", "RS256").public_jwk | {"use": "enc"}
    scaikey_server.extra_jwks = [
        {"kty": "oct", "kid": "hmac-1", "k": "c3VwZXItc2VjcmV0LWhtYWMta2V5", "alg": "HS256"},
        leaked,
        weak.public_jwk,
        ec_no_alg,
        mismatched,
        encryption,
        {"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "AQAB", "alg": "RS256"},
        {"kid": "no-kty"},
        "not an object",
        new_signing_key("dup", "RS256").public_jwk | {"kid": "key-1"},
    ]
    cache = await make_cache(settings_for(scaikey_server, scaikey_algorithms=("RS256", "ES256")))

    assert kids(cache) == ["ec-no-alg", "key-1"]
    for kid in ("hmac-1", "leaked", "weak", "ec-says-rsa", "enc", "broken"):
        assert await cache.get_key(kid) is None
    ec_key = await cache.get_key("ec-no-alg")
    assert ec_key is not None and ec_key.algorithm_name == "ES256"
    key_1 = await cache.get_key("key-1")
    assert key_1 is not None  # the first key-1 wins over the later duplicate
    assert key_1.key.public_numbers() == scaikey_server.key("key-1").private_key.public_key() \
        .public_numbers()
    stored = jwks_rows(db_path)[0]["jwks"]
    assert "c3VwZXItc2VjcmV0" not in stored  # no symmetric secret persisted
    assert '"d"' not in stored  # no private key material persisted


def test_parse_jwks_rejects_non_jwks_documents() -> None:
    documents: list[Any] = [None, [], {"keys": "nope"}, {"no": "keys"}]
    for document in documents:
        with pytest.raises(ValueError, match="not a JWKS"):
            parse_jwks(document, ("RS256",))
    parsed = parse_jwks({"keys": []}, ("RS256",))
    assert parsed.keys == {}


# -- static file and import -----------------------------------------------------------------
async def test_static_jwks_file_on_a_disconnected_site(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(scaikey_server.jwks()))
    settings = settings_for(None, scaikey_issuer=scaikey_server.issuer, scaikey_jwks_file=path,
                            scaikey_audience=scaikey_server.audience)
    cache = await make_cache(settings)

    assert not cache.remote_configured
    assert isinstance(await cache.get_key("key-1"), PyJWK)
    assert await cache.get_key("unknown") is None
    assert sum(scaikey_server.hits.values()) == 0  # nothing is ever fetched
    [entry] = cache.status()
    assert entry == {**entry, "issuer": scaikey_server.issuer, "source": "file",
                     "key_ids": ["key-1"], "last_error": None}


async def test_unusable_static_jwks_file_stops_start_up(
    make_cache: CacheFactory, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}))
    with pytest.raises(ConfigError) as caught:
        await make_cache(settings_for(None, scaikey_issuer="https://idp.example",
                                      scaikey_jwks_file=path))
    [problem] = caught.value.problems
    assert problem.startswith("SCAIKEY_JWKS_FILE: ")
    assert "no usable asymmetric signing key" in problem
    assert "'h': symmetric key" in problem


async def test_imported_jwks_validates_without_any_network(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db: Database, db_path: Path,
    tmp_path: Path,
) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(scaikey_server.jwks()))
    imported = await db.write(
        lambda conn: import_jwks_file(conn, path, "https://idp.example/oauth"))
    assert imported == ["key-1"]
    [row] = jwks_rows(db_path)
    assert (row["issuer"], row["source"]) == ("https://idp.example/oauth", "import")

    cache = await make_cache(settings_for(None))  # nothing configured but the import
    assert cache.issuer == "https://idp.example/oauth"
    assert isinstance(await cache.get_key("key-1"), PyJWK)
    assert cache.status()[0]["source"] == "import"
    assert sum(scaikey_server.hits.values()) == 0


@pytest.mark.parametrize(
    ("content", "issuer", "message"),
    [
        ("{not json", "iss", "not valid JSON"),
        ('{"keys": {}}', "iss", "not a JWKS"),
        ('{"keys": []}', "iss", "no usable asymmetric signing key"),
        ('{"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}]}', "iss", "symmetric key"),
        ('{"keys": []}', " ", "an issuer is required"),
    ],
)
def test_import_rejects_unusable_files(
    tmp_path: Path, db_path: Path, content: str, issuer: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    database = Database(db_path)
    try:
        with pytest.raises(ValueError, match=message):
            database.write_sync(lambda conn: import_jwks_file(conn, path, issuer))
        assert jwks_rows(db_path) == []
    finally:
        database.close()


def test_import_of_a_missing_file_names_the_file(tmp_path: Path, db_path: Path) -> None:
    database = Database(db_path)
    try:
        with pytest.raises(ValueError, match="cannot read the file"):
            database.write_sync(
                lambda conn: import_jwks_file(conn, tmp_path / "absent.json", "iss"))
    finally:
        database.close()


async def test_status_lists_other_persisted_issuers(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps({"keys": [new_signing_key("other-1", "ES256").public_jwk]}))
    await db.write(lambda conn: import_jwks_file(conn, path, "https://other.example"))

    cache = await make_cache(settings_for(scaikey_server))
    entries = {e["issuer"]: e for e in cache.status()}
    assert set(entries) == {scaikey_server.issuer, "https://other.example"}
    assert entries["https://other.example"]["source"] == "import"
    assert entries["https://other.example"]["key_ids"] == ["other-1"]
    # Only the active issuer's keys verify tokens.
    assert await cache.get_key("other-1") is None

