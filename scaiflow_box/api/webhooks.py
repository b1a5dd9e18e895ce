"""`POST /api/v1/webhooks/scaikey` (SPEC §13): ScaiKey's directory events, authenticated by
HMAC over the raw body (the route reads its body as bytes: `Route.raw_body`)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from scaiflow_box.api.error_codes import (
    INVALID_EVENT,
    INVALID_SIGNATURE,
    WEBHOOKS_NOT_CONFIGURED,
)
from scaiflow_box.http.call import Call, RawJson, Reply, ok
from scaiflow_box.http.parsing import RawBody
from scaiflow_box.http.route import Header, Response, Route
from scaiflow_box.keys import WEBHOOKS
from scaiflow_box.services.webhooks import HANDLED_TYPES

TAG = "webhooks"
SIGNATURE = Header(
    "X-ScaiKey-Signature",
    "`t=<unix seconds>,v1=<hex>`: lowercase hex HMAC-SHA256 of `<t>.<raw body>` under "
    "SCAIFLOW_SCAIKEY_WEBHOOK_SECRET. Required: without it (or with a wrong one) the answer "
    "is 400 `invalid_signature`.")
TIMESTAMP = Header(
    "X-ScaiKey-Timestamp",
    "Unix seconds; must equal the signature's `t` when both are sent, and be within 300 s of "
    "the server's clock.")
Text = str | int | float | None


class WebhookEnvelope(BaseModel):
    """A ScaiKey event, in either spelling: `{type, id, created_at, data}` or `{event_type,
    event_id, timestamp, resource, actor, data, tenant_id}`. Fields ScaiKey may add are kept
    (this body is ScaiKey's, not a client's: unknown fields are not refused)."""

    model_config = ConfigDict(extra="allow", strict=True, title="WebhookEnvelope")
    type: str | None = Field(default=None, max_length=200,
                             description="Event type, e.g. `user.deleted`")
    id: str | None = Field(default=None, max_length=200,
                           description="Event id (duplicates within 24 h are not applied)")
    created_at: Text = None
    event_type: str | None = Field(default=None, max_length=200, description="= `type`")
    event_id: str | None = Field(default=None, max_length=200, description="= `id`")
    timestamp: Text = None
    resource: Any = None
    actor: Any = None
    tenant_id: str | None = Field(default=None, max_length=200,
                                  description="Else `data.tenant_id`")
    data: dict[str, Any] | None = Field(
        default=None, description="The object: user (`user_id` or `id`, `email`, "
                                  "`display_name`, `status`), group (`group_id` or `id`, "
                                  "`name`) or membership (`group_id`, `user_id`)")


class WebhookAck(BaseModel):
    # The service writes this answer itself (`duplicate` only when true): documented as what
    # may be present, like a request, not as what a serializer always writes.
    model_config = ConfigDict(title="WebhookAck", json_schema_mode_override="validation")
    handled: bool = Field(description="False for event types the appliance does not handle")
    duplicate: bool | None = Field(
        default=None, description="Present (true) when this event id was already processed")


def example_event() -> dict[str, Any]:
    return {"type": "group.created", "id": "evt_example_group", "tenant_id": "tnt_example",
            "created_at": "2026-04-29T12:34:56.123Z",
            "data": {"id": "grp_example", "name": "Example group"}}


async def receive_scaikey_webhook(call: Call[RawBody[WebhookEnvelope], None]) -> Reply:
    receiver = call.app[WEBHOOKS]
    # Without a secret the answer is 503 whatever is sent: the headers are not even read
    # (a header that is not UTF-8 would otherwise be a 400 first).
    signature = call.header(SIGNATURE.name) if receiver.configured else None
    timestamp = call.header(TIMESTAMP.name) if receiver.configured else None
    fallback_id = receiver.verify(call.body.data, signature, timestamp)
    envelope = call.body.parse()
    ack = await receiver.receive(envelope.model_dump(), fallback_id=fallback_id,
                                 request_id=call.request_id)
    return ok(RawJson(orjson.dumps(ack), WebhookAck))


ROUTES = [
    Route("POST", "/api/v1/webhooks/scaikey", receive_scaikey_webhook,
          "Receive a ScaiKey directory event (HMAC-signed)", TAG,
          (Response(200, WebhookAck, "Applied (`handled`), ignored (unknown type) or a "
                                     "duplicate"),),
          errors=(INVALID_SIGNATURE, INVALID_EVENT, WEBHOOKS_NOT_CONFIGURED), auth="public",
          body=WebhookEnvelope, raw_body=True,
          body_example=example_event, headers=(SIGNATURE, TIMESTAMP),
          needs="a valid X-ScaiKey-Signature",
          description="Handled types: " + ", ".join(f"`{t}`" for t in sorted(HANDLED_TYPES))
          + ". Every other type is answered `{\"handled\": false}`. 400 `invalid_signature` "
            "for a missing, malformed, stale (over 300 s) or wrong signature; 400 "
            "`invalid_event` for a handled type whose data names no user, group or tenant; "
            "503 `webhooks_not_configured` while SCAIFLOW_SCAIKEY_WEBHOOK_SECRET is unset."),
]
