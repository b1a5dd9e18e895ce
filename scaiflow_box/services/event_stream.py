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

Resuming (SSE `Last-Event-ID`): every event carries its position in ScaiGrid's log, the
cursor its page was read from and its index in that page, which names the same place whichever
poller read it. A subscriber that resumes after a position gets exactly the events after it:
- from the shared poller's recent history (the last `HISTORY` events), when the position is
  there;
- else, when no poller runs for its key, from a new shared poller that starts at the position
  instead of at the end of the log (subscribers joining it later skip what it reads while
  catching up: they get new events only, as before);
- else from a private poller of its own that starts at the position.
A position ScaiGrid refuses (its cursor expired, or came from another ScaiGrid) cannot be
resumed: the subscribers get one `resume_failed` item and the poller starts at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from scaiflow_box.services.scaigrid_errors import lookup_error
from scaiflow_box.upstream.scaigrid import ScaiGridAuth, ScaiGridClient, ScaiGridError

log = logging.getLogger(__name__)

POLL_INTERVAL_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 30.0
PAGE_SIZE = 100
SUBSCRIBER_QUEUE = 500
HISTORY = 500  # events a poller keeps for subscribers that resume
# ScaiGrid's answers to a cursor it does not know (expired, or another ScaiGrid's).
REFUSED_CURSOR_STATUSES = frozenset({400, 404, 410, 422})

# (tenant, credential hash, base URL, core filter[, private poller number])
PollKey = tuple[str, ...]
# Where an event sits in ScaiGrid's log: (the cursor its page was read from, its index there).
Position = tuple[str | None, int]


@dataclass(frozen=True)
class StreamItem:
    event: str  # SSE event name: the ScaiCore event type, `upstream_error`, `closed`, ...
    data: dict[str, Any]
    position: Position | None = None  # ScaiCore events only: resume after this one
    backlog: bool = False  # read by a resumed poller while catching up with the log


CLOSED = StreamItem("closed", {"reason": "the stream fell too far behind; reconnect"})
RESUME_FAILED = StreamItem("resume_failed", {
    "reason": "events after the last event id cannot be read again; new events follow",
    "history": "GET /api/v1/scaicore/events"})


@dataclass(eq=False)
class Subscription:
    key: PollKey
    hub: EventHub
    queue: asyncio.Queue[StreamItem] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    closed: bool = False
    # A subscriber that did not resume wants new events only, not a resumed poller's backlog.
    live_only: bool = True

    async def get(self) -> StreamItem:
        return await self.queue.get()

    def offer(self, item: StreamItem) -> bool:
        """Queue an item; False (and the subscriber is cut off) when it has fallen behind."""
        if self.closed:
            return False
        if item.backlog and self.live_only:
            return True
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
    start: Position | None = None  # resume after this position instead of at the log's end
    subscribers: set[Subscription] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    polls: int = 0
    history: deque[StreamItem] = field(default_factory=lambda: deque(maxlen=HISTORY))

    def events_after(self, position: Position) -> list[StreamItem] | None:
        """The events this poller sent after `position`, or None when it is not in the
        history (too old, or never read by this poller)."""
        for index, item in enumerate(self.history):
            if item.position == position:
                return list(itertools.islice(self.history, index + 1, None))
        return None


class EventHub:
    def __init__(self, scaigrid: ScaiGridClient, *,
                 poll_interval: float = POLL_INTERVAL_SECONDS) -> None:
        self.scaigrid = scaigrid
        self.poll_interval = poll_interval
        self._pollers: dict[PollKey, _Poller] = {}
        self._private = 0  # numbers the private pollers of resuming subscribers

    @staticmethod
    def key_for(tenant_id: str, auth: ScaiGridAuth, core_id: str | None) -> PollKey:
        credential = hashlib.sha256(auth.bearer.encode()).hexdigest()
        return (tenant_id, credential, auth.base_url, core_id or "")

    def subscribe(self, tenant_id: str, auth: ScaiGridAuth, core_id: str | None,
                  resume: Position | None = None) -> Subscription:
        """A subscription to new events; with `resume`, to every event after that position
        (see the module docstring)."""
        key = self.key_for(tenant_id, auth, core_id)
        poller = self._pollers.get(key)
        if poller is None:
            poller = self._start(key, auth, core_id, resume)
        elif resume is not None:
            missed = poller.events_after(resume)
            if missed is None:
                self._private += 1
                poller = self._start((*key, str(self._private)), auth, core_id, resume)
            else:
                subscription = Subscription(poller.key, self, live_only=False)
                for item in missed:  # fewer than the queue holds: HISTORY <= SUBSCRIBER_QUEUE
                    subscription.offer(item)
                poller.subscribers.add(subscription)
                return subscription
        subscription = Subscription(poller.key, self, live_only=resume is None)
        poller.subscribers.add(subscription)
        return subscription

    def _start(self, key: PollKey, auth: ScaiGridAuth, core_id: str | None,
               start: Position | None) -> _Poller:
        poller = _Poller(key, auth, core_id, start)
        self._pollers[key] = poller
        poller.task = asyncio.create_task(self._run(poller), name="scaicore-events")
        return poller

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
        start = poller.start
        cursor: str | None = start[0] if start else None
        skip = start[1] + 1 if start else 0  # the page at a resume cursor: already sent
        # Until caught up, pages are what happened before anyone subscribed; a resumed poller
        # sends them (as backlog, which subscribers that did not resume skip).
        caught_up = backlog = start is not None
        failures = 0
        while poller.subscribers:
            page_cursor = cursor
            try:
                events, cursor = await self._poll(poller, cursor)
            except ScaiGridError as exc:
                poller.polls += 1
                if start is not None and exc.status in REFUSED_CURSOR_STATUSES:
                    # ScaiGrid does not know the cursor: start at the end of the log instead.
                    self._broadcast(poller, RESUME_FAILED)
                    start, cursor, skip, caught_up, backlog = None, None, 0, False, False
                    continue
                if failures == 0:
                    error = lookup_error(exc)
                    self._broadcast(poller, StreamItem("upstream_error", {
                        "error": error.code, "message": error.message}))
                failures += 1
                await asyncio.sleep(min(self.poll_interval * 2 ** failures,
                                        MAX_BACKOFF_SECONDS))
                continue
            start = None  # the resume cursor worked
            if failures:
                self._broadcast(poller, StreamItem("upstream_recovered", {}))
            failures = 0
            if caught_up:
                for index in range(skip, len(events)):
                    event = events[index]
                    item = StreamItem(str(event.get("type") or "event"), event,
                                      (page_cursor, index), backlog)
                    poller.history.append(item)
                    self._broadcast(poller, item)
            skip = 0
            if len(events) >= PAGE_SIZE:
                continue  # more is waiting: read on without sleeping
            caught_up, backlog = True, False
            await asyncio.sleep(self.poll_interval)

    @staticmethod
    def _broadcast(poller: _Poller, item: StreamItem) -> None:
        for subscription in list(poller.subscribers):
            subscription.offer(item)
