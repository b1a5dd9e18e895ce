"""The read cache's get-or-load for loads that are awaited (`Database.read_small`), built on
`ReadCache`'s public surface.

A value loaded across an await may predate a change applied meanwhile (`ReadCache.drops`
moved): it is returned to its caller, as a read made at that moment, but not kept. On SQLite
`read_small` never suspends, so these keep exactly what the synchronous `get_or_load` and
`flow_value` keep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from scaiflow_box.store.read_cache import MISSING, ReadCache

T = TypeVar("T")


async def global_value(cache: ReadCache, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
    """`cache.get_or_load(key, ...)` with an awaited `load` (whose exceptions are not kept)."""
    found = cache.peek_global(key)
    if found is not MISSING:
        kept: T = found
        return kept
    loaded_at = cache.drops
    value = await load()
    cache.keep_global(key, value, loaded_at)
    return value


async def flow_value(cache: ReadCache, flow_id: str, key: Hashable,
                     load: Callable[[], Awaitable[T]],
                     weigh: Callable[[T], int] | None = None) -> T:
    """`cache.flow_value(...)` with an awaited `load`."""
    found = cache.peek(flow_id, key)
    if found is not MISSING:
        kept: T = found
        return kept
    loaded_at = cache.drops
    value = await load()
    cache.keep(flow_id, key, value, weigh(value) if weigh is not None else 0, loaded_at)
    return value
