"""Serialized content of immutable flow versions, kept in memory by (flow id, version).

Versions are append-only, so an entry can never be stale; the cache is bounded by bytes and
drops the least recently used entries first.
"""

from __future__ import annotations

from collections import OrderedDict


class VersionContentCache:
    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
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
            self._bytes -= len(old)
        self._entries[key] = content
        self._bytes += len(content)
        while self._bytes > self._max_bytes and self._entries:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._entries)
