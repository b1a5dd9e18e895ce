"""Auth router [upstream]: public config and the local issuer's JWKS, and `GET /me`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from scaiflow_box.http.call import Call, Reply, ok
from scaiflow_box.http.route import Response, Route
from scaiflow_box.keys import IDENTITY, ISSUER, SETTINGS

TAG = "auth"


class AuthConfig(BaseModel):
    auth_mode: Literal["scaikey", "dev_token"]
    scaikey_base_url: str | None
    client_id: str | None
    audience: str | None
    redirect_uri: str | None


class PublicJwk(BaseModel):
    model_config = ConfigDict(extra="allow")
    kty: str
    kid: str
    alg: str
    use: str | None = None


class PublicJwks(BaseModel):
    keys: list[PublicJwk]


class GroupRef(BaseModel):
    id: str
    name: str


class Me(BaseModel):
    sub: str
    tenant_id: str
    email: str | None
    display_name: str | None
    permissions: list[str]
    admin_role: Literal["tenant_admin", "super_admin"] | None
    admin_role_source: Literal["manual", "group", "bootstrap"] | None
    groups: list[GroupRef]
    token_source: Literal["scaikey", "service"]


async def auth_config(call: Call[None, None]) -> Reply:
    settings = call.app[SETTINGS]
    scaikey = bool(settings.scaikey_base_url and settings.scaikey_client_id)
    return ok(AuthConfig(
        auth_mode="scaikey" if scaikey else "dev_token",
        scaikey_base_url=settings.scaikey_base_url, client_id=settings.scaikey_client_id,
        audience=settings.expected_audience, redirect_uri=None))


async def local_jwks(call: Call[None, None]) -> Reply:
    document: dict[str, Any] = call.app[ISSUER].public_jwks()
    return ok(PublicJwks.model_validate(document),
              headers={"Cache-Control": "public, max-age=300"})


async def me(call: Call[None, None]) -> Reply:
    return ok(Me.model_validate(call.app[IDENTITY].describe(call.principal)))


ROUTES = [
    Route("GET", "/api/v1/auth/config", auth_config, "How the canvas should sign in", TAG,
          (Response(200, AuthConfig, "Never the client secret"),), auth="public"),
    Route("GET", "/api/v1/auth/jwks", local_jwks, "The appliance issuer's public keys", TAG,
          (Response(200, PublicJwks, "Verify service tokens offline with these"),),
          auth="public"),
    Route("GET", "/api/v1/me", me, "Who the caller is", TAG,
          (Response(200, Me, "The caller, as the appliance sees them"),)),
]
