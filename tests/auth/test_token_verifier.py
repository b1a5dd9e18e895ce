"""TokenVerifier + JwksCache + LocalIssuer against the fake ScaiKey: every attack in SPEC §2.1
fails with its own reason, and good tokens pass."""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from scaiflow_box.auth.issuer import IssuerKey, LocalIssuer
from scaiflow_box.auth.jwks import JwksCache
from scaiflow_box.auth.tokens import InvalidToken, TokenVerifier, VerifiedToken
from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import load_or_create_master_key
from scaiflow_box.store.db import Database
from tests.auth.conftest import COOLDOWN, CacheFactory, Clock, jwks_rows, settings_for
from tests.fakes.scaikey import FakeScaiKey
from tests.fakes.tokens import (
    hmac_token,
    new_signing_key,
    sign,
    tamper_payload,
    unsigned_token,
    with_header,
)

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


async def test_without_a_known_audience_no_scaikey_token_is_taken(
    scaikey_server: FakeScaiKey, verifier_for: Build
) -> None:
    """`serve` refuses such settings (config.check_serving); the verifier holds the line too:
    a ScaiKey token for any client must never pass for this appliance's."""
    settings = settings_for(scaikey_server, scaikey_audience=None, scaikey_client_id=None)
    built, _ = await verifier_for(settings)
    for aud in (scaikey_server.audience, "another-client", None):
        assert await reject(built, scaikey_server.mint(aud=aud)) == "wrong audience"


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


# -- claim types and formats (issue #6) ----------------------------------------------------------
# Checked after the signature and before anything is provisioned, for both kinds of token.
# Each case: the claims to change (DROP removes one) as a function of now, and the reason.
DROP = object()
Changes = Callable[[int], dict[str, Any]]


def const(**changes: Any) -> Changes:
    return lambda _now: changes


