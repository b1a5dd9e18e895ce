"""Read-only ScaiGrid lookups for the canvas (SPEC §9) and the ScaiCore proxy (SPEC §10).

The browser never sees tenant keys: every call resolves the caller's ScaiGrid credentials
(SPEC §7.1 order; 412 `missing_credentials` when there are none) and maps ScaiGrid's failures
in one place (services/scaigrid_errors.py). Reads need `scaicore:view`; resolving a
checkpoint and invoking a core need `scaicore:manage` and leave an audit row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from scaiflow_box.auth.principal import Principal
from scaiflow_box.services.credentials import CredentialService
from scaiflow_box.services.event_stream import EventHub, Position, Subscription
from scaiflow_box.services.scaigrid_errors import lookup_error
from scaiflow_box.store import audit
from scaiflow_box.store.database import Database
from scaiflow_box.store.read_cache import NOTHING_CACHED
from scaiflow_box.upstream.scaigrid import ScaiGridAuth, ScaiGridClient, ScaiGridError

T = TypeVar("T")
CHECKPOINT_STATUSES = ("pending", "resolved", "failed")


class LookupService:
    def __init__(self, db: Database, credentials: CredentialService,
                 scaigrid: ScaiGridClient, hub: EventHub) -> None:
        self.db = db
        self.credentials = credentials
        self.scaigrid = scaigrid
        self.hub = hub

    async def auth_for(self, principal: Principal) -> ScaiGridAuth:
        return await self.credentials.scaigrid_auth(principal, missing="missing_credentials")

    async def _call(self, principal: Principal, *, manage: bool,
                    fn: Callable[[ScaiGridAuth], Awaitable[T]]) -> T:
        if manage:
            principal.require_manage()
        else:
            principal.require_view()
        auth = await self.auth_for(principal)
        try:
            return await fn(auth)
        except ScaiGridError as exc:
            raise lookup_error(exc) from None

    # -- SPEC §9 -------------------------------------------------------------------------
    async def scopes(self, principal: Principal) -> list[dict[str, Any]]:
        return await self._call(principal, manage=False, fn=self.scaigrid.list_scopes)

    async def queues(self, principal: Principal, scope_id: str) -> list[dict[str, Any]]:
        return await self._call(principal, manage=False,
                                fn=lambda auth: self.scaigrid.list_queues(auth, scope_id))

    async def bunkers(self, principal: Principal) -> list[dict[str, Any]]:
        return await self._call(principal, manage=False,
                                fn=lambda auth: self.scaigrid.list_bunkers(auth, "active"))

    async def models(self, principal: Principal) -> list[dict[str, Any]]:
        return await self._call(principal, manage=False, fn=self.scaigrid.list_models)

    # -- SPEC §10 ------------------------------------------------------------------------
    async def events(self, principal: Principal, *, core_id: str | None, limit: int,
                     cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        return await self._call(principal, manage=False, fn=lambda auth: self.scaigrid
                                .list_events(auth, core_id=core_id, limit=limit, cursor=cursor))

    async def checkpoints(self, principal: Principal, *, core_id: str | None, status: str,
                          limit: int, cursor: str | None
                          ) -> tuple[list[dict[str, Any]], str | None]:
        return await self._call(principal, manage=False, fn=lambda auth: self.scaigrid
                                .list_checkpoints(auth, core_id=core_id, status=status,
                                                  limit=limit, cursor=cursor))

    async def subscribe(self, principal: Principal, core_id: str | None,
                        resume: Position | None = None) -> Subscription:
        """A live feed of new events (shared with every subscriber of the same tenant,
        credential and filter); with `resume`, of every event after that position."""
        principal.require_view()
        auth = await self.auth_for(principal)
        return self.hub.subscribe(principal.tenant_id, auth, core_id, resume)

    async def resolve_checkpoint(self, principal: Principal, checkpoint_id: str, *,
                                 resolution: Any, comment: str | None,
                                 request_id: str | None) -> Any:
        body: dict[str, Any] = {"resolution": resolution}
        if comment is not None:
            body["comment"] = comment
        answer = await self._call(principal, manage=True, fn=lambda auth: self.scaigrid
                                  .resolve_checkpoint(auth, checkpoint_id, body))
        await self._audit(principal, "checkpoint.resolved", "checkpoint", checkpoint_id,
                          {}, request_id)
        return answer

    async def invoke(self, principal: Principal, core_id: str, input_value: dict[str, Any],
                     request_id: str | None) -> Any:
        answer = await self._call(principal, manage=True, fn=lambda auth: self.scaigrid
                                  .invoke_core(auth, core_id, input_value))
        await self._audit(principal, "core.invoked", "core", core_id, {}, request_id)
        return answer

    async def _audit(self, principal: Principal, action: str, target_type: str,
                     target_id: str, details: dict[str, Any], request_id: str | None) -> None:
        await self.db.write(lambda conn: audit.record(
            conn, tenant_id=principal.tenant_id, actor=principal.sub, action=action,
            target_type=target_type, target_id=target_id, details=details,
            request_id=request_id), flows_changed=NOTHING_CACHED)
