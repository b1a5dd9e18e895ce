"""Structured diff of two FlowGraph contents (`GET /flows/{id}/versions/{v}/diff`)."""

from __future__ import annotations

from typing import Any

# Keys the server owns or that change with every save; they are not "changes" of the graph.
_IGNORED_TOP = frozenset({"id", "version"})


def _by_id(items: Any) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                result[item["id"]] = item
    return result


def _diff_collection(old: Any, new: Any) -> dict[str, Any]:
    before, after = _by_id(old), _by_id(new)
    changed = []
    for item_id in sorted(before.keys() & after.keys()):
        a, b = before[item_id], after[item_id]
        fields = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if fields:
            changed.append({"id": item_id, "fields": fields})
    return {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": changed,
    }


def diff_contents(
    old: dict[str, Any], new: dict[str, Any], from_version: str, to_version: str
) -> dict[str, Any]:
    other_keys = sorted(
        k for k in (old.keys() | new.keys()) - _IGNORED_TOP
        - {"nodes", "edges", "config", "metadata"}
        if old.get(k) != new.get(k)
    )
    return {
        "from": from_version,
        "to": to_version,
        "nodes": _diff_collection(old.get("nodes"), new.get("nodes")),
        "edges": _diff_collection(old.get("edges"), new.get("edges")),
        "config_changed": old.get("config") != new.get("config"),
        "metadata_changed": old.get("metadata") != new.get("metadata"),
        "other_changed": other_keys,
    }
