"""`/api/v1/tenants/me` [upstream] (SPEC §8): the caller's tenant's ScaiGrid credentials.

The tenant is always the token's. Reads show the key masked; the plaintext key is never
returned, logged or audited.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from scaiflow_box.api.error_codes import (
    CREDENTIALS_UNREADABLE,
    FORBIDDEN,
    INVALID_API_KEY,
    INVALID_BASE_URL,
)
from scaiflow_box.api.examples import scaigrid_credentials_example
from scaiflow_box.http.call import NO_CONTENT, Call, Reply, ok
from scaiflow_box.http.route import RequestModel, Response, Route
from scaiflow_box.keys import CREDENTIALS
from scaiflow_box.services.credentials import MAX_API_KEY_LENGTH, MAX_BASE_URL_LENGTH

TAG = "tenants"
# Printable ASCII without spaces (the key becomes an Authorization header), with surrounding
# whitespace allowed: keys are trimmed.
API_KEY_PATTERN = r"^[ \t\r\n]*[!-~]+[ \t\r\n]*$"


class ScaiGridCredentialsIn(RequestModel):
    api_key: str = Field(min_length=1, max_length=MAX_API_KEY_LENGTH,
                         pattern=API_KEY_PATTERN,
                         description="The tenant's ScaiGrid API key (trimmed; stored "
                                     "encrypted, never shown again)")
    base_url: str | None = Field(
        default=None, max_length=MAX_BASE_URL_LENGTH,
        description="ScaiGrid base URL (http or https with a host, no credentials, query or "
                    "fragment). Omitted or blank: SCAIGRID_BASE_URL applies")


class ScaiGridCredentialStatus(BaseModel):
    configured: bool
    base_url: str | None = Field(description="The base URL ScaiGrid calls use for this "
                                             "tenant (its own, else SCAIGRID_BASE_URL)")
    masked_key: str | None = Field(description="First 4 + `…` + last 4 characters; `…` "
                                               "alone for keys under 16 characters",
                                   examples=["sgk_…1234"])


async def get_scaigrid_credentials(call: Call[None, None]) -> Reply:
    status = await call.app[CREDENTIALS].status(call.principal)
    return ok(ScaiGridCredentialStatus(configured=status.configured,
                                       base_url=status.base_url,
                                       masked_key=status.masked_key),
              headers={"Cache-Control": "no-store"})


async def set_scaigrid_credentials(call: Call[ScaiGridCredentialsIn, None]) -> Reply:
    await call.app[CREDENTIALS].set(call.principal, api_key=call.body.api_key,
                                    base_url=call.body.base_url, request_id=call.request_id)
    return NO_CONTENT


async def delete_scaigrid_credentials(call: Call[None, None]) -> Reply:
    await call.app[CREDENTIALS].delete(call.principal, request_id=call.request_id)
    return NO_CONTENT


PATH = "/api/v1/tenants/me/scaigrid_credentials"
ROUTES = [
    Route("GET", PATH, get_scaigrid_credentials, "This tenant's ScaiGrid credential status",
          TAG, (Response(200, ScaiGridCredentialStatus, "Configured or not; the key masked"),),
          errors=(CREDENTIALS_UNREADABLE,), needs="any member of the tenant"),
    Route("POST", PATH, set_scaigrid_credentials, "Set this tenant's ScaiGrid API key",
          TAG, (Response(204, None, "Stored encrypted"),),
          errors=(INVALID_API_KEY, INVALID_BASE_URL, FORBIDDEN),
          needs="tenant_admin or super_admin", body=ScaiGridCredentialsIn,
          body_example=scaigrid_credentials_example),
    Route("DELETE", PATH, delete_scaigrid_credentials,
          "Remove this tenant's ScaiGrid credentials", TAG,
          (Response(204, None, "Removed (also when none were set)"),), errors=(FORBIDDEN,),
          needs="tenant_admin or super_admin"),
]
