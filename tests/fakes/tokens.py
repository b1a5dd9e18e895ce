"""Key material and JWT crafting for tests: real signatures, and hand-built attack tokens that
PyJWT refuses to produce (alg "none" with a kid, HS256 keyed with an RSA public key PEM)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


@dataclass
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    @property
    def private_jwk(self) -> dict[str, Any]:
        """The JWK with the private members: what a provider must never publish."""
        if isinstance(self.private_key, rsa.RSAPrivateKey):
            jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private_key, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(self.private_key, as_dict=True)
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


_KEY_POOL: dict[tuple[str, str, int], PrivateKey] = {}


def _generate(alg: str, rsa_bits: int) -> PrivateKey:
    if alg.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    curves = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
    if alg not in curves:
        raise ValueError(f"unsupported test key algorithm {alg}")
    return ec.generate_private_key(curves[alg])


def new_signing_key(kid: str, alg: str = "RS256", *, rsa_bits: int = 2048,
                    fresh: bool = False) -> SigningKey:
    """A signing key. RSA generation is slow, so the material is reused per (kid, alg, size)
    within a test session: every fake's "key-1" is the same RSA key, while different kids are
    always different keys. `fresh=True` forces new material."""
    slot = (kid, alg, rsa_bits)
    if fresh or slot not in _KEY_POOL:
        _KEY_POOL[slot] = _generate(alg, rsa_bits)
    return SigningKey(kid, alg, _KEY_POOL[slot])


def sign(key: SigningKey, claims: dict[str, Any], *, alg: str | None = None,
         headers: dict[str, Any] | None = None) -> str:
    """A real signature by `key`; header values of None are dropped (e.g. typ=None)."""
    header: dict[str, Any] = {"kid": key.kid, "typ": "at+jwt"}
    header.update(headers or {})
    clean = {k: v for k, v in header.items() if v is not None}
    if "typ" not in clean:
        clean["typ"] = None  # PyJWT adds "JWT" unless told otherwise
    return jwt.encode(claims, key.private_key, algorithm=alg or key.alg, headers=clean)


def unsigned_token(claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
    """`alg: none` with an empty signature (RFC 7519 "unsecured JWT")."""
    head = {"alg": "none", "typ": "at+jwt", **(header or {})}
    return f"{b64url_json(head)}.{b64url_json(claims)}."


def hmac_token(secret: bytes, claims: dict[str, Any], header: dict[str, Any] | None = None,
               alg: str = "HS256") -> str:
    """An HMAC-signed token built by hand (PyJWT refuses PEM-looking HMAC secrets)."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    head = {"alg": alg, "typ": "at+jwt", **(header or {})}
    signing_input = f"{b64url_json(head)}.{b64url_json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def hs256_with_public_key(key: SigningKey, claims: dict[str, Any],
                          header: dict[str, Any] | None = None) -> str:
    """The classic key-confusion attack: HS256 keyed with the RSA public key's PEM."""
    return hmac_token(key.public_pem, claims, {"kid": key.kid, **(header or {})})


def tamper_payload(token: str, **changes: Any) -> str:
    """Same header and signature, claims edited: the signature no longer matches."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{head}.{b64url_json(claims)}.{signature}"


def with_header(token: str, **changes: Any) -> str:
    """Same claims and signature, header edited (the signature covers the header)."""
    head, payload, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header.update(changes)
    return f"{b64url_json(header)}.{payload}.{signature}"
