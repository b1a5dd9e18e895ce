"""Whether the appliance answers, as the app last saw it (its health probe, or any screen's
request): the nav bar, the stale banner and the auto-refresh read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Connection:
    up: bool | None = None
    """None until the first answer (or failure)."""
    since: datetime | None = None
    """When it went down, or came back."""
    reason: str = ""
    """Why it is down, in a few words."""
