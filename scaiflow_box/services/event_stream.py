"""Live ScaiCore events for the canvas (`GET /api/v1/scaicore/events/stream`, SPEC §10).

One poller per (tenant, credential, base URL, core filter): subscribers that share those share
one upstream poll, however many of them there are. A poller starts with its first subscriber
and stops when its last one leaves, so nothing polls ScaiGrid for a stream nobody reads.

Upstream events carry no id, so a poller remembers the events it has seen (their exact JSON,
bounded) and passes on only new ones, oldest first. A new subscriber gets events from the
moment it joined (history is `GET /api/v1/scaicore/events`). Each subscriber has a bounded
queue: a consumer that falls that far behind is disconnected (it reconnects, as EventSource
does), never allowed to grow memory. Upstream failures are passed on as one `upstream_error`
item per failure streak while the poller keeps retrying with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

from scaiflow_box.services.scaigrid_errors import lookup_error
from scaiflow_box.upstream.scaigrid import ScaiGridAuth, ScaiGridClient, ScaiGridError

log = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 30.0
PAGE_SIZE = 100
SUBSCRIBER_QUEUE = 500
SEEN_LIMIT = 5000

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
    seen: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    task: asyncio.Task[None] | None = None
    polls: int = 0


def _fingerprint(event: dict[str, Any]) -> bytes:
    return hashlib.sha256(orjson.dumps(event, option=orjson.OPT_SORT_KEYS)).digest()


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

    async def _run(self, poller: _Poller) -> None:
        first = True
        failures = 0
        while poller.subscribers:
            try:
                events, _ = await self.scaigrid.list_events(
                    poller.auth, core_id=poller.core_id, limit=PAGE_SIZE, cursor=None)
                poller.polls += 1
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
            failures = 0
            fresh = []
            for event in events:
                if not isinstance(event, dict):
                    continue
                mark = _fingerprint(event)
                if mark in poller.seen:
                    continue
                poller.seen[mark] = None
                fresh.append(event)
            while len(poller.seen) > SEEN_LIMIT:
                poller.seen.popitem(last=False)
            if not first:  # the first poll only learns what already happened
                fresh.sort(key=lambda e: str(e.get("timestamp", "")))
                for event in fresh:
                    self._broadcast(poller, StreamItem(str(event.get("type") or "event"),
                                                       event))
            first = False
            await asyncio.sleep(self.poll_interval)

    @staticmethod
    def _broadcast(poller: _Poller, item: StreamItem) -> None:
        for subscription in list(poller.subscribers):
            subscription.offer(item)
