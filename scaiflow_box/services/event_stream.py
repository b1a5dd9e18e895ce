"""Live ScaiCore events for the canvas (`GET /api/v1/scaicore/events/stream`, SPEC §10).

One poller per (tenant, credential, base URL, core filter): subscribers that share those share
one upstream poll, however many of them there are. A poller starts with its first subscriber
and stops when its last one leaves, so nothing polls ScaiGrid for a stream nobody reads.

ScaiGrid's event list is a log, oldest first, whose `next_cursor` is the position after the
last event returned: a poller first follows it to its end (what happened before anyone
subscribed is not replayed; history is `GET /api/v1/scaicore/events`), then asks for what
came after its cursor every `POLL_INTERVAL_SECONDS`, reading on at once while pages are full.
A subscriber joining a running poller gets events from the moment it joined.

Each subscriber has a bounded queue: a consumer that falls that far behind is disconnected
(it reconnects, as EventSource does), never allowed to grow memory. Upstream failures are
passed on as one `upstream_error` item per failure streak (and `upstream_recovered` after it)
while the poller keeps retrying with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from scaiflow_box.services.scaigrid_errors import lookup_error
from scaiflow_box.upstream.scaigrid import ScaiGridAuth, ScaiGridClient, ScaiGridError

log = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 30.0
PAGE_SIZE = 100
SUBSCRIBER_QUEUE = 500

PollKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class StreamItem:
    event: str  # SSE event name: the ScaiCore event type, `upstream_error` or `closed`
    data: dict[str, Any]


CLOSED = StreamItem("closed", {"reason": "the stream fell too far behind; reconnect"})


@dataclass(eq=False)
class Subscription:
    key: PollKey
    hub: EventHub
    queue: asyncio.Queue[StreamItem] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    closed: bool = False

    async def get(self) -> StreamItem:
        return await self.queue.get()

    def offer(self, item: StreamItem) -> bool:
        """Queue an item; False (and the subscriber is cut off) when it has fallen behind."""
        if self.closed:
            return False
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.closed = True
            while not self.queue.empty():  # make room for the farewell
                self.queue.get_nowait()
            self.queue.put_nowait(CLOSED)
            return False
        return True

    def close(self) -> None:
        self.closed = True
        self.hub.unsubscribe(self)


@dataclass(eq=False)
class _Poller:
    key: PollKey
    auth: ScaiGridAuth
    core_id: str | None
    subscribers: set[Subscription] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    polls: int = 0


class EventHub:
    def __init__(self, scaigrid: ScaiGridClient, *,
                 poll_interval: float = POLL_INTERVAL_SECONDS) -> None:
        self.scaigrid = scaigrid
        self.poll_interval = poll_interval
        self._pollers: dict[PollKey, _Poller] = {}

    @staticmethod
    def key_for(tenant_id: str, auth: ScaiGridAuth, core_id: str | None) -> PollKey:
        credential = hashlib.sha256(auth.bearer.encode()).hexdigest()
        return (tenant_id, credential, auth.base_url, core_id or "")

    def subscribe(self, tenant_id: str, auth: ScaiGridAuth, core_id: str | None
                  ) -> Subscription:
        key = self.key_for(tenant_id, auth, core_id)
        poller = self._pollers.get(key)
        if poller is None:
            poller = _Poller(key, auth, core_id)
            self._pollers[key] = poller
            poller.task = asyncio.create_task(self._run(poller), name="scaicore-events")
        subscription = Subscription(key, self)
        poller.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        poller = self._pollers.get(subscription.key)
        if poller is None:
            return
        poller.subscribers.discard(subscription)
        if not poller.subscribers:
            del self._pollers[subscription.key]
            if poller.task is not None:
                poller.task.cancel()

    def stats(self) -> dict[str, int]:
        """Pollers, subscribers and upstream polls so far (tests, benchmarks, metrics)."""
        return {"pollers": len(self._pollers),
                "subscribers": sum(len(p.subscribers) for p in self._pollers.values()),
                "polls": sum(p.polls for p in self._pollers.values())}

    async def close(self) -> None:
        tasks = [p.task for p in self._pollers.values() if p.task is not None]
        self._pollers.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self, poller: _Poller, cursor: str | None
                    ) -> tuple[list[dict[str, Any]], str | None]:
        events, next_cursor = await self.scaigrid.list_events(
            poller.auth, core_id=poller.core_id, limit=PAGE_SIZE, cursor=cursor)
        poller.polls += 1
        return [e for e in events if isinstance(e, dict)], next_cursor or cursor

    async def _run(self, poller: _Poller) -> None:
        cursor: str | None = None
        caught_up = False  # until then, pages are what happened before anyone subscribed
        failures = 0
        while poller.subscribers:
            try:
                events, cursor = await self._poll(poller, cursor)
            except ScaiGridError as exc:
                poller.polls += 1
                if failures == 0:
                    error = lookup_error(exc)
                    self._broadcast(poller, StreamItem("upstream_error", {
                        "error": error.code, "message": error.message}))
                failures += 1
                await asyncio.sleep(min(self.poll_interval * 2 ** failures,
                                        MAX_BACKOFF_SECONDS))
                continue
            if failures:
                self._broadcast(poller, StreamItem("upstream_recovered", {}))
            failures = 0
            if caught_up:
                for event in events:
                    self._broadcast(poller, StreamItem(str(event.get("type") or "event"),
                                                       event))
            if len(events) >= PAGE_SIZE:
                continue  # more is waiting: read on without sleeping
            caught_up = True
            await asyncio.sleep(self.poll_interval)

    @staticmethod
    def _broadcast(poller: _Poller, item: StreamItem) -> None:
        for subscription in list(poller.subscribers):
            subscription.offer(item)
