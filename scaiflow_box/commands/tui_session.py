"""The TUI's credential: a short-lived service token minted with the key in the data dir.

Whoever can open the data directory (the database and `master.key`) can sign tokens, so
file-system access is the operator's credential (DESIGN: the TUI is a REST client; `tui/`
gets a `TokenSource` from here and never touches the data directory). The data directory is
opened exactly as the CLI's `token mint` opens it (and never created); the token lives 15
minutes, is renewed shortly before it runs out, and every token of the session is revoked on
exit.

A token is minted only for a user who can sign in: one that exists in that tenant, is not
deleted and is `ACTIVE`. Otherwise the appliance would create the user on the token's first
use (just-in-time provisioning), and a mistyped `--sub` would leave a stray user behind.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from scaiflow_box.config import Settings
from scaiflow_box.crypto.envelope import DecryptionFailed, MasterKeyError
from scaiflow_box.services.bootstrap import DataDir, DataDirError, open_data_dir
from scaiflow_box.services.service_tokens import (
    MintedToken,
    TokenRequestError,
    check_mint_request,
    mint_service_token,
    revoke_service_token,
)
from scaiflow_box.store import users as user_rows
from scaiflow_box.store.engine import Connection
from tui.transport import AdminClientError

T = TypeVar("T")

SESSION_TTL_SECONDS = 15 * 60
RENEW_BEFORE_SECONDS = 120
SESSION_SCOPE = "scaicore:view scaicore:manage"
SESSION_DESCRIPTION = "scaiflow-box tui session"
ACTOR = "tui"


class SessionTokenError(AdminClientError):
    """No session token could be minted (or revoked); the message says what to fix."""


@dataclass(frozen=True)
class SessionToken:
    id: str
    token: str = field(repr=False)
    expires_at: datetime


def _with_data_dir(settings: Settings, fn: Callable[[DataDir], T]) -> T:
    """Open the data dir exactly as the CLI's `token mint` does (never creating one: a fresh
    issuer key would sign tokens the running appliance refuses); blocking."""
    try:
        with open_data_dir(settings) as data_dir:
            return fn(data_dir)
    except DataDirError as exc:
        raise SessionTokenError(str(exc)) from None
    except PermissionError as exc:
        raise SessionTokenError(f"no access to the data directory: {exc}") from None
    except (MasterKeyError, DecryptionFailed) as exc:
        raise SessionTokenError(f"cannot use the master key: {exc}") from None
    except (sqlite3.Error, OSError) as exc:
        raise SessionTokenError(f"database error: {exc}") from None


def refuse_unknown_user(conn: Connection, *, sub: str, tenant_id: str) -> None:
    """SessionTokenError unless `sub` is a live, active user of `tenant_id`."""
    user = user_rows.get_user(conn, tenant_id, sub)
    if user is None:
        elsewhere = user_rows.get_user_any_tenant(conn, sub)
        if elsewhere is not None:
            raise SessionTokenError(
                f"cannot sign in as {sub} in {tenant_id}: that user belongs to "
                f"{elsewhere['tenant_id']} (pass --tenant {elsewhere['tenant_id']})")
        raise SessionTokenError(
            f"cannot sign in as {sub} in {tenant_id}: no such user. The TUI signs in as an "
            "existing user (`scaiflow-box admin users` lists them; `init` creates "
            "usr_operator in tnt_local)")
    if user["deleted_at"] is not None:
        raise SessionTokenError(f"cannot sign in as {sub}: the user was deleted "
                                f"{user['deleted_at']}")
    if user["status"] != "ACTIVE":
        raise SessionTokenError(f"cannot sign in as {sub}: the user is {user['status']}")


def mint_session_token(settings: Settings, *, sub: str, tenant_id: str,
                       ttl_seconds: int = SESSION_TTL_SECONDS) -> SessionToken:
    """Mint a service token for `sub@tenant_id` in the data dir's database; blocking."""

    def run(data_dir: DataDir) -> SessionToken:
        def mint(conn: Connection) -> MintedToken:
            check_mint_request(sub, tenant_id, SESSION_SCOPE, ttl_seconds)  # the ids' form
            refuse_unknown_user(conn, sub=sub, tenant_id=tenant_id)
            return mint_service_token(
                conn, data_dir.issuer, sub=sub, tenant_id=tenant_id, scope=SESSION_SCOPE,
                ttl_seconds=ttl_seconds, description=SESSION_DESCRIPTION, created_by=ACTOR)

        try:
            minted = data_dir.db.write_sync(mint)
        except TokenRequestError as exc:
            raise SessionTokenError(f"cannot mint a session token: {exc}") from None
        expires = datetime.fromisoformat(minted.expires_at.replace("Z", "+00:00"))
        return SessionToken(minted.id, minted.token, expires)

    return _with_data_dir(settings, run)


def revoke_session_tokens(settings: Settings, token_ids: list[str]) -> list[str]:
    """Revoke the given tokens; returns those revoked now (unknown/already revoked skipped)."""
    if not token_ids:
        return []

    def run(data_dir: DataDir) -> list[str]:
        def revoke_each(conn: Connection) -> list[str]:
            return [t for t in token_ids if revoke_service_token(conn, t, actor=ACTOR)]

        return data_dir.db.write_sync(revoke_each)

    return _with_data_dir(settings, run)


class LocalTokenSource:
    """A `TokenSource` for `AdminClient`: mints on first use, renews before expiry.

    Replaced tokens are not revoked at once (a request may still be carrying one); all are
    revoked by `revoke_all` when the TUI exits. A killed TUI leaves at most one live token,
    which expires on its own within 15 minutes.
    """

    def __init__(self, settings: Settings, *, sub: str, tenant_id: str,
                 ttl_seconds: int = SESSION_TTL_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.sub = sub
        self.tenant_id = tenant_id
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._current: SessionToken | None = None
        self._minted: list[SessionToken] = []
        self._lock = asyncio.Lock()

    def _needs_token(self) -> bool:
        current = self._current
        return current is None or (
            current.expires_at.timestamp() - self._clock() < RENEW_BEFORE_SECONDS)

    def _mint(self) -> SessionToken:
        token = mint_session_token(self.settings, sub=self.sub, tenant_id=self.tenant_id,
                                   ttl_seconds=self.ttl_seconds)
        self._current = token
        self._minted.append(token)
        return token

    def prime(self) -> SessionToken:
        """Mint now (blocking), so a start-up problem is reported before the UI opens."""
        if self._needs_token():
            return self._mint()
        if self._current is None:  # _needs_token() is True without one
            raise RuntimeError("no session token")
        return self._current

    async def bearer(self) -> str:
        async with self._lock:
            if self._needs_token():
                await asyncio.to_thread(self._mint)
            if self._current is None:  # _mint() sets it
                raise RuntimeError("no session token")
            return self._current.token

    def session_token_ids(self) -> frozenset[str]:
        return frozenset(t.id for t in self._minted)

    def revoke_all(self) -> list[str]:
        """Revoke every token this session minted that has not expired yet; blocking."""
        now = datetime.now(UTC)
        live = [t.id for t in self._minted if t.expires_at > now]
        revoked = revoke_session_tokens(self.settings, live)
        self._minted.clear()
        self._current = None
        return revoked
