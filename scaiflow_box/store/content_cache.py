"""Serialized content of immutable flow versions, kept in memory by (flow id, version).

Versions are append-only, so an entry can never be stale. Entries are added when a version is
read (not when it is written: a burst of saves must not fill memory with versions nobody
reads); the cache is bounded by bytes, counting a per-entry overhead, and drops the least
recently used entries first.
"""

from __future__ import annotations

from collections import OrderedDict

ENTRY_OVERHEAD_BYTES = 200  # the key tuple, its strings and the OrderedDict node


class VersionContentCache:
    def __init__(self, max_bytes: int = 32 * 1024 * 1024) -> None:
        self._entries: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes

    def get(self, flow_id: str, version: str) -> bytes | None:
        key = (flow_id, version)
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, flow_id: str, version: str, content: bytes) -> None:
        if len(content) > self._max_bytes // 8:
            return
        key = (flow_id, version)
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old) + ENTRY_OVERHEAD_BYTES
        self._entries[key] = content
        self._bytes += len(content) + ENTRY_OVERHEAD_BYTES
        while self._bytes > self._max_bytes and self._entries:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= len(dropped) + ENTRY_OVERHEAD_BYTES

    def __len__(self) -> int:
        return len(self._entries)
