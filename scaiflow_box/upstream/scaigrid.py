"""The ScaiGrid client (SPEC §18.1).

Only the credential type lives here for now: `services.credentials.CredentialService` resolves
one per call (SPEC §7.1) and the client sends it. The client itself arrives with the deploy
work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ScaiGridAuth:
    """Where and as whom to call ScaiGrid; `bearer` never appears in a repr."""

    base_url: str
    bearer: str = field(repr=False)
    source: Literal["user_jwt", "tenant_key", "env_key"]
