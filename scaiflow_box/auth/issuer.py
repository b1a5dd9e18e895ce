"""The appliance's own ES256 issuer for service tokens (SPEC §2.1 item 2).

The private key lives in `issuer_keys`, wrapped by the master key; the public half is served
at `GET /api/v1/auth/jwks`. Tokens carry `iss = scaiflow-box:<install id>`, `aud` =
`scaiflow-box`, `tenant_id`, `sub`, `scope` and a `jti` checked against `service_tokens`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from scaiflow_box.crypto.envelope import MasterKey, unwrap_with_master, wrap_with_master
from scaiflow_box.store import keys as key_rows
from scaiflow_box.store.encrypted_fields import aad_for
from scaiflow_box.store.engine import Connection, Row

LOCAL_AUDIENCE = "scaiflow-box"
ALGORITHM = "ES256"


def install_id(conn: Connection) -> str:
    """A random id fixed at the first start; names this appliance's issuer."""
    return key_rows.set_meta_if_absent(conn, "install_id", secrets.token_hex(8))


@dataclass(frozen=True)
class IssuerKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    public_jwk: dict[str, Any]


def _new_key(master: MasterKey) -> tuple[str, str, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = "sfb-" + base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:9]).decode()
    public_jwk.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    wrapped = wrap_with_master(master, pem, aad_for("-", "issuer_keys", kid))
    return kid, wrapped, json.dumps(public_jwk, sort_keys=True)


class LocalIssuer:
    def __init__(self, issuer: str, keys: list[IssuerKey]) -> None:
        if not keys:
            raise ValueError("the local issuer needs at least one key")
        self.issuer = issuer
        self._keys = {k.kid: k for k in keys}
        self._signing = keys[0]

    @classmethod
    def load_or_create(cls, conn: Connection, master: MasterKey) -> LocalIssuer:
        """Load the active keys (creating the first one); `conn` must be the writer's."""
        iss = f"scaiflow-box:{install_id(conn)}"
        rows = key_rows.active_issuer_keys(conn)
        if not rows:
            kid, wrapped, public = _new_key(master)
            key_rows.insert_issuer_key(conn, kid, wrapped, public)
            rows = key_rows.active_issuer_keys(conn)
        return cls._from_rows(iss, rows, master)

    @classmethod
    def load(cls, conn: Connection, master: MasterKey) -> LocalIssuer | None:
        """The issuer `init` created, or None if it never ran; writes nothing."""
        installed = key_rows.get_meta(conn, "install_id")
        rows = key_rows.active_issuer_keys(conn)
        if installed is None or not rows:
            return None
        return cls._from_rows(f"scaiflow-box:{installed}", rows, master)

    @classmethod
    def _from_rows(cls, iss: str, rows: list[Row], master: MasterKey) -> LocalIssuer:
        keys: list[IssuerKey] = []
        for row in rows:
            pem = unwrap_with_master(
                master, row["private_key"], aad_for("-", "issuer_keys", row["kid"])
            )
            private = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                raise TypeError(f"issuer key {row['kid']} is not an EC private key")
            keys.append(IssuerKey(row["kid"], private, json.loads(row["public_jwk"])))
        return cls(iss, keys)

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self._keys.values()]}

    def mint(
        self,
        *,
        sub: str,
        tenant_id: str,
        scope: str,
        ttl_seconds: int,
        jti: str,
        email: str | None = None,
        name: str | None = None,
        now: float | None = None,
    ) -> tuple[str, int]:
        """Sign a service token; returns (token, exp)."""
        issued = int(now if now is not None else time.time())
        exp = issued + ttl_seconds
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": LOCAL_AUDIENCE,
            "sub": sub,
            "tenant_id": tenant_id,
            "scope": scope,
            "jti": jti,
            "iat": issued,
            "nbf": issued,
            "exp": exp,
        }
        if email:
            claims["email"] = email
        if name:
            claims["name"] = name
        token = jwt.encode(
            claims, self._signing.private_key, algorithm=ALGORITHM,
            headers={"kid": self._signing.kid, "typ": "JWT"},
        )
        return token, exp

    def verification_key(self, kid: str | None) -> ec.EllipticCurvePublicKey | None:
        key = self._keys.get(kid or "")
        return None if key is None else key.private_key.public_key()
