"""Who is looking at which flow (SPEC §15): heartbeats, live sockets, expiry. In memory, per
process; lost on restart by design.

A viewer is one (user, client id) on one flow. It is there while the client sends heartbeats
(`POST .../presence`, expiring `EXPIRY_SECONDS` after the last one) or while it holds a live
editing socket (`GET .../sync` with the same `client_id`), whichever lasts longer. Every
appearance and disappearance is told to the board's listeners (the live-editing relay pushes
them to the flow's sockets as JSON text frames).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from scaiflow_box.auth.principal import MANAGE, Principal
from scaiflow_box.errors import RateLimited
from scaiflow_box.services.access import RANK, effective_level, flow_not_found
from scaiflow_box.store import flows as flow_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection
from scaiflow_box.timestamps import iso

EXPIRY_SECONDS = 30.0
# Heartbeat viewers per flow (live sockets have their own cap): a bound on memory, far above
# any real editing session.
MAX_VIEWERS_PER_FLOW = 256

Change = Literal["join", "leave"]
ViewerKey = tuple[str, str]  # (user id, client id)


@dataclass(eq=False)
class Viewer:
    user_id: str
    display_name: str | None
    client_id: str
    can_edit: bool
    state: dict[str, Any] = field(default_factory=dict)
    last_seen: float = 0.0  # Unix time of the last heartbeat or socket activity
    heartbeat_at: float = float("-inf")  # monotonic; -inf: no heartbeat (socket only)
    sockets: int = 0

    @property
    def key(self) -> ViewerKey:
        return (self.user_id, self.client_id)

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "display_name": self.display_name,
                "client_id": self.client_id, "can_edit": self.can_edit, "state": self.state,
                "last_seen": iso(datetime.fromtimestamp(self.last_seen, UTC))}


Listener = Callable[[str, Change, Viewer], None]


@dataclass
class _FlowViewers:
    tenant_id: str
    viewers: dict[ViewerKey, Viewer] = field(default_factory=dict)


class PresenceBoard:
    """The viewers of every flow this process serves."""

    def __init__(self, *, expiry_seconds: float = EXPIRY_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.expiry_seconds = expiry_seconds
        self._clock = clock
        self._wall = wall_clock
        self._flows: dict[str, _FlowViewers] = {}
        self.listeners: list[Listener] = []

    def _notify(self, flow_id: str, change: Change, viewer: Viewer) -> None:
        for listener in self.listeners:
            listener(flow_id, change, viewer)

    def _flow(self, tenant_id: str, flow_id: str) -> _FlowViewers:
        entry = self._flows.get(flow_id)
        if entry is None:
            entry = self._flows[flow_id] = _FlowViewers(tenant_id)
        return entry

    def _alive(self, viewer: Viewer, now: float) -> bool:
        return viewer.sockets > 0 or now - viewer.heartbeat_at < self.expiry_seconds

    def _remove(self, flow_id: str, viewer: Viewer) -> None:
        entry = self._flows.get(flow_id)
        if entry is None or entry.viewers.get(viewer.key) is not viewer:
            return
        del entry.viewers[viewer.key]
        if not entry.viewers:
            del self._flows[flow_id]
        self._notify(flow_id, "leave", viewer)

    def heartbeat(self, tenant_id: str, flow_id: str, *, user_id: str,
                  display_name: str | None, client_id: str, can_edit: bool,
                  state: dict[str, Any] | None) -> None:
        """Record a heartbeat; `state` None keeps the viewer's last one."""
        entry = self._flow(tenant_id, flow_id)
        viewer = entry.viewers.get((user_id, client_id))
        joined = viewer is None
        if viewer is None:
            if len(entry.viewers) >= MAX_VIEWERS_PER_FLOW:
                if not entry.viewers:
                    del self._flows[flow_id]
                raise RateLimited(f"this flow has {MAX_VIEWERS_PER_FLOW} viewers already",
                                  retry_after=str(int(self.expiry_seconds)),
                                  code="too_many_viewers")
            viewer = Viewer(user_id, display_name, client_id, can_edit)
            entry.viewers[viewer.key] = viewer
        viewer.display_name = display_name
        viewer.can_edit = can_edit
        if state is not None:
            viewer.state = state
        viewer.heartbeat_at = self._clock()
        viewer.last_seen = self._wall()
        if joined:
            self._notify(flow_id, "join", viewer)

    def attach(self, tenant_id: str, flow_id: str, *, user_id: str, display_name: str | None,
               client_id: str, can_edit: bool) -> Viewer:
        """A live socket of this viewer opened (the socket cap bounds these)."""
        entry = self._flow(tenant_id, flow_id)
        viewer = entry.viewers.get((user_id, client_id))
        joined = viewer is None
        if viewer is None:
            viewer = Viewer(user_id, display_name, client_id, can_edit)
            entry.viewers[viewer.key] = viewer
        viewer.sockets += 1
        viewer.can_edit = can_edit
        viewer.last_seen = self._wall()
        if joined:
            self._notify(flow_id, "join", viewer)
        return viewer

    def touch(self, viewer: Viewer) -> None:
        viewer.last_seen = self._wall()

    def detach(self, flow_id: str, viewer: Viewer) -> None:
        """A live socket closed: the viewer leaves unless another socket or a fresh heartbeat
        keeps it."""
        viewer.sockets -= 1
        if not self._alive(viewer, self._clock()):
            self._remove(flow_id, viewer)

    def leave(self, flow_id: str, user_id: str, client_id: str) -> None:
        """The client said goodbye (`DELETE .../presence`): its heartbeat presence ends now;
        an open socket of the same client keeps it listed until it closes."""
        entry = self._flows.get(flow_id)
        viewer = entry.viewers.get((user_id, client_id)) if entry is not None else None
        if viewer is None:
            return
        viewer.heartbeat_at = float("-inf")
        if viewer.sockets == 0:
            self._remove(flow_id, viewer)

    def viewers(self, flow_id: str) -> list[Viewer]:
        entry = self._flows.get(flow_id)
        if entry is None:
            return []
        now = self._clock()
        return [v for v in entry.viewers.values() if self._alive(v, now)]

    def expire(self) -> None:
        """Remove viewers whose last heartbeat is `expiry_seconds` old (called every second)."""
        now = self._clock()
        for flow_id, entry in list(self._flows.items()):
            for viewer in [v for v in entry.viewers.values() if not self._alive(v, now)]:
                self._remove(flow_id, viewer)

    def flows(self) -> list[tuple[str, str, list[Viewer]]]:
        """(tenant id, flow id, viewers) of every flow with viewers."""
        return [(entry.tenant_id, flow_id, self.viewers(flow_id))
                for flow_id, entry in self._flows.items()]

    def __len__(self) -> int:
        return sum(len(entry.viewers) for entry in self._flows.values())


