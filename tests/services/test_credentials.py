"""The ScaiGrid credential order (SPEC §7.1) as the deploy and lookup services will call it:
every setting of SCAIFLOW_DEPLOY_AUTH, by (a caller with a real ScaiKey JWT / one with a service
token), by (a tenant key / only SCAIGRID_API_KEY / none), on a real appliance pointed at the fake
ScaiKey, with the tenant key set through the API."""

from __future__ import annotations

from typing import Any

import pytest

from scaiflow_box.auth.principal import Principal
from scaiflow_box.errors import NotConfigured, PreconditionFailed
from scaiflow_box.keys import CREDENTIALS, IDENTITY, JWKS
from scaiflow_box.services.credentials import MISSING_FIX, PINNED_FIX
from scaiflow_box.upstream.scaigrid import ScaiGridAuth
from tests.conftest import AppFactory, Appliance
from tests.fakes.scaikey import FakeScaiKey

TENANT = "tnt_acme"
TENANT_KEY = "sgk_tenant_key_0123456789"
ENV_KEY = "sgk_env_dev_key_9876543210"
TENANT_URL = "https://grid.tenant.example"
ENV_URL = "https://grid.env.example"
PATH = "/api/v1/tenants/me/scaigrid_credentials"

JWT, TENANT_KEYED, ENV_KEYED, MISSING = "user_jwt", "tenant_key", "env_key", "412"
# (SCAIFLOW_DEPLOY_AUTH, caller, keys) -> the source used, or 412
ORDER: list[tuple[str | None, str, str, str]] = [
    (None, "scaikey", "tenant", JWT),
    (None, "scaikey", "env", JWT),
    (None, "scaikey", "none", JWT),
    (None, "service", "tenant", TENANT_KEYED),
    (None, "service", "env", ENV_KEYED),
    (None, "service", "none", MISSING),
    ("user_jwt", "scaikey", "tenant", JWT),
    ("user_jwt", "scaikey", "env", JWT),
    ("user_jwt", "scaikey", "none", JWT),
    ("user_jwt", "service", "tenant", MISSING),
    ("user_jwt", "service", "env", MISSING),
    ("user_jwt", "service", "none", MISSING),
    ("api_key", "scaikey", "tenant", TENANT_KEYED),
    ("api_key", "scaikey", "env", ENV_KEYED),
    ("api_key", "scaikey", "none", MISSING),
    ("api_key", "service", "tenant", TENANT_KEYED),
    ("api_key", "service", "env", ENV_KEYED),
    ("api_key", "service", "none", MISSING),
]


async def appliance_for(make_appliance: AppFactory, fake: FakeScaiKey, mode: str | None,
                        keys: str) -> Appliance:
    env = fake.env(SCAIGRID_BASE_URL=ENV_URL, SCAIFLOW_UPSTREAM_ALLOW="grid.tenant.example")
    if mode is not None:
        env["SCAIFLOW_DEPLOY_AUTH"] = mode
    if keys in ("tenant", "env"):  # with a tenant key, the env key must lose
        env["SCAIGRID_API_KEY"] = ENV_KEY
    app = await make_appliance(**env)
    await app.client.app[JWKS].wait_first_fetch()
    if keys == "tenant":
        admin = await app.headers("usr_admin", TENANT, role="tenant_admin")
        resp = await app.client.post(PATH, headers=admin,
                                     json={"api_key": TENANT_KEY, "base_url": TENANT_URL})
        assert resp.status == 204
    return app


async def caller(app: Appliance, fake: FakeScaiKey, kind: str) -> tuple[Principal, str]:
    """A principal resolved from a real token exactly as a request's would be."""
    if kind == "scaikey":
        token = fake.mint(sub="usr_bob", tenant_id=TENANT)
    else:
        token = await app.token("ci-bot", TENANT)
    principal = await app.client.app[IDENTITY].authenticate(token)
    assert principal.token_source == kind
    return principal, token


