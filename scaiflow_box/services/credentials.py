"""Tenant ScaiGrid credentials (SPEC §8) and the credential order for ScaiGrid calls (§7.1).

A tenant's API key and base URL are stored encrypted (SPEC §19.2) in `tenant_secrets` under
the logical names `tenants/{tenant_id}/scaigrid_api_key` and `…/scaigrid_base_url`. The
plaintext key is never returned, logged or audited: reads give `masked_key` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from scaiflow_box.auth.principal import Principal
from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import DecryptionFailed, MasterKeyError
from scaiflow_box.crypto.keyring import Keyring
from scaiflow_box.errors import InvalidInput, NotConfigured, NotFound, PreconditionFailed
from scaiflow_box.store import audit
from scaiflow_box.store import secrets as secret_rows
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.encrypted_fields import TENANT_SECRETS
from scaiflow_box.store.engine import Connection
from scaiflow_box.upstream.client import (
    DestinationNotAllowed,
    check_destination,
    scaigrid_allow_list,
    url_destination,
)
from scaiflow_box.upstream.destinations import UpstreamAllowList, is_legacy_ipv4_spelling
from scaiflow_box.upstream.scaigrid import ScaiGridAuth

API_KEY = "scaigrid_api_key"
BASE_URL = "scaigrid_base_url"
MAX_API_KEY_LENGTH = 4096
MAX_BASE_URL_LENGTH = 2048
# Keys shorter than this are masked whole: first 4 + last 4 would show most of them.
MIN_KEY_LENGTH_TO_SHOW_ENDS = 16
FULL_MASK = "…"

MISSING_FIX = ("Sign in with ScaiKey, or set this tenant's API key via "
               "POST /v1/tenants/me/scaigrid_credentials.")
PINNED_FIX = ("Sign in with ScaiKey: this appliance calls ScaiGrid only with the caller's "
              "ScaiKey token (SCAIFLOW_DEPLOY_AUTH=user_jwt).")
MissingCode = Literal["missing_scaigrid_credentials", "missing_credentials"]

def secret_name(tenant_id: str, key: str) -> str:
    """The logical name a tenant secret is stored (and authenticated) under."""
    return f"tenants/{tenant_id}/{key}"


def mask_key(key: str) -> str:
    """First 4 + `…` + last 4 (SPEC §8); a short key is masked whole."""
    if len(key) < MIN_KEY_LENGTH_TO_SHOW_ENDS:
        return FULL_MASK
    return f"{key[:4]}…{key[-4:]}"


def normalize_api_key(raw: str) -> str:
    """Trimmed; 1-4096 printable ASCII characters without spaces (it becomes a header)."""
    key = raw.strip()
    if not key:
        raise InvalidInput("api_key is empty", code="invalid_api_key")
    if len(key) > MAX_API_KEY_LENGTH:
        raise InvalidInput(f"api_key is longer than {MAX_API_KEY_LENGTH} characters",
                           code="invalid_api_key")
    if any(not 0x21 <= ord(ch) <= 0x7E for ch in key):
        raise InvalidInput("api_key may hold only printable ASCII characters without spaces",
                           code="invalid_api_key")
    return key


URL_FIX = "Give the ScaiGrid base URL, e.g. https://scaigrid.example.com"
ALLOW_FIX = ("Use the ScaiGrid URL your operator gave you; the operator allows other hosts "
             "with SCAIFLOW_UPSTREAM_ALLOW.")


def _bad_url(reason: str, fix: str = URL_FIX) -> InvalidInput:
    return InvalidInput(f"base_url {reason}", code="invalid_base_url", fix=fix)


def normalize_base_url(raw: str, *, allowed: UpstreamAllowList) -> str:
    """http(s) with a host, no credentials, query or fragment; never a link-local, metadata
    or reserved destination, never a legacy numeric spelling of an address (`127.1`, `0`),
    and inside the operator's allow-list (`scaigrid_allow_list`): the same rules the ScaiGrid
    client applies to each call, so a stored URL is one the appliance will call."""
    url = raw.strip()
    if len(url) > MAX_BASE_URL_LENGTH:
        raise _bad_url(f"is longer than {MAX_BASE_URL_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise _bad_url("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise _bad_url("is not a valid URL") from None
    try:
        check_destination(url)
    except DestinationNotAllowed as exc:
        raise _bad_url(f"is refused: {exc.reason}") from None
    if parts.username is not None or parts.password is not None:
        raise _bad_url("must not carry credentials (give the key as api_key)")
    if parts.query or parts.fragment:
        raise _bad_url("must not have a query or fragment")
    try:
        host, port = url_destination(url)
    except ValueError:
        raise _bad_url("is not a valid URL") from None
    if is_legacy_ipv4_spelling(host):
        raise _bad_url("is refused: write an IPv4 address as four decimal numbers (a.b.c.d)")
    if not allowed.permits(host, port):
        raise _bad_url("is refused: this appliance does not call that host", fix=ALLOW_FIX)
    return url.rstrip("/")


@dataclass(frozen=True)
class CredentialStatus:
    configured: bool
    base_url: str | None
    masked_key: str | None
    base_url_stored: bool = False  # the tenant's own, not the SCAIGRID_BASE_URL fallback


@dataclass(frozen=True)
class _Stored:
    api_key: str | None
    base_url: str | None

    def __repr__(self) -> str:
        return f"_Stored(api_key={'set' if self.api_key else None}, base_url={self.base_url})"


def _unreadable(exc: Exception) -> NotConfigured:
    reason = ("the master key in use does not unwrap it"
              if isinstance(exc, MasterKeyError) else "it does not decrypt")
    return NotConfigured(f"this tenant's stored ScaiGrid credentials cannot be read: {reason}",
                         code="credentials_unreadable",
                         fix="Restart the appliance with the right master key, or set the "
                             "credentials again.")


class CredentialService:
    def __init__(self, db: Database, keyring: Keyring, settings: Settings) -> None:
        self.db = db
        self.keyring = keyring
        self.settings = settings
        self.allowed = scaigrid_allow_list(settings)

    # -- stored credentials --------------------------------------------------------------
    async def _read(self, tenant_id: str) -> _Stored:
        """Two primary-key reads and an AES-GCM decryption (the tenant's data key is cached
        after its first use): small enough for the event loop (SPEC §19.1)."""
        names = {API_KEY: secret_name(tenant_id, API_KEY),
                 BASE_URL: secret_name(tenant_id, BASE_URL)}

        def run(conn: Connection) -> _Stored:
            stored = secret_rows.get_secrets(conn, tenant_id, names.values())
            plain: dict[str, str | None] = {}
            for key, name in names.items():
                value = stored.get(name)
                plain[key] = None if value is None else self.keyring.decrypt(
                    conn, TENANT_SECRETS, tenant_id, name, value).decode()
            return _Stored(plain[API_KEY], plain[BASE_URL])

        try:
            return await self.db.read_small(run)
        except (DecryptionFailed, MasterKeyError, UnicodeDecodeError) as exc:
            raise _unreadable(exc) from None

    async def status(self, principal: Principal) -> CredentialStatus:
        """Any member of the tenant: whether a key is set, the base URL calls use, the key
        masked."""
        return await self.status_of(principal.tenant_id)

    async def status_of(self, tenant_id: str) -> CredentialStatus:
        stored = await self._read(tenant_id)
        if stored.api_key is None:
            return CredentialStatus(configured=False, base_url=None, masked_key=None)
        return CredentialStatus(configured=True,
                                base_url=stored.base_url or self.settings.scaigrid_base_url,
                                masked_key=mask_key(stored.api_key),
                                base_url_stored=stored.base_url is not None)

    async def _target_tenant(self, principal: Principal, tenant_id: str | None) -> str:
        """The caller's own tenant (tenant or super admins), or another one (super admins
        only, through the admin router); an unknown tenant is 404."""
        if tenant_id is None or tenant_id == principal.tenant_id:
            principal.require_tenant_admin()
            return principal.tenant_id
        principal.require_super_admin()
        if await self.db.read_small(lambda conn: user_rows.get_tenant(conn, tenant_id)) is None:
            raise NotFound("Tenant not found")
        return tenant_id

    async def set(self, principal: Principal, *, api_key: str, base_url: str | None,
                  request_id: str | None = None, tenant_id: str | None = None) -> None:
        """Store the tenant's key (and base URL; without one, SCAIGRID_BASE_URL applies)."""
        tenant_id = await self._target_tenant(principal, tenant_id)
        key = normalize_api_key(api_key)
        url = None
        if base_url is not None and base_url.strip():
            url = normalize_base_url(base_url, allowed=self.allowed)

        def run(conn: Connection) -> None:
            for item, value in ((API_KEY, key), (BASE_URL, url)):
                name = secret_name(tenant_id, item)
                if value is None:
                    secret_rows.delete_secrets(conn, tenant_id, [name])
                    continue
                try:
                    sealed = self.keyring.encrypt(conn, TENANT_SECRETS, tenant_id, name,
                                                  value.encode())
                except (DecryptionFailed, MasterKeyError) as exc:
                    raise _unreadable(exc) from None
                secret_rows.put_secret(conn, tenant_id, name, sealed, principal.sub)
            audit.record(conn, tenant_id=tenant_id, actor=principal.sub,
                         action="tenant.credentials_set", target_type="tenant",
                         target_id=tenant_id, details={"base_url_stored": url is not None},
                         request_id=request_id)

        await self.db.write(run)

    async def delete(self, principal: Principal, *, request_id: str | None = None,
                     tenant_id: str | None = None) -> None:
        """Remove the tenant's key and base URL (idempotent; audited when something went)."""
        tenant_id = await self._target_tenant(principal, tenant_id)

        def run(conn: Connection) -> None:
            removed = secret_rows.delete_secrets(
                conn, tenant_id, [secret_name(tenant_id, API_KEY),
                                  secret_name(tenant_id, BASE_URL)])
            if removed:
                audit.record(conn, tenant_id=tenant_id, actor=principal.sub,
                             action="tenant.credentials_deleted", target_type="tenant",
                             target_id=tenant_id, request_id=request_id)

        await self.db.write(run)

    # -- the credential order (SPEC §7.1) ------------------------------------------------
    async def scaigrid_auth(self, principal: Principal, *, missing: MissingCode
                            ) -> ScaiGridAuth:
        """Who calls ScaiGrid for this caller, and where.

        (1) the caller's ScaiKey token, forwarded verbatim, unless SCAIFLOW_DEPLOY_AUTH=api_key;
        (2) the tenant's stored key; (3) SCAIGRID_API_KEY when the tenant has none; (4) 412
        `missing`. SCAIFLOW_DEPLOY_AUTH=user_jwt pins (1). Service tokens are not ScaiGrid
        credentials. Base URL: the tenant's, else SCAIGRID_BASE_URL, else 503
        `scaigrid_not_configured`; a stored one the allow-list no longer permits is 503
        `base_url_not_allowed` (not a silent fallback to SCAIGRID_BASE_URL)."""
        mode = self.settings.deploy_auth
        stored = await self._read(principal.tenant_id)
        source: Literal["user_jwt", "tenant_key", "env_key"]
        if mode != "api_key" and principal.token_source == "scaikey" and principal.token:
            bearer, source = principal.token, "user_jwt"
        elif mode == "user_jwt":
            raise PreconditionFailed(
                f"no ScaiGrid credentials for this caller in tenant '{principal.tenant_id}': "
                "ScaiGrid is called with the caller's ScaiKey token only", code=missing,
                fix=PINNED_FIX)
        elif stored.api_key is not None:
            bearer, source = stored.api_key, "tenant_key"
        elif self.settings.scaigrid_api_key is not None:
            bearer, source = self.settings.scaigrid_api_key, "env_key"
        else:
            raise PreconditionFailed(
                f"no ScaiGrid credentials for tenant '{principal.tenant_id}'", code=missing,
                fix=MISSING_FIX)
        base_url = stored.base_url or self.settings.scaigrid_base_url
        if stored.base_url is not None and not self._allowed_now(stored.base_url):
            raise NotConfigured(
                "this tenant's ScaiGrid base URL names a host this appliance no longer calls",
                code="base_url_not_allowed",
                fix="Set the credentials again with a base_url the operator allows "
                    "(SCAIFLOW_UPSTREAM_ALLOW), or without one to use SCAIGRID_BASE_URL.")
        if base_url is None:
            raise NotConfigured(
                "no ScaiGrid base URL: neither this tenant's nor SCAIGRID_BASE_URL is set",
                code="scaigrid_not_configured",
                fix="Set SCAIGRID_BASE_URL, or give base_url via "
                    "POST /v1/tenants/me/scaigrid_credentials.")
        return ScaiGridAuth(base_url=base_url, bearer=bearer, source=source)

    def _allowed_now(self, base_url: str) -> bool:
        """A stored base URL checked against today's allow-list (the operator may have
        narrowed it since the URL was stored)."""
        try:
            normalize_base_url(base_url, allowed=self.allowed)
        except InvalidInput:
            return False
        return True

    def environment_auth(self, *, missing: MissingCode) -> ScaiGridAuth:
        """`SCAIGRID_API_KEY` at `SCAIGRID_BASE_URL` only: the deprecated dev deploy (SPEC §7.2),
        whose dev token belongs to no tenant."""
        key = self.settings.scaigrid_api_key
        if key is None:
            raise PreconditionFailed(
                "no ScaiGrid credentials: the dev deploy uses SCAIGRID_API_KEY only",
                code=missing, fix="Set SCAIGRID_API_KEY on the appliance.")
        base_url = self.settings.scaigrid_base_url
        if base_url is None:
            raise NotConfigured("no ScaiGrid base URL: SCAIGRID_BASE_URL is not set",
                                code="scaigrid_not_configured", fix="Set SCAIGRID_BASE_URL.")
        return ScaiGridAuth(base_url=base_url, bearer=key, source="env_key")
