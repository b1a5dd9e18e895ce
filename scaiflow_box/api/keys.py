"""`POST /api/v1/admin/keys/rotate` [box]: master key rotation from the API (the TUI offers
it), the same as `scaiflow-box keys rotate [--reencrypt]` (SPEC §19.2, §20)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from scaiflow_box.api.error_codes import (
    FORBIDDEN,
    ROTATION_NOT_POSSIBLE,
)
from scaiflow_box.api.examples import key_rotation_example
from scaiflow_box.http.call import Call, Reply, ok
from scaiflow_box.http.route import RequestModel, Response, Route
from scaiflow_box.keys import KEY_ROTATION

TAG = "admin"


class KeyRotationRequest(RequestModel):
    reencrypt: bool = Field(default=False, strict=True,
                            description="Also replace every tenant's data key and re-encrypt "
                                        "every secret")


class KeyRotationResult(BaseModel):
    kek_id: str = Field(description="Id of the new master key (a hash; not the key)")
    data_keys: int = Field(description="Data keys now wrapped by the new master key")
    issuer_keys: int = Field(description="Issuer signing keys now wrapped by it")
    secrets_reencrypted: int = Field(description="Secrets re-encrypted (0 without reencrypt)")


async def rotate_master_key(call: Call[KeyRotationRequest, None]) -> Reply:
    report = await call.app[KEY_ROTATION].rotate(call.principal, reencrypt=call.body.reencrypt,
                                                 request_id=call.request_id)
    return ok(KeyRotationResult(kek_id=report.kek_id, data_keys=report.data_keys,
                                issuer_keys=report.issuer_keys,
                                secrets_reencrypted=report.secrets_reencrypted))


ROUTES = [
    Route("POST", "/api/v1/admin/keys/rotate", rotate_master_key,
          "Rotate the master key (re-wrap every data key)", TAG,
          (Response(200, KeyRotationResult, "Rotated; back up the new master.key now"),),
          errors=(FORBIDDEN, ROTATION_NOT_POSSIBLE), needs="super_admin",
          description="A new master key wraps every data key and the issuer keys, in one "
                      "transaction; `master.key` is replaced crash-safely. 409 "
                      "`rotation_not_possible` when the key comes from SCAIFLOW_MASTER_KEY "
                      "(use `scaiflow-box keys rotate`).",
          body=KeyRotationRequest, body_example=key_rotation_example),
]