# -- access --------------------------------------------------------------------------------
def flow_level(conn: Connection, principal: Principal, flow_id: str) -> str:
    """The caller's level on the flow; 404 when they may not even view it (SPEC §2.3)."""
    flow = flow_rows.get_flow(conn, principal.tenant_id, flow_id)
    if flow is None:
        raise flow_not_found()
    level = effective_level(conn, principal, flow)
    if level is None:
        raise flow_not_found()
    return level


def may_edit(principal: Principal, level: str) -> bool:
    """Editing the document is what `PUT /flows/{id}` needs: `scaicore:manage` and `edit`."""
    return MANAGE in principal.permissions and RANK[level] >= RANK["edit"]


class PresenceService:
    """The presence routes: each call needs `scaicore:view` and the view level on the flow."""

    def __init__(self, db: Database, board: PresenceBoard) -> None:
        self.db = db
        self.board = board

    async def _can_edit(self, principal: Principal, flow_id: str) -> bool:
        principal.require_view()
        level = await self.db.read_small(lambda conn: flow_level(conn, principal, flow_id))
        return may_edit(principal, level)

    async def heartbeat(self, principal: Principal, flow_id: str, client_id: str,
                        state: dict[str, Any] | None) -> list[dict[str, Any]]:
        can_edit = await self._can_edit(principal, flow_id)
        self.board.heartbeat(principal.tenant_id, flow_id, user_id=principal.sub,
                             display_name=principal.display_name, client_id=client_id,
                             can_edit=can_edit, state=state)
        return [v.as_dict() for v in self.board.viewers(flow_id)]

    async def list(self, principal: Principal, flow_id: str) -> list[dict[str, Any]]:
        await self._can_edit(principal, flow_id)
        return [v.as_dict() for v in self.board.viewers(flow_id)]

    async def leave(self, principal: Principal, flow_id: str, client_id: str) -> None:
        """Only the caller's own viewer is removed; leaving twice is fine."""
        await self._can_edit(principal, flow_id)
        self.board.leave(flow_id, principal.sub, client_id)
