"""Bearer token verification: ScaiKey access tokens (offline, cached JWKS) and the appliance's
own service tokens. Verified tokens are cached by their exact bytes until `exp`; revocation and
user status are checked on every request by the caller (identity service), not cached.

PyJWT checks the signature, `iss`, `aud` and which claims are present; the types, ranges and
formats of the other claims, and the times, are checked here (SPEC §2.1), before anything is
provisioned from them.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

import jwt

from scaiflow_box.auth.issuer import ALGORITHM as LOCAL_ALGORITHM
from scaiflow_box.auth.issuer import LOCAL_AUDIENCE, LocalIssuer
from scaiflow_box.config import Settings
from scaiflow_box.errors import NotAuthenticated
from scaiflow_box.ids import is_plain_id

LEEWAY_SECONDS = 60
MAX_TOKEN_BYTES = 16 * 1024
CACHE_ENTRIES = 20_000
ACCEPTED_TYP = frozenset({"at+jwt", "application/at+jwt", "jwt"})
MAX_TIMESTAMP = 2**35  # year 3058: no real issuer writes a later time
MAX_EMAIL_CHARS = 320
MAX_NAME_CHARS = 200
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


class InvalidToken(NotAuthenticated):
    """The reason is safe to show: `invalid token: <reason>`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class SigningKeys(Protocol):
    """What the verifier needs of the JWKS cache (auth/jwks.py)."""

    @property
    def issuer(self) -> str | None: ...

    async def get_key(self, kid: str) -> Any | None:
        """The verification key for `kid` (a PyJWK or a cryptography public key), or None."""

    def has_key(self, kid: str) -> bool:
        """Whether `kid` is in the current key set, without fetching."""


@dataclass(frozen=True)
class VerifiedToken:
    source: Literal["scaikey", "service"]
    sub: str
    tenant_id: str
    scopes: frozenset[str]
    email: str | None
    name: str | None
    exp: float
    jti: str | None
    role: str | None
    kid: str | None = None


