"""Minting and revoking the appliance's own service tokens (CLI, TUI, admin API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from scaiflow_box.auth.issuer import LocalIssuer
from scaiflow_box.ids import is_plain_id, new_id
from scaiflow_box.store import audit
from scaiflow_box.store import keys as key_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.engine import Connection
from scaiflow_box.timestamps import iso

MAX_TTL_SECONDS = 30 * 24 * 3600
DEFAULT_TTL_SECONDS = 24 * 3600
DEFAULT_SCOPE = "scaicore:view scaicore:manage"


class TokenRequestError(ValueError):
    """A mint request that cannot be honoured; the message says why."""


class SubjectTaken(TokenRequestError):
    """The subject is a user that a service token may not become: a ScaiKey user, or a local
    user of another tenant (the request is fine; what exists collides with it)."""


@dataclass(frozen=True)
class MintedToken:
    id: str
    token: str
    expires_at: str


def check_mint_request(sub: str, tenant_id: str, scope: str, ttl_seconds: int) -> None:
    if not is_plain_id(sub):
        raise TokenRequestError("sub must be 1-200 characters of letters, digits and ._:@-")
    if not is_plain_id(tenant_id):
        raise TokenRequestError("tenant must be 1-200 characters of letters, digits and ._:@-")
    if not 60 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise TokenRequestError(f"ttl must be between 60 and {MAX_TTL_SECONDS} seconds (30 days)")
    unknown = [s for s in scope.split() if s.startswith("scaicore:")
               and s not in ("scaicore:view", "scaicore:manage")]
    if unknown:
        raise TokenRequestError(f"unknown scaicore scope(s): {', '.join(unknown)}")


def claim_local_subject(conn: Connection, *, sub: str, tenant_id: str, actor: str,
                        email: str | None = None, name: str | None = None) -> None:
    """A service token is a local identity (SPEC §2.1: a user is (issuer, subject)). Its
    subject must be a local user of its tenant, or is recorded as one now, so the token works
    at its first use and the id is this appliance's (a role can be granted to it at once)."""
    row = user_rows.get_user_any_tenant(conn, sub)
    if row is None:
        if user_rows.provision_user_just_in_time(conn, tenant_id=tenant_id, user_id=sub,
                                                 email=email, display_name=name,
                                                 issuer=user_rows.LOCAL):
            audit.record(conn, tenant_id=tenant_id, actor=actor, action="user.provisioned",
                         target_type="user", target_id=sub,
                         details={"source": "service", "issuer": user_rows.LOCAL})
        return
    if row["issuer"] != user_rows.LOCAL:
        raise SubjectTaken(
            f"{sub} is a ScaiKey user: a service token is this appliance's own identity and "
            "never acts as a ScaiKey user; mint it for a subject of its own (e.g. "
            f"svc-{sub})")
    if row["tenant_id"] != tenant_id:
        raise SubjectTaken(f"{sub} is a user of tenant {row['tenant_id']}, not {tenant_id}")


def mint_service_token(
    conn: Connection,
    issuer: LocalIssuer,
    *,
    sub: str,
    tenant_id: str,
    scope: str = DEFAULT_SCOPE,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    description: str = "",
    created_by: str,
    email: str | None = None,
    name: str | None = None,
) -> MintedToken:
    """Record the token (for listing and revocation) and sign it; runs in a write job."""
    check_mint_request(sub, tenant_id, scope, ttl_seconds)
    claim_local_subject(conn, sub=sub, tenant_id=tenant_id, actor=created_by, email=email,
                        name=name)
    token_id = new_id("tok")
    jti = token_id  # one id: revoke by either spelling
    token, exp = issuer.mint(sub=sub, tenant_id=tenant_id, scope=scope,
                             ttl_seconds=ttl_seconds, jti=jti, email=email, name=name)
    expires_at = iso(datetime.fromtimestamp(exp, UTC))
    key_rows.insert_service_token(conn, token_id=token_id, jti=jti, tenant_id=tenant_id,
                                  sub=sub, scope=scope, description=description,
                                  created_by=created_by, expires_at=expires_at)
    audit.record(conn, tenant_id=tenant_id, actor=created_by, action="service_token.minted",
                 target_type="service_token", target_id=token_id,
                 details={"sub": sub, "scope": scope, "expires_at": expires_at})
    return MintedToken(token_id, token, expires_at)


def revoke_service_token(conn: Connection, id_or_jti: str, *, actor: str) -> bool:
    """True when a live token was revoked now; False when unknown or already revoked."""
    row = key_rows.find_service_token(conn, id_or_jti)
    if row is None:
        return False
    revoked = key_rows.revoke_service_token(conn, row["id"])
    if revoked:
        audit.record(conn, tenant_id=row["tenant_id"], actor=actor,
                     action="service_token.revoked", target_type="service_token",
                     target_id=row["id"], details={"sub": row["sub"]})
    return revoked
