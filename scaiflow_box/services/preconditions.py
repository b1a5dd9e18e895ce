"""Optimistic concurrency for flows (SPEC §1): the ETag and the `If-Match` check.

The ETag is `"<version>"`, or `"<version>-<n>"` after n metadata-only changes (name,
description, owner) since that version was written, so it moves with every change of the
representation and two editors cannot silently overwrite each other's rename.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scaiflow_box.errors import VersionConflict
from scaiflow_box.store.engine import Row


def flow_etag(flow: Row | Mapping[str, Any]) -> str:
    revision = flow["meta_rev"]
    return f'"{flow["version"]}"' if not revision else f'"{flow["version"]}-{revision}"'


def check_if_match(flow: Row, expected: tuple[str, ...] | None) -> None:
    """`expected` holds the tags `If-Match` named (None: no precondition, or `*`)."""
    if expected is None:
        return
    current = flow_etag(flow)
    if current[1:-1] not in expected:
        given = ", ".join(f'"{tag}"' for tag in expected)
        raise VersionConflict(flow["version"], current, given)