@pytest.mark.parametrize(("mode", "kind", "keys", "expected"), ORDER,
                         ids=[f"{m or 'unset'}-{k}-{s}" for m, k, s, _ in ORDER])
async def test_the_credential_order(make_appliance: AppFactory, scaikey_server: FakeScaiKey,
                                    mode: str | None, kind: str, keys: str,
                                    expected: str) -> None:
    app = await appliance_for(make_appliance, scaikey_server, mode, keys)
    principal, token = await caller(app, scaikey_server, kind)
    credentials = app.client.app[CREDENTIALS]
    for missing in ("missing_scaigrid_credentials", "missing_credentials"):
        if expected == MISSING:
            with pytest.raises(PreconditionFailed) as caught:
                await credentials.scaigrid_auth(principal, missing=missing)  # type: ignore[arg-type]
            error = caught.value
            assert error.code == missing
            assert error.fix == (PINNED_FIX if mode == "user_jwt" else MISSING_FIX)
            assert TENANT in error.message
            continue
        auth = await credentials.scaigrid_auth(principal, missing=missing)  # type: ignore[arg-type]
        bearer = {JWT: token, TENANT_KEYED: TENANT_KEY, ENV_KEYED: ENV_KEY}[expected]
        base_url = TENANT_URL if keys == "tenant" else ENV_URL
        assert auth == ScaiGridAuth(base_url=base_url, bearer=bearer, source=expected)  # type: ignore[arg-type]
        assert bearer not in repr(auth)


def test_the_missing_fix_is_the_contracts() -> None:
    assert MISSING_FIX == ("Sign in with ScaiKey, or set this tenant's API key via "
                           "POST /v1/tenants/me/scaigrid_credentials.")


async def test_no_base_url_anywhere_is_503_scaigrid_not_configured(
        make_appliance: AppFactory) -> None:
    # no SCAIGRID_BASE_URL; the operator allows the tenant's own ScaiGrid
    app = await make_appliance(SCAIFLOW_UPSTREAM_ALLOW="grid.tenant.example:443")
    admin = await app.headers("usr_admin", role="tenant_admin")
    resp = await app.client.post(PATH, headers=admin, json={"api_key": TENANT_KEY})
    assert resp.status == 204
    assert (await (await app.client.get(PATH, headers=admin)).json())["base_url"] is None
    principal = await app.client.app[IDENTITY].authenticate(admin["Authorization"][7:])
    with pytest.raises(NotConfigured) as caught:
        await app.client.app[CREDENTIALS].scaigrid_auth(principal,
                                                        missing="missing_credentials")
    assert caught.value.code == "scaigrid_not_configured"
    # The tenant's own base URL is enough.
    resp = await app.client.post(PATH, headers=admin,
                                 json={"api_key": TENANT_KEY, "base_url": TENANT_URL})
    assert resp.status == 204
    auth = await app.client.app[CREDENTIALS].scaigrid_auth(principal,
                                                           missing="missing_credentials")
    assert (auth.base_url, auth.source) == (TENANT_URL, "tenant_key")


async def test_a_stored_key_that_does_not_decrypt_is_a_503_not_a_fallback(
        make_appliance: AppFactory) -> None:
    """A damaged tenant key must not silently fall through to SCAIGRID_API_KEY."""

    app = await make_appliance(SCAIGRID_BASE_URL=ENV_URL, SCAIGRID_API_KEY=ENV_KEY)
    admin = await app.headers("usr_admin", role="tenant_admin")
    assert (await app.client.post(PATH, headers=admin, json={"api_key": TENANT_KEY})).status == 204
    app.execute("UPDATE tenant_secrets SET value = substr(value, 1, length(value) - 8)"
                " || 'AAAAAAA='")
    principal = await app.client.app[IDENTITY].authenticate(admin["Authorization"][7:])
    with pytest.raises(NotConfigured) as caught:
        await app.client.app[CREDENTIALS].scaigrid_auth(principal,
                                                        missing="missing_credentials")
    error: Any = caught.value
    assert error.code == "credentials_unreadable" and TENANT_KEY not in error.message
