"""TokenVerifier + JwksCache + LocalIssuer against the fake ScaiKey: every attack in SPEC §2.1
fails with its own reason, and good tokens pass."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from scaiflow_box.auth.issuer import LocalIssuer
from scaiflow_box.auth.jwks import JwksCache
from scaiflow_box.auth.tokens import InvalidToken, TokenVerifier, VerifiedToken
from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import load_or_create_master_key
from scaiflow_box.store.db import Database
from tests.auth.conftest import COOLDOWN, CacheFactory, Clock, jwks_rows, settings_for
from tests.fakes.scaikey import FakeScaiKey
from tests.fakes.tokens import hmac_token, sign, tamper_payload, unsigned_token, with_header

Build = Callable[[Settings], Awaitable[tuple[TokenVerifier, JwksCache]]]


async def reject(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        await verifier.verify(token)
    return caught.value.reason


@pytest.fixture
async def verifier(scaikey_server: FakeScaiKey, verifier_for: Build) -> TokenVerifier:
    built, _ = await verifier_for(settings_for(scaikey_server))
    return built


# -- the good path --------------------------------------------------------------------------
async def test_a_scaikey_token_validates(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    token = scaikey_server.mint(sub="usr_bob", tenant_id="tnt_x", scope="scaicore:view",
                                email="bob@x.test", name="Bob", role="member")
    verified = await verifier.verify(token)
    assert verified == VerifiedToken(
        source="scaikey", sub="usr_bob", tenant_id="tnt_x", scopes=frozenset({"scaicore:view"}),
        email="bob@x.test", name="Bob", exp=verified.exp, jti=verified.jti, role="member",
        kid=scaikey_server.current_kid)
    assert verified.exp > time.time()


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "JWT", "jwt", None])
async def test_accepted_typ_headers(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier, typ: str | None
) -> None:
    verified = await verifier.verify(scaikey_server.mint(headers={"typ": typ}))
    assert verified.sub == "usr_alice"


@pytest.mark.parametrize("typ", ["JWE", "id_token+jwt", "dpop+jwt", "logout+jwt", 7, ""])
async def test_other_typ_headers_are_refused(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier, typ: object
) -> None:
    token = scaikey_server.mint(headers={"typ": "at+jwt"})
    forged = with_header(token, typ=typ)
    assert await reject(verifier, forged) == "unsupported token type"


# -- algorithm attacks ----------------------------------------------------------------------
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier, alg: str
) -> None:
    token = unsigned_token(scaikey_server.claims(), {"kid": "key-1", "alg": alg})
    assert await reject(verifier, token) == "algorithm not allowed"


async def test_alg_none_keeping_a_real_signature_is_refused(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    token = with_header(scaikey_server.mint(), alg="none")
    assert await reject(verifier, token) == "algorithm not allowed"


async def test_hs256_signed_with_the_rsa_public_key_is_refused(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    assert await reject(verifier, scaikey_server.mint_hs256_with_public_key()) == \
        "algorithm not allowed"


async def test_hs256_with_a_published_symmetric_key_is_refused(
    scaikey_server: FakeScaiKey, verifier_for: Build
) -> None:
    secret = b"a-shared-secret-that-ended-up-in-the-jwks"
    k = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    scaikey_server.extra_jwks = [{"kty": "oct", "kid": "hmac-1", "k": k, "alg": "HS256"}]
    verifier, _ = await verifier_for(settings_for(scaikey_server))
    token = hmac_token(secret, scaikey_server.claims(), {"kid": "hmac-1"})
    assert await reject(verifier, token) == "unknown key id"


async def test_algorithm_is_pinned_by_the_key_not_the_token(
    scaikey_server: FakeScaiKey, verifier_for: Build
) -> None:
    # PS256 is allowed by configuration, but key-1 is published as RS256: a token that asks
    # for PS256 with the same RSA key is refused.
    verifier, _ = await verifier_for(settings_for(scaikey_server,
                                                  scaikey_algorithms=("RS256", "PS256")))
    assert await reject(verifier, scaikey_server.mint(alg="PS256")) == "algorithm not allowed"
    assert await reject(verifier, scaikey_server.mint(alg="RS512")) == "algorithm not allowed"
    assert (await verifier.verify(scaikey_server.mint())).sub == "usr_alice"


async def test_es256_keys_work_when_configured(verifier_for: Build) -> None:
    fake = await FakeScaiKey(key_alg="ES256").start()
    try:
        verifier, _ = await verifier_for(settings_for(fake, scaikey_algorithms=("ES256",)))
        assert (await verifier.verify(fake.mint())).sub == "usr_alice"
        rsa_kid = fake.add_key("RS256").kid
        token = fake.mint(kid=rsa_kid)
        assert await reject(verifier, token) == "algorithm not allowed"
    finally:
        await fake.stop()


# -- claims -------------------------------------------------------------------------------
async def test_wrong_issuer_is_refused_without_fetching(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    fetches = scaikey_server.jwks_fetches
    for iss in ("https://evil.example/oauth", scaikey_server.issuer + "/", ""):
        assert await reject(verifier, scaikey_server.mint(iss=iss)) == "wrong issuer"
    assert await reject(verifier, scaikey_server.mint(iss=None)) == "missing claim iss"
    assert scaikey_server.jwks_fetches == fetches


@pytest.mark.parametrize("aud", ["someone-else", ["someone-else", "another"]])
async def test_wrong_audience_is_refused(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier, aud: object
) -> None:
    assert await reject(verifier, scaikey_server.mint(aud=aud)) == "wrong audience"


async def test_audience_is_required(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    assert await reject(verifier, scaikey_server.mint(aud=None)) == "missing claim aud"
    # A list containing our audience is fine (RFC 7519 §4.1.3).
    listed = scaikey_server.mint(aud=["other", scaikey_server.audience])
    assert (await verifier.verify(listed)).sub == "usr_alice"


async def test_expiry_with_leeway(scaikey_server: FakeScaiKey, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert await reject(verifier, scaikey_server.mint(exp=now - 120)) == "expired"
    assert (await verifier.verify(scaikey_server.mint(exp=now - 30))).sub == "usr_alice"
    assert await reject(verifier, scaikey_server.mint(exp=None)) == "missing claim exp"


async def test_not_before_and_issued_at_in_the_future(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    now = int(time.time())
    assert await reject(verifier, scaikey_server.mint(nbf=now + 120)) == "not yet valid"
    assert await reject(verifier, scaikey_server.mint(iat=now + 120, nbf=None)) == \
        "not yet valid"
    assert (await verifier.verify(scaikey_server.mint(nbf=now + 30))).sub == "usr_alice"


async def test_tampered_claims_fail_the_signature(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    token = tamper_payload(scaikey_server.mint(), tenant_id="tnt_victim")
    assert await reject(verifier, token) == "bad signature"


async def test_tenant_and_subject_are_required(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    assert await reject(verifier, scaikey_server.mint(tenant_id=None)) == \
        "missing claim tenant_id"
    assert await reject(verifier, scaikey_server.mint(sub=None)) == "missing claim sub"


# -- kid attacks ----------------------------------------------------------------------------
async def test_unknown_kid_one_refetch_then_cooldown(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier, clock: Clock
) -> None:
    assert scaikey_server.jwks_fetches == 1
    assert await reject(verifier, scaikey_server.mint(kid="ghost-1")) == "unknown key id"
    assert scaikey_server.jwks_fetches == 2
    assert await reject(verifier, scaikey_server.mint(kid="ghost-1")) == "unknown key id"
    assert await reject(verifier, scaikey_server.mint(kid="ghost-2")) == "unknown key id"
    assert scaikey_server.jwks_fetches == 2
    clock.advance(COOLDOWN + 1)
    assert await reject(verifier, scaikey_server.mint(kid="ghost-3")) == "unknown key id"
    assert scaikey_server.jwks_fetches == 3


@pytest.mark.parametrize("kid", [
    "../../../../etc/passwd",
    "' OR 1=1 --",
    "key-1' OR '1'='1",
    "key-1/../key-1",
    "%2e%2e%2fkey-1",
    "key-1\x00",
    "key-1; DROP TABLE jwks_cache; --",
])
async def test_kid_with_path_or_sql_characters_is_just_unknown(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier, db_path: Path, kid: str
) -> None:
    before = jwks_rows(db_path)
    assert await reject(verifier, scaikey_server.mint(kid=kid)) == "unknown key id"
    assert scaikey_server.jwks_fetches == 2  # one refresh, and no request carries the kid
    assert scaikey_server.hits["unknown"] == 0
    after = jwks_rows(db_path)
    assert [(r["issuer"], r["jwks"]) for r in after] == [(r["issuer"], r["jwks"]) for r in before]
    assert (await verifier.verify(scaikey_server.mint())).sub == "usr_alice"


async def test_missing_or_non_string_kid(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    assert await reject(verifier, scaikey_server.mint(headers={"kid": None})) == \
        "missing key id"
    token = sign(scaikey_server.current_key, scaikey_server.claims(), headers={"kid": None})
    assert await reject(verifier, with_header(token, kid=["key-1"])) == "malformed"
    assert scaikey_server.jwks_fetches == 1


# -- remote key URLs in the header are ignored --------------------------------------------------
@pytest.mark.parametrize("header", ["jku", "x5u"])
async def test_remote_key_url_headers_are_ignored(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier, header: str
) -> None:
    attacker_url = scaikey_server.url("/attacker/jwks.json")
    good = scaikey_server.mint(headers={header: attacker_url})
    assert (await verifier.verify(good)).sub == "usr_alice"

    forged = scaikey_server.mint_with_attacker_key(headers={header: attacker_url})
    assert await reject(verifier, forged) == "unknown key id"
    assert scaikey_server.hits["attacker_jwks"] == 0


async def test_attacker_key_with_a_real_kid_fails_the_signature(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    forged = scaikey_server.mint_with_attacker_key(headers={"kid": "key-1"})
    assert await reject(verifier, forged) == "bad signature"
    assert scaikey_server.hits["attacker_jwks"] == 0


# -- rotation and outages ---------------------------------------------------------------------
async def test_rotated_key_validates_after_exactly_one_refresh(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    old_token = scaikey_server.mint()
    scaikey_server.rotate_keys()
    new_token = scaikey_server.mint()
    assert (await verifier.verify(new_token)).sub == "usr_alice"
    assert scaikey_server.jwks_fetches == 2
    assert (await verifier.verify(old_token)).sub == "usr_alice"  # old key still published
    another = scaikey_server.mint(sub="usr_carol")
    assert (await verifier.verify(another)).sub == "usr_carol"
    assert scaikey_server.jwks_fetches == 2


async def test_a_withdrawn_key_stops_cached_tokens_at_the_next_refresh(
    scaikey_server: FakeScaiKey, verifier_for: Build
) -> None:
    verifier, cache = await verifier_for(settings_for(scaikey_server))
    token = scaikey_server.mint()
    assert (await verifier.verify(token)).sub == "usr_alice"
    assert (await verifier.verify(token)).sub == "usr_alice"  # now served from the cache
    scaikey_server.rotate_keys(keep_old=False)  # ScaiKey withdraws the (say, leaked) key
    assert await cache.refresh()
    assert await reject(verifier, token) == "unknown key id"


async def test_scaikey_outage_after_start_keeps_validating(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier
) -> None:
    token = scaikey_server.mint()
    await scaikey_server.stop()
    assert (await verifier.verify(token)).sub == "usr_alice"
    assert await reject(verifier, scaikey_server.mint(kid="ghost")) == "unknown key id"


async def test_restarted_appliance_validates_from_the_persisted_set(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, db: Database, db_path: Path,
    tmp_path: Path, local_issuer: LocalIssuer,
) -> None:
    settings = settings_for(scaikey_server)
    first = await make_cache(settings)
    assert first.has_keys()
    await first.close()
    db.close()
    token = scaikey_server.mint(sub="usr_dave")
    await scaikey_server.stop()

    second_db = Database(db_path)
    try:
        cache = await make_cache(settings, database=second_db)
        assert cache.status()[0]["last_error"] == "connection failed"
        verifier = TokenVerifier(settings, local_issuer, cache)
        assert (await verifier.verify(token)).sub == "usr_dave"
        await cache.close()
    finally:
        second_db.close()


# -- local service tokens -----------------------------------------------------------------------
async def test_local_service_token_validates_and_tampering_fails(
    scaikey_server: FakeScaiKey, verifier: TokenVerifier, local_issuer: LocalIssuer
) -> None:
    token, exp = local_issuer.mint(sub="ci-bot", tenant_id="tnt_acme", scope="scaicore:view",
                                   ttl_seconds=600, jti="jti-1")
    verified = await verifier.verify(token)
    assert (verified.source, verified.sub, verified.tenant_id, verified.jti, verified.exp) == \
        ("service", "ci-bot", "tnt_acme", "jti-1", float(exp))
    assert verified.scopes == frozenset({"scaicore:view"})

    assert await reject(verifier, tamper_payload(token, tenant_id="tnt_other")) == \
        "bad signature"
    assert await reject(verifier, with_header(token, kid="sfb-nope")) == "unknown key id"
    assert await reject(verifier, with_header(token, alg="none")) == "algorithm not allowed"
    unsigned = unsigned_token({**scaikey_server.claims(), "iss": local_issuer.issuer,
                               "aud": "scaiflow-box"},
                              {"kid": local_issuer.public_jwks()["keys"][0]["kid"]})
    assert await reject(verifier, unsigned) == "algorithm not allowed"
    assert scaikey_server.jwks_fetches == 1  # local tokens never touch ScaiKey


async def test_service_token_of_another_appliance_is_refused(
    verifier: TokenVerifier, tmp_path: Path
) -> None:
    other_db = Database(tmp_path / "other.db")
    try:
        master = load_or_create_master_key(tmp_path / "other.key")
        other = await other_db.write(lambda conn: LocalIssuer.load_or_create(conn, master))
    finally:
        other_db.close()
    token, _ = other.mint(sub="ci-bot", tenant_id="tnt_acme", scope="", ttl_seconds=600,
                          jti="jti-x")
    assert await reject(verifier, token) == "wrong issuer"


async def test_expired_service_token_is_refused(
    verifier: TokenVerifier, local_issuer: LocalIssuer
) -> None:
    token, _ = local_issuer.mint(sub="ci-bot", tenant_id="tnt_acme", scope="", ttl_seconds=10,
                                 jti="jti-2", now=time.time() - 200)
    assert await reject(verifier, token) == "expired"


@pytest.mark.parametrize(("token", "reason"), [
    ("", "malformed"),
    ("abc", "malformed"),
    ("a.b.c", "malformed"),
    ("e30.e30.", "missing claim iss"),
    ("x" * 20_000, "too large"),
])
async def test_garbage_is_refused(verifier: TokenVerifier, token: str, reason: str) -> None:
    assert await reject(verifier, token) == reason
