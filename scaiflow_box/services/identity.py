"""From a bearer token to a Principal: verification, just-in-time users, disabled users,
revocation; and `GET /api/v1/me`."""

from __future__ import annotations

from scaiflow_box.auth.principal import MANAGE, VIEW, Principal, effective_permissions
from scaiflow_box.auth.tokens import InvalidToken, TokenVerifier, VerifiedToken
from scaiflow_box.config import Settings
from scaiflow_box.errors import NotAuthenticated
from scaiflow_box.store import audit
from scaiflow_box.store import keys as key_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.cache_loads import global_value
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection, Row
from scaiflow_box.store.read_cache import MISSING


def _check_service_token(conn: Connection, jti: str | None) -> None:
    row = key_rows.service_token_by_jti(conn, jti or "")
    if row is None or row["revoked_at"] is not None:
        raise InvalidToken("revoked")


def issuer_of(verified: VerifiedToken) -> str:
    """The issuer family that owns the users a token may become (store/users.py)."""
    return user_rows.LOCAL if verified.source == "service" else user_rows.SCAIKEY


def _dev_principal() -> Principal:
    """SCAIFLOW_AUTH_DISABLED (loopback-only dev mode): the bootstrap operator."""
    return Principal(sub="usr_operator", tenant_id="tnt_local", email=None,
                     display_name="Operator (auth disabled)",
                     permissions=frozenset({VIEW, MANAGE}), admin_role="super_admin",
                     admin_role_source="bootstrap", token_source="service")


class IdentityService:
    def __init__(self, db: Database, settings: Settings, verifier: TokenVerifier) -> None:
        self.db = db
        self.settings = settings
        self.verifier = verifier

    async def authenticate(self, token: str | None) -> Principal:
        """The caller behind a bearer token (None: no token); NotAuthenticated otherwise."""
        self.db.read_cache.check()  # once per request: cached reads never predate a write
        if token is None:
            if self.settings.auth_disabled:
                return _dev_principal()
            raise NotAuthenticated()
        # A token seen before and a user already provisioned (every request but the first of
        # a token) await nothing. Revocation and user status are read from the database, then
        # kept in the read cache until a write that may change them (store/read_cache.py).
        verified = self.verifier.cached(token) or await self.verifier.verify(token)
        cache = self.db.read_cache
        key = ("principal", token)
        principal: Principal | None = cache.peek_global(key)
        if principal is MISSING:
            principal = await global_value(cache, key,
                                           lambda: self._principal_from_rows(verified, token))
        if principal is not None:
            return principal
        # The user has no row yet: provisioned now (SPEC §20).
        return await self._provision(verified, token)

    async def _principal_from_rows(self, verified: VerifiedToken, token: str
                                   ) -> Principal | None:
        """The principal from stored rows; None when the user is not provisioned yet."""
        def read(conn: Connection) -> Row | None:
            if verified.source == "service":
                _check_service_token(conn, verified.jti)
            return user_rows.get_user_any_tenant(conn, verified.sub)

        row = await self.db.read_small(read)
        if row is None:
            return None
        return self._principal(verified, token, row)

    def _principal(self, verified: VerifiedToken, token: str, row: Row) -> Principal:
        # A user is (issuer, subject), SPEC §2.1: a ScaiKey token whose `sub` is a local
        # user's id (the bootstrap operator, a service-token subject) is not that user, nor
        # is a service token a ScaiKey user.
        if row["issuer"] != issuer_of(verified):
            raise InvalidToken("user belongs to another issuer")
        if row["tenant_id"] != verified.tenant_id:
            raise InvalidToken("user belongs to another tenant")
        if row["deleted_at"] is not None or row["status"] != "ACTIVE":
            raise InvalidToken("user disabled")
        return Principal(
            sub=verified.sub,
            tenant_id=verified.tenant_id,
            email=row["email"] or verified.email,
            display_name=row["display_name"] or verified.name,
            permissions=effective_permissions(verified.scopes,
                                              self.settings.default_permissions),
            admin_role=row["admin_role"],
            admin_role_source=row["admin_role_source"],
            token_source=verified.source,
            token=token,
        )

    async def _provision(self, verified: VerifiedToken, token: str) -> Principal:
        """First sight of this `sub`: create the user row (source `token`), then resolve."""
        def provision(conn: Connection) -> Row | None:
            if user_rows.provision_user_just_in_time(
                conn, tenant_id=verified.tenant_id, user_id=verified.sub,
                email=verified.email, display_name=verified.name, issuer=issuer_of(verified),
            ):
                audit.record(conn, tenant_id=verified.tenant_id, actor=verified.sub,
                             action="user.provisioned", target_type="user",
                             target_id=verified.sub,
                             details={"source": verified.source,
                                      "issuer": issuer_of(verified)})
            return user_rows.get_user_any_tenant(conn, verified.sub)

        row = await self.db.write(provision)
        if row is None:
            raise InvalidToken("user disabled")
        return self._principal(verified, token, row)

    async def describe(self, principal: Principal) -> dict[str, object]:
        """`GET /api/v1/me`."""
        groups = await self.db.read_small(
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
