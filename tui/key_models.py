"""The master keys as `GET /api/v1/admin/keys` lists them (ids, files and backup records,
never a key): the current one and the retired ones a rotation keeps for older backups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tui.models import count_at, list_of, opt_str, str_at


@dataclass(frozen=True)
class MasterKeyEntry:
    kek_id: str
    state: str  # current | retired
    where: str  # the key file, or SCAIFLOW_MASTER_KEY
    retired_at: str | None
    problem: str | None
    backups_recorded: int  # by `scaiflow-box backup` under this key
    backups_on_disk: int  # of those, still at their path
    newest_backup_at: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MasterKeyEntry:
        backups = data.get("backups")
        backups = backups if isinstance(backups, dict) else {}
        return cls(kek_id=str_at(data, "kek_id"), state=str_at(data, "state"),
                   where=opt_str(data, "where") or "?", retired_at=opt_str(data, "retired_at"),
                   problem=opt_str(data, "problem"),
                   backups_recorded=count_at(backups, "recorded"),
                   backups_on_disk=count_at(backups, "on_disk"),
                   newest_backup_at=opt_str(backups, "newest_at"))


@dataclass(frozen=True)
class MasterKeys:
    from_env: bool  # the current key comes from SCAIFLOW_MASTER_KEY
    keys: tuple[MasterKeyEntry, ...]  # the current one first, then the retired, oldest first

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MasterKeys:
        return cls(from_env=data.get("source") == "environment",
                   keys=tuple(MasterKeyEntry.from_json(k) for k in list_of(data, "items")))

    @property
    def current(self) -> MasterKeyEntry | None:
        return next((k for k in self.keys if k.state == "current"), None)