def _reason_for(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "not yet valid"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm not allowed"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"missing claim {exc.claim}"
    return "malformed"


class TokenVerifier:
    def __init__(self, settings: Settings, issuer: LocalIssuer, scaikey: SigningKeys) -> None:
        self._settings = settings
        self._local = issuer
        self._scaikey = scaikey
        self._cache: OrderedDict[str, VerifiedToken] = OrderedDict()

    def forget_all(self) -> None:
        self._cache.clear()

    def cached(self, token: str) -> VerifiedToken | None:
        """The token as verified before, while it is unexpired and its signing key is still
        published; None otherwise (then `verify`). No coroutine: the common case of every
        request costs no await."""
        cached = self._cache.get(token)
        if cached is None:
            return None
        withdrawn = (cached.source == "scaikey" and cached.kid is not None
                     and not self._scaikey.has_key(cached.kid))
        if cached.exp + LEEWAY_SECONDS > time.time() and not withdrawn:
            return cached
        self._cache.pop(token, None)
        return None

    async def verify(self, token: str) -> VerifiedToken:
        cached = self.cached(token)
        if cached is not None:
            return cached
        verified = await self._verify_uncached(token)
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.popitem(last=False)
        self._cache[token] = verified
        return verified

    async def _verify_uncached(self, token: str) -> VerifiedToken:
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidToken("too large")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed") from exc
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP):
            raise InvalidToken("unsupported token type")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("malformed")
        iss = unverified.get("iss")
        if not isinstance(iss, str):
            raise InvalidToken("missing claim iss")
        if iss == self._local.issuer:
            return self._verify_local(token, kid)
        scaikey_issuer = self._scaikey.issuer
        if scaikey_issuer is None or iss != scaikey_issuer:
            raise InvalidToken("wrong issuer")
        return await self._verify_scaikey(token, kid, scaikey_issuer)

    def _verify_local(self, token: str, kid: str | None) -> VerifiedToken:
        key = self._local.verification_key(kid)
        if key is None:
            raise InvalidToken("unknown key id")
        claims = self._decode(token, key, [LOCAL_ALGORITHM], self._local.issuer, LOCAL_AUDIENCE,
                              extra_required=["jti"])
        return self._to_verified(claims, "service")

    async def _verify_scaikey(self, token: str, kid: str | None, issuer: str) -> VerifiedToken:
        if not kid:
            raise InvalidToken("missing key id")
        audience = self._settings.expected_audience
        if audience is None:  # serving refuses such settings (config.check_serving)
            raise InvalidToken("wrong audience")
        key = await self._scaikey.get_key(kid)
        if key is None:
            raise InvalidToken("unknown key id")
        claims = self._decode(token, key, list(self._settings.scaikey_algorithms), issuer,
                              audience, extra_required=[])
        return replace(self._to_verified(claims, "scaikey"), kid=kid)

    @staticmethod
    def _decode(
        token: str, key: Any, algorithms: list[str], issuer: str, audience: str,
        extra_required: list[str],
    ) -> dict[str, Any]:
        required = ["exp", "iss", "sub", "aud", *extra_required]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=issuer,
                audience=audience,
                # The time and `sub` checks are ours (_check_times, _to_verified): PyJWT's
                # take "123" or true for a time and answer "malformed" where we name the
                # bad claim.
                options={"require": required, "verify_aud": True,
                         "verify_exp": False, "verify_iat": False, "verify_nbf": False,
                         "verify_sub": False},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(_reason_for(exc)) from exc
        _check_times(claims, time.time())
        return claims

    @staticmethod
    def _to_verified(
        claims: dict[str, Any], source: Literal["scaikey", "service"]
    ) -> VerifiedToken:
        sub = claims.get("sub")
        tenant = claims.get("tenant_id")
        if not is_plain_id(sub):
            raise InvalidToken("bad claim sub")
        if tenant is None:
            raise InvalidToken("missing claim tenant_id")
        if not is_plain_id(tenant):
            raise InvalidToken("bad claim tenant_id")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidToken("bad claim scope")
        email = _optional_text(claims, "email", MAX_EMAIL_CHARS)
        name = _optional_text(claims, "name", MAX_NAME_CHARS)
        role = claims.get("role")
        jti = claims.get("jti")
        return VerifiedToken(
            source=source,
            sub=sub,
            tenant_id=tenant,
            scopes=frozenset(scope.split()),
            email=email,
            name=name,
            exp=float(claims["exp"]),
            jti=jti if isinstance(jti, str) else None,
            role=role if isinstance(role, str) else None,
        )


def _timestamp(claims: dict[str, Any], name: str) -> float | None:
    """A NumericDate claim, or None when absent: an int or float (never a bool, which is an
    int to Python, nor a string) in [0, MAX_TIMESTAMP]; NaN and infinities fail the range."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken(f"bad claim {name}")
    if not 0 <= value <= MAX_TIMESTAMP:
        raise InvalidToken(f"bad claim {name}")
    return float(value)


def _check_times(claims: dict[str, Any], now: float) -> None:
    """`exp` (required, so present here), `iat`, `nbf`: types first, then the times with
    PyJWT's semantics and leeway."""
    exp = _timestamp(claims, "exp")
    iat = _timestamp(claims, "iat")
    nbf = _timestamp(claims, "nbf")
    if exp is None:
        raise InvalidToken("missing claim exp")
    if iat is not None and iat > now + LEEWAY_SECONDS:
        raise InvalidToken("not yet valid")
    if nbf is not None and nbf > now + LEEWAY_SECONDS:
        raise InvalidToken("not yet valid")
    if exp <= now - LEEWAY_SECONDS:
        raise InvalidToken("expired")


def _optional_text(claims: dict[str, Any], name: str, max_chars: int) -> str | None:
    """A display claim (`email`, `name`): absent or null is None; otherwise a string of at
    most `max_chars` characters without control characters."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_chars or _CONTROL_CHARS.search(value):
        raise InvalidToken(f"bad claim {name}")
    return value
