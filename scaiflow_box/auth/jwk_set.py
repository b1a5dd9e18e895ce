"""What a usable JWKS is: parsing and vetting ScaiKey's published keys (SPEC §2.1, §19.3).

Only asymmetric signature keys are used (RSA >= 2048 bits, EC P-256/384/521, OKP
Ed25519/Ed448). Symmetric (`oct`) keys, keys for encryption (`use` != "sig"), keys carrying
private-key members (a provider that publishes them has leaked them), keys without a usable
`kid`, and keys whose `alg` does not match their type are skipped. Each key is bound to one
algorithm: its `alg`, else the first configured algorithm (`SCAIKEY_ALGORITHMS`) that fits
its type, so a token can never choose how its signature is checked (PyJWT refuses a token
whose `alg` differs from the PyJWK's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWK

from scaiflow_box.store import keys as key_rows
from scaiflow_box.store.engine import Connection

MAX_KID_LENGTH = 256
MAX_KEYS = 100
MIN_RSA_BITS = 2048
SOURCE_IMPORT = "import"

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_CURVE_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
OKP_CURVES = frozenset({"Ed25519", "Ed448"})
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def printable_kid(kid: object) -> str:
    """A kid as it may appear in a log line: repr'd (escapes control characters), ≤ 64 chars."""
    text = kid if isinstance(kid, str) else str(type(kid).__name__)
    return repr(text[:64])


# -- parsing ------------------------------------------------------------------------------
def _fits(kty: str, crv: object, alg: str) -> bool:
    if kty == "RSA":
        return alg in RSA_ALGORITHMS
    if kty == "EC":
        return isinstance(crv, str) and EC_CURVE_ALGORITHMS.get(crv) == alg
    if kty == "OKP":
        return crv in OKP_CURVES and alg == "EdDSA"
    return False


def _default_algorithm(kty: str, crv: object, configured: Sequence[str]) -> str | None:
    for alg in configured:
        if _fits(kty, crv, alg):
            return alg
    if kty == "RSA":
        return "RS256"
    if kty == "EC" and isinstance(crv, str):
        return EC_CURVE_ALGORITHMS.get(crv)
    if kty == "OKP" and crv in OKP_CURVES:
        return "EdDSA"
    return None


def _usable_key(jwk: Any, configured: Sequence[str]) -> tuple[PyJWK | None, str]:
    """(key, "") or (None, why it was skipped)."""
    if not isinstance(jwk, dict):
        return None, "not an object"
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
        return None, "no usable kid"
    kty = jwk.get("kty")
    if kty == "oct":
        return None, "symmetric key"
    if kty not in ("RSA", "EC", "OKP"):
        return None, "unsupported key type"
    use = jwk.get("use")
    if use is not None and use != "sig":
        return None, "not a signature key"
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        return None, "not a verification key"
    if PRIVATE_MEMBERS & jwk.keys():
        return None, "carries private key material"
    crv = jwk.get("crv")
    declared = jwk.get("alg")
    if declared is not None:
        if not isinstance(declared, str) or not _fits(kty, crv, declared):
            return None, "unsupported algorithm"
        alg = declared
    else:
        chosen = _default_algorithm(kty, crv, configured)
        if chosen is None:
            return None, "unsupported curve"
        alg = chosen
    try:
        key = PyJWK(jwk, algorithm=alg)
    except (jwt.PyJWTError, ValueError, TypeError):
        return None, "invalid key parameters"
    if isinstance(key.key, rsa.RSAPublicKey) and key.key.key_size < MIN_RSA_BITS:
        return None, "RSA key shorter than 2048 bits"
    return key, ""


@dataclass(frozen=True)
class ParsedJwks:
    keys: dict[str, PyJWK]
    document: dict[str, Any]  # the usable public JWKs only: what is persisted
    skipped: list[str]  # "kid: reason" lines, for operators (kids here come from the JWKS)


def parse_jwks(document: Any, algorithms: Sequence[str]) -> ParsedJwks:
    """Validate a JWKS document; raise ValueError if it is not one. May return zero keys."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('not a JWKS: expected a JSON object with a "keys" array')
    keys: dict[str, PyJWK] = {}
    kept: list[dict[str, Any]] = []
    skipped: list[str] = []
    entries: list[Any] = document["keys"]
    if len(entries) > MAX_KEYS:
        skipped.append(f"{len(entries) - MAX_KEYS} keys beyond the first {MAX_KEYS} ignored")
        entries = entries[:MAX_KEYS]
    for index, jwk in enumerate(entries):
        kid_text = jwk.get("kid") if isinstance(jwk, dict) else None
        label = printable_kid(kid_text) if isinstance(kid_text, str) else f"#{index}"
        key, why = _usable_key(jwk, algorithms)
        if key is None:
            skipped.append(f"{label}: {why}")
            continue
        kid = jwk["kid"]
        if kid in keys:
            skipped.append(f"{label}: duplicate kid")
            continue
        keys[kid] = key
        kept.append(dict(jwk))
    return ParsedJwks(keys=keys, document={"keys": kept}, skipped=skipped)


def read_jwks_file(path: Path, algorithms: Sequence[str]) -> ParsedJwks:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
        raise ValueError(f"{path}: cannot read the file ({reason})") from exc
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    except RecursionError as exc:
        raise ValueError(f"{path}: not valid JSON (nested too deeply)") from exc
    try:
        parsed = parse_jwks(document, algorithms)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if not parsed.keys:
        detail = "; ".join(parsed.skipped) or "the keys array is empty"
        raise ValueError(
            f"{path}: no usable asymmetric signing key (RSA >= 2048 bits, EC P-256/384/521 or "
            f"OKP Ed25519/Ed448, public part only, with a kid; symmetric 'oct' keys are never "
            f"accepted): {detail}"
        )
    return parsed


def import_jwks_file(conn: Connection, path: str | Path, issuer: str) -> list[str]:
    """CLI `jwks import FILE [--issuer ISS]`: validate and persist a static JWKS (source
    "import"); returns the usable key ids. Raises ValueError with a one-line reason.

    `conn` is the writer's connection (e.g. inside `Database.write_sync`).
    """
    if not isinstance(issuer, str) or not issuer.strip():
        raise ValueError("an issuer is required (--issuer, or set SCAIKEY_ISSUER)")
    parsed = read_jwks_file(Path(path), ())
    key_rows.save_jwks(conn, issuer, json.dumps(parsed.document, sort_keys=True), SOURCE_IMPORT)
    return list(parsed.keys)
