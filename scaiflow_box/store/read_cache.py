"""Values derived from the database, dropped when a write changes what they were read from.

Two regions:

- **per flow**: values read from one flow's rows (its FlowDetail bytes, a caller's ACL level
  on it), kept in one bucket per flow id, and values read from a tenant's flows (list pages),
  kept in one bucket per tenant. A write that declares the flows it changes
  (`Database.write(..., flows_changed=...)`, as (tenant id, flow id) pairs) drops only those
  flows' buckets and their tenants' list bucket, so a trickle of saves no longer empties the
  reads of every other flow. Buckets are evicted least recently used first, by an estimate
  of the bytes they hold.
- **global**: everything else (the principal resolved for a token: user row, role, status,
  revocation). Dropped, with every flow bucket, by any write that does not declare its
  scope, and by commits of other processes.

How changes arrive: the writer thread calls `changed()` after COMMIT and before it
acknowledges the write, and the event loop applies the queued changes in `check()` at the
start of every request. So a request that follows an acknowledged write never sees what the
write replaced; a value loaded before the change was applied is dropped by it, and one
loaded after reads the committed state. Commits of other processes (the CLI's `token revoke`,
`admin grant`) are noticed by the writer through `PRAGMA data_version` at most 50 ms later
(`store/db.py`) and drop everything.

Values should be exact tuples of strings and bytes where they can: the garbage collector
stops tracking such tuples (and then the bucket dicts holding only them), so a full cache
costs a full collection nothing. Not a NamedTuple: the collector untracks exact tuples only,
and one tracked value keeps its bucket tracked (`FlowDetail` is kept as `detail.kept()`).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")
MISSING: Any = object()


# `Database.write(..., flows_changed=NOTHING_CACHED)`: the job changes no row anything here
# is read from (audit rows, webhook events, leases): no cached read is dropped. A write that
# declares nothing drops every cached read of the process, every flow's answer included.
NOTHING_CACHED: tuple[tuple[str, str], ...] = ()


def tenant_bucket(tenant_id: str) -> str:
    """The bucket of values read from many of a tenant's flows (list pages)."""
    return f"tenant-lists:{tenant_id}"

# How often the writer looks for commits made by other processes (the CLI): they drop the
# whole cache within this time (store/db.py polls; docs/decisions.md 63).
EXTERNAL_CHECK_INTERVAL = 0.05
DEFAULT_MAX_ENTRIES = 20_000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# A bucket's dict and node, a key tuple, the value tuple: counted on top of the value's bytes.
ENTRY_OVERHEAD_BYTES = 400


class ReadCache:
    """Bounded: the global region by entries (starting over when full), the flow region by
    bytes (least recently used flows first)."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._global: dict[Hashable, Any] = {}
        self._flows: OrderedDict[str, dict[Hashable, Any]] = OrderedDict()
        self._flow_sizes: dict[str, int] = {}
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        # Filled by the writer thread, drained by the event loop (deque ops are atomic).
        self._changes: deque[tuple[tuple[str, str], ...] | None] = deque()
        self._drops = 0  # changes applied so far: a value loaded across one is not kept

    # -- the writer's side (any thread) ---------------------------------------------------
    def changed(self, flows: Iterable[tuple[str, str]] | None) -> None:
        """Committed: these (tenant id, flow id) changed (None: anything may have)."""
        if flows is None:
            self._changes.append(None)
            return
        changed = tuple(flows)
        if changed:
            self._changes.append(changed)

    # -- the event loop's side ------------------------------------------------------------
    def check(self) -> None:
        """Apply the changes committed since the last check (once per request)."""
        changes = self._changes
        while changes:
            flows = changes.popleft()
            self._drops += 1
            if flows is None:
                self.clear()
            else:
                for tenant_id, flow_id in flows:
                    self._drop_flow(flow_id)
                    self._drop_flow(tenant_bucket(tenant_id))

    def clear(self) -> None:
        self._drops += 1
        self._global.clear()
        self._flows.clear()
        self._flow_sizes.clear()
        self._bytes = 0

    def get_or_load(self, key: Hashable, load: Callable[[], T]) -> T:
        """A global value, else `load()` (whose exceptions are not cached)."""
        try:
            value: T = self._global[key]
            return value
        except KeyError:
            pass
        value = load()
        self.keep_global(key, value)
        return value

    def peek_global(self, key: Hashable) -> Any:
        """A global value, else MISSING."""
        return self._global.get(key, MISSING)

    def keep_global(self, key: Hashable, value: Any, loaded_at: int | None = None) -> None:
        """Keep a global value, unless a change was applied since `loaded_at` (as `keep`)."""
        if loaded_at is not None and loaded_at != self._drops:
            return
        if len(self._global) >= self._max_entries:
            self._global.clear()
        self._global[key] = value

    def flow_value(self, flow_id: str, key: Hashable, load: Callable[[], T],
                   weigh: Callable[[T], int] | None = None) -> T:
        """A value read from `flow_id`'s rows, else `load()`; `weigh` estimates its bytes."""
        found = self.peek(flow_id, key)
        if found is not MISSING:
            value: T = found
            return value
        value = load()
        self.keep(flow_id, key, value, weigh(value) if weigh is not None else 0)
        return value

    @property
    def drops(self) -> int:
        """Changes applied so far: pass it to `keep` for a value loaded across an await."""
        return self._drops

    @property
    def changes(self) -> int:
        """How many changes were applied so far: long-lived holders of derived state
        (live-editing sockets re-checking access) compare it between their checks."""
        return self._drops

    def peek(self, bucket_id: str, key: Hashable) -> Any:
        """The value kept in a bucket (a flow id, or `tenant_bucket()`), else MISSING."""
        bucket = self._flows.get(bucket_id)
        if bucket is None:
            return MISSING
        self._flows.move_to_end(bucket_id)
        return bucket.get(key, MISSING)

    def keep(self, bucket_id: str, key: Hashable, value: Any, weight: int,
             loaded_at: int | None = None) -> None:
        """Keep a value of `weight` bytes, unless a change was applied since `loaded_at`
        (the `drops` before an awaited load): it may predate that change."""
        if loaded_at is not None and loaded_at != self._drops:
            return
        size = ENTRY_OVERHEAD_BYTES + weight
        if size > self._max_bytes // 8:
            return
        bucket = self._flows.get(bucket_id)
        if bucket is None:
            bucket = self._flows[bucket_id] = {}
            self._flow_sizes[bucket_id] = 0
        old = bucket.get(key, MISSING)
        bucket[key] = value
        if old is MISSING:
            self._flow_sizes[bucket_id] += size
            self._bytes += size
        while self._bytes > self._max_bytes and self._flows:
            self._drop_flow(next(iter(self._flows)))

    def _drop_flow(self, flow_id: str) -> None:
        if self._flows.pop(flow_id, None) is not None:
            self._bytes -= self._flow_sizes.pop(flow_id)

    @property
    def flow_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._global) + sum(len(bucket) for bucket in self._flows.values())