BAD_CLAIMS: list[tuple[str, Changes, str]] = [
    ("exp_numeric_string", const(exp="9999999999"), "bad claim exp"),
    ("exp_word", const(exp="never"), "bad claim exp"),
    ("exp_true", const(exp=True), "bad claim exp"),
    ("exp_false", const(exp=False), "bad claim exp"),
    ("exp_huge", const(exp=2**35 + 1), "bad claim exp"),
    ("exp_huge_float", const(exp=1e300), "bad claim exp"),
    ("exp_infinity", const(exp=float("inf")), "bad claim exp"),
    ("exp_nan", const(exp=float("nan")), "bad claim exp"),
    ("exp_negative", const(exp=-1), "bad claim exp"),
    ("exp_list", const(exp=[2**31]), "bad claim exp"),
    ("exp_null", const(exp=None), "missing claim exp"),
    ("exp_absent", const(exp=DROP), "missing claim exp"),
    ("exp_past", lambda now: {"exp": now - 120}, "expired"),
    ("iat_string", lambda now: {"iat": str(now)}, "bad claim iat"),
    ("iat_true", const(iat=True), "bad claim iat"),
    ("iat_negative", const(iat=-5), "bad claim iat"),
    ("iat_huge", const(iat=2**40), "bad claim iat"),
    ("iat_null", const(iat=None), "bad claim iat"),
    ("iat_future", lambda now: {"iat": now + 3600, "nbf": DROP}, "not yet valid"),
    ("iat_future_float", lambda now: {"iat": now + 61.5, "nbf": DROP}, "not yet valid"),
    ("nbf_string", lambda now: {"nbf": str(now)}, "bad claim nbf"),
    ("nbf_true", const(nbf=True), "bad claim nbf"),
    ("nbf_negative", const(nbf=-1), "bad claim nbf"),
    ("nbf_nan", const(nbf=float("nan")), "bad claim nbf"),
    ("nbf_future", lambda now: {"nbf": now + 3600}, "not yet valid"),
    ("scope_list", const(scope=["scaicore:view", "scaicore:manage"]), "bad claim scope"),
    ("scope_number", const(scope=7), "bad claim scope"),
    ("scope_object", const(scope={"scaicore:view": True}), "bad claim scope"),
    ("scope_null", const(scope=None), "bad claim scope"),
    ("sub_nul", const(sub="usr_a\x00b"), "bad claim sub"),
    ("sub_slash", const(sub="usr/alice"), "bad claim sub"),
    ("sub_dotdot", const(sub="../usr_alice"), "bad claim sub"),
    ("sub_space", const(sub="usr alice"), "bad claim sub"),
    ("sub_trailing_newline", const(sub="usr_alice\n"), "bad claim sub"),
    ("sub_tab", const(sub="usr_\talice"), "bad claim sub"),
    ("sub_non_ascii", const(sub="usr_ålice"), "bad claim sub"),
    ("sub_empty", const(sub=""), "bad claim sub"),
    ("sub_201_chars", const(sub="u" * 201), "bad claim sub"),
    ("sub_number", const(sub=42), "bad claim sub"),
    ("sub_list", const(sub=["usr_alice"]), "bad claim sub"),
    ("tenant_nul", const(tenant_id="tnt_a\x00b"), "bad claim tenant_id"),
    ("tenant_slash", const(tenant_id="tnt_acme/../tnt_victim"), "bad claim tenant_id"),
    ("tenant_space", const(tenant_id="tnt acme"), "bad claim tenant_id"),
    ("tenant_trailing_newline", const(tenant_id="tnt_acme\n"), "bad claim tenant_id"),
    ("tenant_empty", const(tenant_id=""), "bad claim tenant_id"),
    ("tenant_201_chars", const(tenant_id="t" * 201), "bad claim tenant_id"),
    ("tenant_number", const(tenant_id=7), "bad claim tenant_id"),
    ("tenant_list", const(tenant_id=["tnt_acme"]), "bad claim tenant_id"),
    ("tenant_null", const(tenant_id=None), "missing claim tenant_id"),
    ("email_number", const(email=42), "bad claim email"),
    ("email_list", const(email=["alice@acme.test"]), "bad claim email"),
    ("email_true", const(email=True), "bad claim email"),
    ("email_321_chars", const(email="a" * 311 + "@acme.test"), "bad claim email"),
    ("email_newline", const(email="alice@acme.test\nBcc: x@evil.test"), "bad claim email"),
    ("email_nul", const(email="alice\x00@acme.test"), "bad claim email"),
    ("name_list", const(name=["Alice"]), "bad claim name"),
    ("name_number", const(name=7), "bad claim name"),
    ("name_object", const(name={"first": "Alice"}), "bad claim name"),
    ("name_201_chars", const(name="A" * 201), "bad claim name"),
    ("name_nul", const(name="Alice\x00"), "bad claim name"),
    ("name_crlf", const(name="Alice\r\nX-Admin: yes"), "bad claim name"),
    ("name_del", const(name="Alice\x7f"), "bad claim name"),
    ("name_c1_control", const(name="Alice\x85"), "bad claim name"),
]

GOOD_CLAIMS: list[tuple[str, Changes]] = [
    ("exp_float", lambda now: {"exp": now + 600.5}),
    ("exp_far_future", const(exp=2**35)),
    ("iat_nbf_float", lambda now: {"iat": now + 0.25, "nbf": now - 0.5}),
    ("iat_within_leeway", lambda now: {"iat": now + 30, "nbf": DROP}),
    ("no_iat_no_nbf", const(iat=DROP, nbf=DROP)),
    ("no_scope", const(scope=DROP)),
    ("sub_200_chars", const(sub="u" * 200)),
    ("sub_client_id", const(sub="svc.ci-bot:prod@acme")),
    ("email_320_chars", const(email="a" * 310 + "@acme.test")),
    ("name_200_chars_unicode", const(name="Zoë 🙂 Ørsted " + "x" * 187)),
    ("email_name_null", const(email=None, name=None)),
    ("email_name_absent", const(email=DROP, name=DROP)),
]

SOURCES = ["scaikey", "service"]


