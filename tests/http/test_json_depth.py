"""The body nesting limit (SPEC §1: depth <= 64) is exact at its boundary, for objects and
arrays alike, however wide the body is."""

from __future__ import annotations

from typing import Any

from scaiflow_box.http.parsing import MAX_JSON_DEPTH, json_depth_exceeds


def nested(depth: int, kind: str = "list") -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if (kind == "list" or (kind == "mixed" and level % 2)) else {"k": value}
    return value


def test_the_limit_is_exact_for_arrays_objects_and_both() -> None:
    for kind in ("list", "dict", "mixed"):
        assert not json_depth_exceeds(nested(MAX_JSON_DEPTH, kind))
        assert json_depth_exceeds(nested(MAX_JSON_DEPTH + 1, kind))
    assert not json_depth_exceeds("scalar") and not json_depth_exceeds({}) and not (
        json_depth_exceeds([]))


def test_one_deep_branch_among_many_shallow_ones_is_found() -> None:
    wide: dict[str, Any] = {f"k{i}": [{"a": 1}, [2, 3]] for i in range(5000)}
    assert not json_depth_exceeds(wide)
    wide["k2500"] = nested(MAX_JSON_DEPTH)  # one level under `wide`: 65 in all
    assert json_depth_exceeds(wide)
