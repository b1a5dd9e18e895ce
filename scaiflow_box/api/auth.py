"""Auth router [upstream] (SPEC §11): public config, browser sign-in through the appliance
(`/auth/exchange`, `/auth/refresh`: the client secret never leaves the box), the local
issuer's JWKS, and `GET /me`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scaiflow_box.api.error_codes import (
    OAUTH_ERRORS,
    REDIRECT_URI_MISMATCH,
    SCAIKEY_ERROR,
    SCAIKEY_NOT_CONFIGURED,
    SCAIKEY_REFUSED,
    SCAIKEY_UNREACHABLE,
)
from scaiflow_box.api.examples import code_exchange_example, token_refresh_example
from scaiflow_box.http.call import Call, Reply, ok
from scaiflow_box.http.route import Header, RequestModel, Response, Route
from scaiflow_box.keys import IDENTITY, ISSUER, SETTINGS, SIGN_IN
from scaiflow_box.services.sign_in import SignInTokens

TAG = "auth"
# RFC 6749 Appendix A: codes and refresh tokens are VSCHAR (printable ASCII); RFC 7636 §4.1:
# a PKCE verifier is 43-128 unreserved characters. Redirect URIs are absolute http(s) URIs,
# ASCII without spaces; they are compared as strings, never normalised.
VSCHAR_PATTERN = r"^[ -~]+$"
CODE_VERIFIER_PATTERN = r"^[A-Za-z0-9._~-]{43,128}$"
REDIRECT_URI_PATTERN = r"^https?://[!-~]+$"
MAX_CODE_LENGTH = 4096
MAX_REFRESH_TOKEN_LENGTH = 8192
MAX_REDIRECT_URI_LENGTH = 2048
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


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


class CodeExchange(RequestModel):
    code: str = Field(min_length=1, max_length=MAX_CODE_LENGTH, pattern=VSCHAR_PATTERN,
                      description="The authorization code ScaiKey sent to the redirect URI")
    code_verifier: str = Field(min_length=43, max_length=128, pattern=CODE_VERIFIER_PATTERN,
                               description="The PKCE verifier whose S256 challenge the "
                                           "authorization request carried (RFC 7636)",
                               examples=["dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"])
    redirect_uri: str = Field(min_length=8, max_length=MAX_REDIRECT_URI_LENGTH,
                              pattern=REDIRECT_URI_PATTERN,
                              description="The redirect URI of the authorization request; "
                                          "when the appliance has one configured "
                                          "(`redirect_uri` of /auth/config) it must be that one",
                              examples=["http://localhost:5173/auth/callback"])


class TokenRefresh(RequestModel):
    refresh_token: str = Field(min_length=1, max_length=MAX_REFRESH_TOKEN_LENGTH,
                               pattern=VSCHAR_PATTERN,
                               description="The latest refresh token (ScaiKey rotates them: "
                                           "each works once)")


class TokenSet(BaseModel):
    """ScaiKey's tokens, as the canvas gets them."""

    access_token: str = Field(description="A ScaiKey access token (JWT); the appliance "
                                          "accepts it as a bearer token")
    refresh_token: str | None = Field(description="The refresh token to use next time "
                                                  "(replaces the one sent); null when "
                                                  "ScaiKey issued none")
    id_token: str | None = Field(description="The OpenID Connect ID token; null when ScaiKey "
                                             "issued none")
    token_type: Literal["Bearer"]
    expires_in: int | None = Field(description="Seconds the access token is valid; null when "
                                               "ScaiKey did not say")


def _token_set(tokens: SignInTokens) -> TokenSet:
    return TokenSet(access_token=tokens.access_token, refresh_token=tokens.refresh_token,
                    id_token=tokens.id_token, token_type="Bearer",
                    expires_in=tokens.expires_in)