class Forger:
    """Tokens for either source with edited claims, really signed: by the fake ScaiKey's key,
    or by the local issuer's key (starting from the claims the issuer itself mints)."""

    def __init__(self, fake: FakeScaiKey) -> None:
        key = new_signing_key("sfb-claims", "ES256")
        assert isinstance(key.private_key, ec.EllipticCurvePrivateKey)
        self.fake = fake
        self.service_key = key
        self.issuer = LocalIssuer("scaiflow-box:claims-test",
                                  [IssuerKey(key.kid, key.private_key, key.public_jwk)])

    def base(self, source: str) -> dict[str, Any]:
        if source == "scaikey":
            return self.fake.claims()
        token, _ = self.issuer.mint(sub="usr_alice", tenant_id="tnt_acme",
                                    scope="scaicore:view scaicore:manage", ttl_seconds=600,
                                    jti="jti-claims", email="alice@acme.test", name="Alice")
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return claims

    def token(self, source: str, changes: dict[str, Any]) -> str:
        claims = {**self.base(source), **changes}
        claims = {k: v for k, v in claims.items() if v is not DROP}
        if source == "scaikey":
            return sign(self.fake.current_key, claims)
        return sign(self.service_key, claims, headers={"typ": "JWT"})


@pytest.fixture
async def forger(scaikey_server: FakeScaiKey) -> Forger:
    return Forger(scaikey_server)


@pytest.fixture
async def claims_verifier(
    scaikey_server: FakeScaiKey, make_cache: CacheFactory, forger: Forger
) -> TokenVerifier:
    settings = settings_for(scaikey_server)
    return TokenVerifier(settings, forger.issuer, await make_cache(settings))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("changes", "reason"), [(c, r) for _, c, r in BAD_CLAIMS],
                         ids=[name for name, _, _ in BAD_CLAIMS])
async def test_a_bad_claim_is_refused_with_its_name(
    claims_verifier: TokenVerifier, forger: Forger, source: str, changes: Changes, reason: str
) -> None:
    token = forger.token(source, changes(int(time.time())))
    assert await reject(claims_verifier, token) == reason
    assert await reject(claims_verifier, token) == reason  # refusals are never cached


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("changes", [c for _, c in GOOD_CLAIMS],
                         ids=[name for name, _ in GOOD_CLAIMS])
async def test_claims_at_the_edges_are_accepted(
    claims_verifier: TokenVerifier, forger: Forger, source: str, changes: Changes
) -> None:
    edited = changes(int(time.time()))
    verified = await claims_verifier.verify(forger.token(source, edited))
    assert verified.source == source
    assert verified.sub == (edited["sub"] if "sub" in edited else "usr_alice")
    assert verified.tenant_id == "tnt_acme"
    expected_email = edited.get("email", "alice@acme.test")
    assert verified.email == (None if expected_email is DROP else expected_email)
    expected_name = edited.get("name", "Alice")
    assert verified.name == (None if expected_name is DROP else expected_name)
    expected_scopes = set() if edited.get("scope") is DROP else {"scaicore:view",
                                                                "scaicore:manage"}
    assert verified.scopes == expected_scopes
    if isinstance(edited.get("exp"), int | float):
        assert verified.exp == float(edited["exp"])


@pytest.mark.parametrize("source", SOURCES)
async def test_bad_claims_under_a_broken_signature_are_a_bad_signature(
    claims_verifier: TokenVerifier, forger: Forger, source: str
) -> None:
    bad = {"sub": "usr/\x00mallory", "tenant_id": "tnt victim", "exp": "never", "iat": True,
           "nbf": 2**40, "scope": ["scaicore:manage"], "email": 42, "name": ["Mallory"]}
    token = tamper_payload(forger.token(source, {}), **bad)
    assert await reject(claims_verifier, token) == "bad signature"


async def test_bad_claims_signed_by_an_attacker_key_with_a_real_kid_are_a_bad_signature(
    scaikey_server: FakeScaiKey, claims_verifier: TokenVerifier
) -> None:
    forged = scaikey_server.mint_with_attacker_key(
        headers={"kid": "key-1"}, sub="usr/mallory", exp="never", scope=["scaicore:manage"])
    assert await reject(claims_verifier, forged) == "bad signature"


async def test_the_local_issuers_own_tokens_pass_the_claim_checks(
    verifier: TokenVerifier, local_issuer: LocalIssuer
) -> None:
    token, exp = local_issuer.mint(sub="ci-bot", tenant_id="tnt_acme", scope="scaicore:view",
                                   ttl_seconds=600, jti="jti-3", email="ci@acme.test",
                                   name="CI bot")
    verified = await verifier.verify(token)
    assert (verified.sub, verified.tenant_id, verified.email, verified.name, verified.exp) == \
        ("ci-bot", "tnt_acme", "ci@acme.test", "CI bot", float(exp))
