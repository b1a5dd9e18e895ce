"""What the TUI can do on the data directory alone, with the server up or down: back up,
restore, rotate the master key, import a JWKS file, grant an admin role.

`tui/` only sees this Protocol. The command that starts the TUI hands it an implementation
that runs the CLI's own commands (`scaiflow-box backup …`, the same code an operator types),
as it hands it the token source; without one (a TUI pointed at a remote appliance with a
given token) the Data directory screen says the tools are not available."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tui.transport import AdminClientError


@dataclass(frozen=True)
class ToolOutcome:
    ok: bool
    messages: str
    """What the command said (its stderr): the outcome, or why it refused."""
    secret: str | None = field(default=None, repr=False)
    """Something to show once and never keep (a master key printed for SCAIFLOW_MASTER_KEY)."""


class ToolFailed(AdminClientError):
    """A data-directory tool said no; the message is the command's own."""


class DataDirTools(Protocol):
    @property
    def data_dir(self) -> str:
        """The data directory the tools act on (absolute)."""
        ...

    async def backup(self, target: str) -> ToolOutcome: ...

    async def restore(self, source: str) -> ToolOutcome:
        """Refused by the command while the server runs (the data directory is locked)."""
        ...

    async def rotate_master_key(self, *, reencrypt: bool) -> ToolOutcome: ...

    async def import_jwks(self, path: str, *, issuer: str | None) -> ToolOutcome: ...

    async def grant_admin(self, user: str, role: str) -> ToolOutcome: ...
