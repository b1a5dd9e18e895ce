"""A fake ScaiKey: a real aiohttp server on 127.0.0.1 implementing SPEC §18.2.

Routes (names in brackets are the keys of `hits`, `fail(...)`, `stall(...)` and
`redirect(...)`):
- [discovery]          GET {issuer path}/.well-known/openid-configuration
- [platform_discovery] GET /api/v1/platform/oauth/.well-known/openid-configuration
- [jwks]               GET {issuer path}/jwks            (Cache-Control: public, max-age=N)
- [token]              POST {issuer path}/token          (form-encoded, HTTP Basic client auth)
- [effective_users]    GET /api/v1/tenants/{tenant_id}/applications/{application_id}/
                           effective-users?page&per_page
- [groups]             GET /api/v1/admin/groups/?page&per_page&tenant_id
- [group_members]      GET /api/v1/admin/groups/{group_id}/members?page&per_page
- [attacker_jwks]      GET /attacker/jwks.json  (a JWKS of a key ScaiKey never issued: the
                           target of `jku`/`x5u` attacks; it must never be fetched)

Admin list pages answer `{"items": [...], "total", "page", "per_page", "pages"}` (pages start
at 1, per_page ≤ 100); users are `{"id", "tenant_id", "email", "display_name", "status"}`,
groups `{"id", "tenant_id", "name", "description", "member_count"}`. The admin API wants a
bearer access token minted here by client_credentials with `admin:read` or `admin:write`.
Token endpoint errors are `{"error", "error_description"}` (400; 401 for invalid_client).
`accept_any_grant` honours codes and refresh tokens it never issued (for generated requests).
Run by hand or as a process: `python -m tests.fakes.scaikey --port P [--accept-any-grant]`.
`jwks_override` and `discovery_override` (both discovery routes) replace a document: bytes or
str are sent as they are, anything else as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import secrets
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import jwt
from aiohttp import web

from tests.fakes.tokens import (
    SigningKey,
    hs256_with_public_key,
    new_signing_key,
    sign,
    unsigned_token,
)

PLATFORM_PATH = "/api/v1/platform/oauth"
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
ADMIN_FORBIDDEN = "Platform token requires admin:read or admin:write scope"


@dataclass
class FakeUser:
    id: str
    tenant_id: str
    email: str
    display_name: str
    status: str = "ACTIVE"

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "tenant_id": self.tenant_id, "email": self.email,
                "display_name": self.display_name, "status": self.status}


@dataclass
class FakeGroup:
    id: str
    tenant_id: str
    name: str
    description: str = ""
    members: list[str] = field(default_factory=list)


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    claims: dict[str, Any]
    code_challenge: str | None
    expires_at: float
    used: bool = False


@dataclass
class RefreshGrant:
    client_id: str
    claims: dict[str, Any]
    active: bool = True


@dataclass
class Fault:
    status: int = 500
    stall_seconds: float = 0.0


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeScaiKey:
    def __init__(
        self,
        *,
        issuer_path: str = "/oauth",
        client_id: str = "scaiflow",
        client_secret: str = "scaiflow-secret",
        audience: str | None = None,
        max_age: int | None = 600,
        key_alg: str = "RS256",
        access_ttl: int = 300,
    ) -> None:
        if issuer_path == PLATFORM_PATH:
            raise ValueError("the issuer path must differ from the platform path")
        self.issuer_path = issuer_path.rstrip("/")
        self.clients: dict[str, str] = {client_id: client_secret}
        self.client_scopes: dict[str, frozenset[str]] = {
            client_id: frozenset({"admin:read", "openid", "profile", "email"})}
        self.client_id = client_id
        self.client_secret = client_secret
        self.audience = audience or client_id
        self.max_age = max_age
        self.access_ttl = access_ttl
        self.keys: list[SigningKey] = [new_signing_key("key-1", key_alg)]
        self.current_kid = "key-1"
        self.attacker_key = new_signing_key("attacker-1", "RS256")
        self.extra_jwks: list[Any] = []  # raw entries, malformed ones included
        self.jwks_override: Any = None  # served as JSON instead of the real JWKS when set
        self.discovery_override: Any = None  # served instead of the discovery document
        self.redirects: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self.faults: dict[str | None, Fault] = {}
        self.effective_users_forbidden = False
        self.users: dict[str, FakeUser] = {}
        self.groups: dict[str, FakeGroup] = {}
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, RefreshGrant] = {}
        self.token_requests: list[dict[str, Any]] = []
        # Codes and refresh tokens this fake never issued are honoured as the default user's
        # (the contract run generates them); used refresh tokens are still refused.
        self.accept_any_grant = False
        self._key_counter = 1
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, port: int | None = None) -> FakeScaiKey:
        """Listen on 127.0.0.1: on `port` when given, else a random port the first time and the
        same port on a restart."""
        app = web.Application(middlewares=[self._faults_middleware])
        self._add_routes(app)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port or self._port or 0)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    # -- addresses ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._port is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def issuer(self) -> str:
        return self.base_url + self.issuer_path

    @property
    def discovery_url(self) -> str:
        return self.issuer + DISCOVERY_SUFFIX

    @property
    def platform_discovery_url(self) -> str:
        return self.base_url + PLATFORM_PATH + DISCOVERY_SUFFIX

    @property
    def jwks_uri(self) -> str:
        return self.issuer + "/jwks"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    @property
    def jwks_fetches(self) -> int:
        return self.hits["jwks"]

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables pointing an appliance at this fake (SPEC §17 names)."""
        return {
            "SCAIKEY_BASE_URL": self.base_url,
            "SCAIKEY_ISSUER": self.issuer,
            "SCAIFLOW_SCAIKEY_CLIENT_ID": self.client_id,
            "SCAIFLOW_SCAIKEY_CLIENT_SECRET": self.client_secret,
            **extra,
        }

    # -- knobs -------------------------------------------------------------------------
    def fail(self, route: str | None = None, status: int = 500) -> None:
        """Answer `status` on `route` (every route when None) until `clear_faults()`."""
        self.faults.setdefault(route, Fault()).status = status

    def stall(self, seconds: float, route: str | None = None) -> None:
        """Sleep `seconds` before answering `route` (every route when None)."""
        fault = self.faults.setdefault(route, Fault(status=0))
        fault.stall_seconds = seconds

    def redirect(self, route: str, location: str) -> None:
        """Answer `route` with 302 to `location` until `clear_faults()`."""
        self.redirects[route] = location

    def clear_faults(self) -> None:
        self.faults.clear()
        self.redirects.clear()

    @property
    def current_key(self) -> SigningKey:
        return self.key(self.current_kid)

    def key(self, kid: str) -> SigningKey:
        for key in self.keys:
            if key.kid == kid:
                return key
        raise KeyError(kid)

    def add_key(self, alg: str = "RS256") -> SigningKey:
        """Publish one more key without signing with it by default."""
        self._key_counter += 1
        key = new_signing_key(f"key-{self._key_counter}", alg)
        self.keys.append(key)
        return key

    def rotate_keys(self, *, keep_old: bool = True, alg: str | None = None) -> str:
        """A new key (same algorithm as the current one unless `alg`) becomes the signing key;
        the old ones stay published when `keep_old`. Returns the new kid."""
        key = self.add_key(alg or self.current_key.alg)
        if not keep_old:
            self.keys = [key]
        self.current_kid = key.kid
        return key.kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.public_jwk for k in self.keys] + list(self.extra_jwks)}

    # -- directory -----------------------------------------------------------------------
    def add_user(self, user_id: str, tenant_id: str = "tnt_acme", *, email: str | None = None,
                 display_name: str | None = None, status: str = "ACTIVE") -> FakeUser:
        user = FakeUser(user_id, tenant_id, email or f"{user_id}@example.test",
                        display_name or user_id, status)
        self.users[user_id] = user
        return user

    def add_group(self, group_id: str, tenant_id: str = "tnt_acme", *, name: str | None = None,
                  members: list[str] | None = None) -> FakeGroup:
        group = FakeGroup(group_id, tenant_id, name or group_id, members=list(members or []))
        self.groups[group_id] = group
        return group

    # -- tokens --------------------------------------------------------------------------
    def claims(self, ttl: int | None = None, **overrides: Any) -> dict[str, Any]:
        """Default access-token claims; an override of None removes the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": "usr_alice",
            "tenant_id": "tnt_acme",
            "scope": "scaicore:view scaicore:manage",
            "email": "alice@acme.test",
            "name": "Alice",
            "iat": now,
            "nbf": now,
            "exp": now + (self.access_ttl if ttl is None else ttl),
            "jti": secrets.token_hex(8),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, *, kid: str | None = None, alg: str | None = None,
             headers: dict[str, Any] | None = None, ttl: int | None = None,
             **claims: Any) -> str:
        """A real JWT signed by this fake. `kid` picks the signing key; a kid the fake does
        not have is put in the header while the current key signs (for unknown-kid tests).
        `headers` entries override the header (None removes one, e.g. typ=None)."""
        try:
            key = self.key(kid) if kid is not None else self.current_key
        except KeyError:
            key = self.current_key
        header = {"kid": kid if kid is not None else key.kid, **(headers or {})}
        return sign(key, self.claims(ttl, **claims), alg=alg, headers=header)

    def mint_alg_none(self, **claims: Any) -> str:
        return unsigned_token(self.claims(**claims), {"kid": self.current_kid})

    def mint_hs256_with_public_key(self, **claims: Any) -> str:
        return hs256_with_public_key(self.current_key, self.claims(**claims))

    def mint_with_attacker_key(self, headers: dict[str, Any] | None = None,
                               **claims: Any) -> str:
        """Signed by a key ScaiKey never issued, pointing `jku` at the attacker JWKS."""
        header = {"kid": self.attacker_key.kid, "jku": self.url("/attacker/jwks.json"),
                  **(headers or {})}
        return sign(self.attacker_key, self.claims(**claims), headers=header)

    def issue_code(self, *, redirect_uri: str, code_challenge: str | None = None,
                   client_id: str | None = None, ttl: int = 60, **claims: Any) -> str:
        """An authorization code, as if the user had just signed in at ScaiKey."""
        code = "code_" + secrets.token_urlsafe(16)
        self.codes[code] = AuthCode(client_id or self.client_id, redirect_uri,
                                    {k: v for k, v in claims.items() if v is not None},
                                    code_challenge, time.time() + ttl)
        return code

    @staticmethod
    def pkce_pair() -> tuple[str, str]:
        """(code_verifier, S256 code_challenge)."""
        verifier = secrets.token_urlsafe(48)
        return verifier, _s256(verifier)

    # -- server internals ----------------------------------------------------------------
    def _add_routes(self, app: web.Application) -> None:
        issuer_path = self.issuer_path
        app.router.add_get(issuer_path + DISCOVERY_SUFFIX, self._discovery, name="discovery")
        app.router.add_get(PLATFORM_PATH + DISCOVERY_SUFFIX, self._discovery,
                           name="platform_discovery")
        app.router.add_get(issuer_path + "/jwks", self._jwks, name="jwks")
        app.router.add_post(issuer_path + "/token", self._token, name="token")
        app.router.add_get(
            "/api/v1/tenants/{tenant_id}/applications/{application_id}/effective-users",
            self._effective_users, name="effective_users")
        app.router.add_get("/api/v1/admin/groups/", self._groups, name="groups")
        app.router.add_get("/api/v1/admin/groups/{group_id}/members", self._group_members,
                           name="group_members")
        app.router.add_get("/attacker/jwks.json", self._attacker_jwks, name="attacker_jwks")

    @web.middleware
    async def _faults_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        route = request.match_info.route.name
        self.hits[route or "unknown"] += 1
        fault = self.faults.get(route) or self.faults.get(None)
        if fault is not None:
            if fault.stall_seconds:
                await asyncio.sleep(fault.stall_seconds)
            if fault.status:
                headers = {"Retry-After": "1"} if fault.status == 429 else None
                return web.json_response({"detail": "injected failure"}, status=fault.status,
                                         headers=headers)
        location = self.redirects.get(route or "")
        if location is not None:
            return web.Response(status=302, headers={"Location": location})
        response: web.StreamResponse = await handler(request)
        return response

    async def _discovery(self, request: web.Request) -> web.Response:
        if self.discovery_override is not None:
            return self._json_or_raw(self.discovery_override)
        return web.json_response({
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.token_endpoint,
            "jwks_uri": self.jwks_uri,
            "userinfo_endpoint": self.issuer + "/userinfo",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token",
                                      "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keys}),
        })

    async def _jwks(self, request: web.Request) -> web.Response:
        headers = {}
        if self.max_age is not None:
            headers["Cache-Control"] = f"public, max-age={self.max_age}"
        body = self.jwks() if self.jwks_override is None else self.jwks_override
        return self._json_or_raw(body, headers)

    @staticmethod
    def _json_or_raw(body: Any, headers: dict[str, str] | None = None) -> web.Response:
        """bytes and str are sent as they are (labelled JSON), anything else as JSON."""
        if isinstance(body, bytes | str):
            return web.Response(body=body, content_type="application/json", headers=headers)
        return web.json_response(body, headers=headers)

    async def _attacker_jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.attacker_key.public_jwk]})

    # token endpoint
    @staticmethod
    def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
        headers = {"WWW-Authenticate": 'Basic realm="scaikey"'} if status == 401 else None
        return web.json_response({"error": error, "error_description": description},
                                 status=status, headers=headers)

    def _client_from_basic(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            return None
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, sep, secret = decoded.partition(":")
        # RFC 6749 §2.3.1: both halves are form-urlencoded before base64.
        client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        expected = self.clients.get(client_id)
        if not sep or expected is None or not secrets.compare_digest(
                secret.encode(), expected.encode()):
            return None
        return client_id

    def _tokens_for(self, client_id: str, claims: dict[str, Any], *, refresh: bool,
                    id_token: bool) -> dict[str, Any]:
        access = self.mint(**claims)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                "expires_in": self.access_ttl,
                                "scope": claims.get("scope", "")}
        if refresh:
            refresh_token = "rt_" + secrets.token_urlsafe(24)
            self.refresh_tokens[refresh_token] = RefreshGrant(client_id, dict(claims))
            body["refresh_token"] = refresh_token
        if id_token:
            body["id_token"] = self.mint(aud=client_id, scope=None, headers={"typ": "JWT"},
                                         **{k: v for k, v in claims.items()
                                            if k not in ("aud", "scope")})
        return body

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return self._oauth_error("invalid_request", "the body must be form-encoded")
        form = await request.post()
        fields = {k: str(v) for k, v in form.items()}
        client_id = self._client_from_basic(request)
        self.token_requests.append({
            "grant_type": fields.get("grant_type"),
            "client_id": client_id,
            "basic_auth": request.headers.get("Authorization", "").lower().startswith("basic "),
            "form": {k: v for k, v in fields.items() if k != "client_secret"},
        })
        if client_id is None:
            return self._oauth_error("invalid_client", "client authentication failed", 401)
        grant = fields.get("grant_type")
        if grant == "authorization_code":
            return self._authorization_code(client_id, fields)
        if grant == "refresh_token":
            return self._refresh(client_id, fields)
        if grant == "client_credentials":
            return self._client_credentials(client_id, fields)
        return self._oauth_error("unsupported_grant_type",
                                 f"grant_type {grant!r} is not supported")

    def _authorization_code(self, client_id: str, fields: dict[str, str]) -> web.Response:
        code = self.codes.get(fields.get("code", ""))
        if code is None and self.accept_any_grant:
            return web.json_response(self._tokens_for(client_id, {}, refresh=True,
                                                      id_token=True))
        if code is None or code.used or code.expires_at < time.time():
            return self._oauth_error("invalid_grant", "authorization code is invalid or expired")
        if code.client_id != client_id:
            return self._oauth_error("invalid_grant", "code was issued to another client")
        if fields.get("redirect_uri") != code.redirect_uri:
            return self._oauth_error("invalid_grant", "redirect_uri does not match")
        if code.code_challenge is not None:
            verifier = fields.get("code_verifier")
            if not verifier or not secrets.compare_digest(_s256(verifier), code.code_challenge):
                return self._oauth_error("invalid_grant", "PKCE verification failed")
        code.used = True
        return web.json_response(self._tokens_for(client_id, code.claims, refresh=True,
                                                  id_token=True))

    def _refresh(self, client_id: str, fields: dict[str, str]) -> web.Response:
        grant = self.refresh_tokens.get(fields.get("refresh_token", ""))
        if grant is None and self.accept_any_grant:
            return web.json_response(self._tokens_for(client_id, {}, refresh=True,
                                                      id_token=True))
        if grant is None or not grant.active or grant.client_id != client_id:
            return self._oauth_error("invalid_grant", "refresh token is invalid or was used")
        grant.active = False  # rotation: each refresh token works once
        return web.json_response(self._tokens_for(client_id, grant.claims, refresh=True,
                                                  id_token=True))

    def _client_credentials(self, client_id: str, fields: dict[str, str]) -> web.Response:
        allowed = self.client_scopes.get(client_id, frozenset())
        requested = fields.get("scope", "").split()
        if any(s not in allowed for s in requested):
            return self._oauth_error("invalid_scope", "a requested scope is not allowed")
        scope = " ".join(requested) if requested else " ".join(sorted(allowed))
        claims = {"sub": client_id, "tenant_id": None, "email": None, "name": None,
                  "scope": scope, "client_id": client_id}
        return web.json_response(self._tokens_for(client_id, claims, refresh=False,
                                                  id_token=False))

    # admin API
    def _admin_scopes(self, request: web.Request) -> frozenset[str] | web.Response:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return web.json_response({"detail": "Not authenticated"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self.key(kid) if isinstance(kid, str) else None
            if key is None:
                raise jwt.InvalidTokenError("unknown kid")
            claims = jwt.decode(token, key.private_key.public_key(), algorithms=[key.alg],
                                audience=self.audience, issuer=self.issuer)
        except (jwt.PyJWTError, KeyError):
            return web.json_response({"detail": "Invalid token"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        return frozenset(str(claims.get("scope", "")).split())

    @staticmethod
    def _page(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        try:
            page = int(request.query.get("page", "1"))
            per_page = int(request.query.get("per_page", "50"))
        except ValueError:
            return web.json_response({"detail": "page and per_page must be integers"},
                                     status=422)
        if page < 1 or not 1 <= per_page <= 100:
            return web.json_response({"detail": "page >= 1 and 1 <= per_page <= 100"},
                                     status=422)
        start = (page - 1) * per_page
        total = len(items)
        return web.json_response({
            "items": items[start:start + per_page],
            "total": total,
            "page": page,
            "per_page": per_page,
            "pages": (total + per_page - 1) // per_page,
        })

    def _require_admin(self, request: web.Request) -> web.Response | None:
        scopes = self._admin_scopes(request)
        if isinstance(scopes, web.Response):
            return scopes
        if not scopes & {"admin:read", "admin:write"}:
            return web.json_response({"detail": ADMIN_FORBIDDEN}, status=403)
        return None

    async def _effective_users(self, request: web.Request) -> web.Response:
        denied = self._require_admin(request)
        if denied is not None:
            return denied
        if self.effective_users_forbidden:
            return web.json_response({"detail": ADMIN_FORBIDDEN}, status=403)
        tenant_id = request.match_info["tenant_id"]
        users = sorted((u for u in self.users.values() if u.tenant_id == tenant_id),
                       key=lambda u: u.id)
        return self._page(request, [u.as_json() for u in users])

    async def _groups(self, request: web.Request) -> web.Response:
        denied = self._require_admin(request)
        if denied is not None:
            return denied
        tenant_id = request.query.get("tenant_id")
        groups = sorted((g for g in self.groups.values()
                         if tenant_id is None or g.tenant_id == tenant_id), key=lambda g: g.id)
        return self._page(request, [
            {"id": g.id, "tenant_id": g.tenant_id, "name": g.name,
             "description": g.description, "member_count": len(g.members)} for g in groups])

    async def _group_members(self, request: web.Request) -> web.Response:
        denied = self._require_admin(request)
        if denied is not None:
            return denied
        group = self.groups.get(request.match_info["group_id"])
        if group is None:
            return web.json_response({"detail": "Group not found"}, status=404)
        members = [self.users[m].as_json() for m in sorted(group.members) if m in self.users]
        return self._page(request, members)


# -- by hand, or as a process (tests/contract) ---------------------------------------------
def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.scaikey",
        description="A ScaiKey stand-in (SPEC §18.2): discovery, JWKS and the token endpoint.")
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--client-id", default="scaiflow")
    parser.add_argument("--client-secret", default="scaiflow-secret")
    parser.add_argument("--accept-any-grant", action="store_true",
                        help="honour codes and refresh tokens this stand-in never issued")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeScaiKey(client_id=args.client_id, client_secret=args.client_secret)
    fake.accept_any_grant = args.accept_any_grant
    await fake.start(args.port)
    print(f"ScaiKey stand-in listening on {fake.base_url} (issuer {fake.issuer})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await fake.stop()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve(_parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