async def auth_config(call: Call[None, None]) -> Reply:
    settings = call.app[SETTINGS]
    sign_in = call.app[SIGN_IN]
    return ok(AuthConfig(
        auth_mode="scaikey" if sign_in.configured else "dev_token",
        scaikey_base_url=settings.scaikey_base_url, client_id=settings.scaikey_client_id,
        audience=settings.expected_audience, redirect_uri=sign_in.redirect_uri))


async def exchange_code(call: Call[CodeExchange, None]) -> Reply:
    tokens = await call.app[SIGN_IN].exchange(code=call.body.code,
                                              code_verifier=call.body.code_verifier,
                                              redirect_uri=call.body.redirect_uri)
    return ok(_token_set(tokens), headers=NO_STORE)


async def refresh_tokens(call: Call[TokenRefresh, None]) -> Reply:
    tokens = await call.app[SIGN_IN].refresh(refresh_token=call.body.refresh_token)
    return ok(_token_set(tokens), headers=NO_STORE)


async def local_jwks(call: Call[None, None]) -> Reply:
    document: dict[str, Any] = call.app[ISSUER].public_jwks()
    return ok(PublicJwks.model_validate(document),
              headers={"Cache-Control": "public, max-age=300"})


async def me(call: Call[None, None]) -> Reply:
    return ok(Me.model_validate(await call.app[IDENTITY].describe(call.principal)))


_NO_STORE_HEADERS = (
    Header("Cache-Control", "`no-store`: tokens are never cached", required=True),
    Header("Pragma", "`no-cache` (RFC 6749 §5.1)", required=True),
)
# 400: ScaiKey's OAuth error (with its `error_description`; exchange: `redirect_uri_mismatch`);
# 502: `scaikey_unreachable` (connection, timeout) or `scaikey_error` (a 5xx or an answer
# that is not a token response, with its `status`); 503: SCAIKEY_BASE_URL,
# SCAIFLOW_SCAIKEY_CLIENT_ID and SCAIFLOW_SCAIKEY_CLIENT_SECRET are not all set.
_SIGN_IN_ERRORS = (*OAUTH_ERRORS, SCAIKEY_REFUSED, SCAIKEY_UNREACHABLE, SCAIKEY_ERROR,
                   SCAIKEY_NOT_CONFIGURED)

ROUTES = [
    Route("GET", "/api/v1/auth/config", auth_config, "How the canvas should sign in", TAG,
          (Response(200, AuthConfig, "Never the client secret"),), auth="public"),
    Route("POST", "/api/v1/auth/exchange", exchange_code,
          "Redeem a ScaiKey authorization code for tokens", TAG,
          (Response(200, TokenSet, "ScaiKey's tokens", headers=_NO_STORE_HEADERS),),
          errors=(REDIRECT_URI_MISMATCH, *_SIGN_IN_ERRORS), auth="public", body=CodeExchange,
          body_example=code_exchange_example,
          description="The canvas ran the authorization-code flow with PKCE at ScaiKey; the "
                      "appliance adds the ScaiFlow client's secret (which never leaves it) "
                      "and calls ScaiKey's token endpoint."),
    Route("POST", "/api/v1/auth/refresh", refresh_tokens, "Refresh ScaiKey tokens", TAG,
          (Response(200, TokenSet, "Fresh tokens and the refresh token to use next",
                    headers=_NO_STORE_HEADERS),),
          errors=_SIGN_IN_ERRORS, auth="public", body=TokenRefresh,
          body_example=token_refresh_example,
          description="ScaiKey rotates refresh tokens: the answer's `refresh_token` replaces "
                      "the one sent, which ScaiKey then refuses."),
    Route("GET", "/api/v1/auth/jwks", local_jwks, "The appliance issuer's public keys", TAG,
          (Response(200, PublicJwks, "Verify service tokens offline with these"),),
          auth="public"),
    Route("GET", "/api/v1/me", me, "Who the caller is", TAG,
          (Response(200, Me, "The caller, as the appliance sees them"),)),
]
