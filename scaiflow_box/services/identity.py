"""From a verified token to a Principal: just-in-time users, disabled users, revocation."""

from __future__ import annotations

import sqlite3

from scaiflow_box.auth.principal import Principal, effective_permissions
from scaiflow_box.auth.tokens import InvalidToken, VerifiedToken
from scaiflow_box.config import Settings
from scaiflow_box.store import audit
from scaiflow_box.store import keys as key_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.db import Database


def _check_service_token(conn: sqlite3.Connection, jti: str | None) -> None:
    row = key_rows.service_token_by_jti(conn, jti or "")
    if row is None or row["revoked_at"] is not None:
        raise InvalidToken("revoked")


def _principal_from_rows(
    db: Database, settings: Settings, verified: VerifiedToken, token: str
) -> Principal | None:
    """The principal from stored rows; None when the user is not provisioned yet."""
    if verified.source == "service":
        db.read_inline(lambda conn: _check_service_token(conn, verified.jti))
    row = db.read_inline(lambda conn: user_rows.get_user_any_tenant(conn, verified.sub))
    if row is None:
        return None
    return _principal(settings, verified, token, row)


def _principal(
    settings: Settings, verified: VerifiedToken, token: str, row: sqlite3.Row
) -> Principal:
    if row["tenant_id"] != verified.tenant_id:
        raise InvalidToken("user belongs to another tenant")
    if row["deleted_at"] is not None or row["status"] != "ACTIVE":
        raise InvalidToken("user disabled")
    return Principal(
        sub=verified.sub,
        tenant_id=verified.tenant_id,
        email=row["email"] or verified.email,
        display_name=row["display_name"] or verified.name,
        permissions=effective_permissions(verified.scopes, settings.default_permissions),
        admin_role=row["admin_role"],
        admin_role_source=row["admin_role_source"],
        token_source=verified.source,
        token=token,
    )


async def resolve_principal(
    db: Database, settings: Settings, verified: VerifiedToken, token: str
) -> Principal:
    """Join the token with the user row, creating the row on first sight (SPEC §20).

    Revocation and user status are read from the database, then kept in the commit-scoped
    cache until a commit (see store/read_cache.py for how soon other processes' commits
    are seen)."""
    principal = db.inline_cache.get_or_load(
        ("principal", token), lambda: _principal_from_rows(db, settings, verified, token))
    if principal is not None:
        return principal
    return await _provision(db, settings, verified, token)


async def _provision(
    db: Database, settings: Settings, verified: VerifiedToken, token: str
) -> Principal:
    """First sight of this `sub`: create the user row (source `token`), then resolve."""
    def provision(conn: sqlite3.Connection) -> sqlite3.Row | None:
        if user_rows.provision_user_just_in_time(
            conn, tenant_id=verified.tenant_id, user_id=verified.sub,
            email=verified.email, display_name=verified.name,
        ):
            audit.record(conn, tenant_id=verified.tenant_id, actor=verified.sub,
                         action="user.provisioned", target_type="user",
                         target_id=verified.sub, details={"source": verified.source})
        return user_rows.get_user_any_tenant(conn, verified.sub)

    row = await db.write(provision)
    if row is None:
        raise InvalidToken("user disabled")
    return _principal(settings, verified, token, row)


async def describe_me(db: Database, principal: Principal) -> dict[str, object]:
    """`GET /api/v1/me`."""
    groups = db.read_inline(
        lambda conn: user_rows.groups_of(conn, principal.tenant_id, principal.sub)
    )
    return {
        "sub": principal.sub,
        "tenant_id": principal.tenant_id,
        "email": principal.email,
        "display_name": principal.display_name,
        "permissions": sorted(principal.permissions),
        "admin_role": principal.admin_role,
        "admin_role_source": principal.admin_role_source,
        "groups": [{"id": g["id"], "name": g["name"]} for g in groups],
        "token_source": principal.token_source,
    }
