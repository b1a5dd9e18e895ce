"""Browser sign-in through the appliance (SPEC §11): the canvas sends the authorization code
(or a refresh token) it got from ScaiKey, and the appliance redeems it at ScaiKey's token
endpoint with the ScaiFlow client's secret, which never leaves the box.

The canvas runs the authorization-code flow with PKCE against ScaiKey itself; the appliance
only adds the client authentication. So ScaiKey needs no way into the box for sign-in: every
call goes from the appliance to ScaiKey.

Rules (docs/api.md, "Sign-in"):
- not configured (`SCAIKEY_BASE_URL`, `SCAIFLOW_SCAIKEY_CLIENT_ID`,
  `SCAIFLOW_SCAIKEY_CLIENT_SECRET` not all set): `NotConfigured` naming what is missing;
- `SCAIFLOW_SCAIKEY_REDIRECT_URI` set: an exchange must name exactly that URI, else
  `InvalidInput` `redirect_uri_mismatch` before ScaiKey is asked;
- ScaiKey refuses with an OAuth error: `InvalidInput` whose code is ScaiKey's `error`, with its
  `error_description`;
- ScaiKey unreachable, answering 5xx or something that is not a token response:
  `UpstreamFailed` (`scaikey_unreachable`, `scaikey_error`), and the cached discovery document
  is dropped so the next request finds a moved endpoint;
- a refresh answered without a new refresh token (ScaiKey chose not to rotate) hands back the
  one the caller sent, which then stays valid (RFC 6749 §6).

Never logged: tokens, codes, verifiers, the client secret. Logged: which grant, ScaiKey's
error code, the failure reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from scaiflow_box.config import Settings
from scaiflow_box.errors import InvalidInput, NotConfigured, UpstreamFailed
from scaiflow_box.upstream.client import (
    DestinationNotAllowed,
    UpstreamError,
    UpstreamUnreachable,
)
from scaiflow_box.upstream.scaikey import ScaiKeyClient, TokenRejected, TokenResponse
from scaiflow_box.upstream.scaikey_discovery import DiscoveryCache

__all__ = ["OAUTH_ERROR_CODES", "SignInService", "SignInTokens"]

log = logging.getLogger(__name__)

REQUIRED_SETTINGS = ("SCAIKEY_BASE_URL", "SCAIFLOW_SCAIKEY_CLIENT_ID",
                     "SCAIFLOW_SCAIKEY_CLIENT_SECRET")
# The token endpoint's error codes (RFC 6749 §5.2), passed on as they are; any other code
# ScaiKey sends is answered `scaikey_refused` with ScaiKey's code in `oauth_error`, so the
# codes a client can see are a closed set (the API document lists each).
OAUTH_ERROR_CODES = ("invalid_request", "invalid_client", "invalid_grant",
                     "unauthorized_client", "unsupported_grant_type", "invalid_scope")
INVALID_CLIENT_FIX = ("The appliance's SCAIFLOW_SCAIKEY_CLIENT_ID / "
                      "SCAIFLOW_SCAIKEY_CLIENT_SECRET do not match the ScaiFlow client in "
                      "ScaiKey: an operator must correct them.")


@dataclass(frozen=True)
class SignInTokens:
    """What the canvas gets back (SPEC §11's shape). `repr` shows no token."""

    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_in: int | None
    token_type: str = "Bearer"

    def __repr__(self) -> str:
        return f"SignInTokens(token_type={self.token_type!r}, expires_in={self.expires_in!r})"


def _tokens(answer: TokenResponse, *, refresh_token: str | None = None) -> SignInTokens:
    return SignInTokens(access_token=answer.access_token,
                        refresh_token=answer.refresh_token or refresh_token,
                        id_token=answer.id_token, expires_in=answer.expires_in)


class SignInService:
    def __init__(self, settings: Settings, scaikey: ScaiKeyClient,
                 discovery: DiscoveryCache) -> None:
        self._settings = settings
        self._scaikey = scaikey
        self._discovery = discovery

    # -- configuration -------------------------------------------------------------------
    @property
    def missing_settings(self) -> tuple[str, ...]:
        """The settings sign-in lacks; empty when it can work."""
        s = self._settings
        values = (s.scaikey_base_url, s.scaikey_client_id, s.scaikey_client_secret)
        return tuple(name for name, value in zip(REQUIRED_SETTINGS, values, strict=True)
                     if not value)

    @property
    def configured(self) -> bool:
        return not self.missing_settings and self._discovery.url is not None

    @property
    def redirect_uri(self) -> str | None:
        """The canvas's redirect URI (`SCAIFLOW_SCAIKEY_REDIRECT_URI`), None when not set."""
        return self._settings.scaikey_redirect_uri

    def _credentials(self) -> tuple[str, str]:
        missing = self.missing_settings
        client_id, secret = self._settings.scaikey_client_id, self._settings.scaikey_client_secret
        if missing or client_id is None or secret is None or self._discovery.url is None:
            raise NotConfigured(
                "sign-in through the appliance is not configured (missing: "
                f"{', '.join(missing or REQUIRED_SETTINGS)})",
                code="scaikey_not_configured",
                fix="Set SCAIKEY_BASE_URL, SCAIFLOW_SCAIKEY_CLIENT_ID and "
                    "SCAIFLOW_SCAIKEY_CLIENT_SECRET and restart the appliance "
                    "(docs/operations.md, \"Signing in with ScaiKey\").")
        return client_id, secret

    # -- the two grants ------------------------------------------------------------------
    async def exchange(self, *, code: str, code_verifier: str,
                       redirect_uri: str) -> SignInTokens:
        """Redeem an authorization code (PKCE) for tokens."""
        client_id, secret = self._credentials()
        expected = self.redirect_uri
        if expected is not None and redirect_uri != expected:
            raise InvalidInput(
                "redirect_uri is not this appliance's sign-in redirect URI",
                code="redirect_uri_mismatch",
                fix="Send the redirect_uri that GET /api/v1/auth/config reports (the one the "
                    "authorization request used).")
        try:
            discovery = await self._discovery.get()
            answer = await self._scaikey.exchange_code(
                discovery, client_id=client_id, client_secret=secret, code=code,
                code_verifier=code_verifier, redirect_uri=redirect_uri)
        except TokenRejected as exc:
            raise self._rejected("authorization_code", exc) from None
        except UpstreamError as exc:
            raise self._failed("authorization_code", exc) from None
        log.info("sign-in: authorization code exchanged at ScaiKey")
        return _tokens(answer)

    async def refresh(self, *, refresh_token: str) -> SignInTokens:
        """Trade a refresh token for fresh tokens (and, as ScaiKey rotates, a new refresh
        token)."""
        client_id, secret = self._credentials()
        try:
            discovery = await self._discovery.get()
            answer = await self._scaikey.refresh(
                discovery, client_id=client_id, client_secret=secret,
                refresh_token=refresh_token)
        except TokenRejected as exc:
            raise self._rejected("refresh_token", exc) from None
        except UpstreamError as exc:
            raise self._failed("refresh_token", exc) from None
        log.info("sign-in: tokens refreshed at ScaiKey")
        return _tokens(answer, refresh_token=refresh_token)

    # -- errors --------------------------------------------------------------------------
    @staticmethod
    def _rejected(grant: str, exc: TokenRejected) -> InvalidInput:
        if exc.error == "invalid_client":
            log.warning("sign-in: ScaiKey refused the appliance's client authentication "
                        "(invalid_client): check SCAIFLOW_SCAIKEY_CLIENT_ID and "
                        "SCAIFLOW_SCAIKEY_CLIENT_SECRET")
            fix: str | None = INVALID_CLIENT_FIX
        elif exc.error == "invalid_grant":
            log.info("sign-in: ScaiKey refused the %s grant (invalid_grant)", grant)
            fix = ("Start the sign-in again at ScaiKey." if grant == "authorization_code"
                   else "Sign in again: the refresh token is no longer valid.")
        else:
            log.info("sign-in: ScaiKey refused the %s grant (%s)", grant, exc.error)
            fix = None
        what = "authorization code" if grant == "authorization_code" else "refresh token"
        rejected = InvalidInput(f"ScaiKey refused the {what}: {exc.description or exc.error}",
                                code=exc.error, fix=fix, error_description=exc.description)
        if exc.error not in OAUTH_ERROR_CODES:
            rejected.code = "scaikey_refused"
            rejected.extra["oauth_error"] = exc.error
        return rejected

    def _failed(self, grant: str, exc: UpstreamError) -> UpstreamFailed:
        # Whatever failed, the next request fetches the discovery document again: the token
        # endpoint may have moved, or this one was never right.
        self._discovery.invalidate()
        log.warning("sign-in: the %s grant failed at ScaiKey (%s)", grant, exc.reason)
        if isinstance(exc, UpstreamUnreachable | DestinationNotAllowed):
            return UpstreamFailed(f"ScaiKey could not be reached ({exc.reason})",
                                  code="scaikey_unreachable",
                                  fix="Check SCAIKEY_BASE_URL (and SCAIKEY_ISSUER) and that "
                                      "ScaiKey is up.")
        error = UpstreamFailed(f"ScaiKey answered an error ({exc.reason})", code="scaikey_error")
        status = getattr(exc, "status", None)  # ScaiKeyError, UpstreamBadAnswer
        if isinstance(status, int):
            error.extra["status"] = status
        return error
