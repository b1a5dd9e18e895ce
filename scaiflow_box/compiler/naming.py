"""Name rules shared by the analyzer, the emitter and the runner."""

from __future__ import annotations

import re
from typing import Final

ROLE_PATTERN: Final = re.compile(r"^[a-z][a-z0-9_]*$")
VARIABLE_PATTERN: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
SUBFLOW_TARGET_PATTERN: Final = re.compile(r"^core://[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$")
# Names the test runner keeps for itself in the variable scope.
RESERVED_VARIABLES: Final = frozenset({"input", "nodes"})
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """``"Customer Support Agent"`` -> ``"customer-support-agent"`` (ASCII only)."""
    return _NON_SLUG.sub("-", text.lower()).strip("-")
