"""`/readyz` (SPEC §16): ready when the database is writable and keys are loaded. Reasons are
coarse (no paths, no secrets); each token issuer is listed with its key ids and their age.

After a write found the storage full, readiness writes a probe (`Database.probe_storage`) on
each check instead of the empty transaction, at most once a second: `storage_full` is
reported until the probe fits, and then the appliance is ready again by itself."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from scaiflow_box.auth.jwks import JwksCache
from scaiflow_box.errors import StorageFull
from scaiflow_box.store.database import Database

STORAGE_FULL = "storage_full"
PROBE_INTERVAL_S = 1.0


class Readiness:
    def __init__(self, db: Database, jwks: JwksCache, issuer_loaded: bool) -> None:
        self.db = db
        self.jwks = jwks
        self.issuer_loaded = issuer_loaded
        self._last_probe = float("-inf")

    async def _storage_reason(self) -> str | None:
        try:
            if not self.db.storage_full:
                await self.db.check_writable()
                return None
            # /readyz is public: a failing probe is repeated at most once a second.
            if time.monotonic() - self._last_probe < PROBE_INTERVAL_S:
                return STORAGE_FULL
            self._last_probe = time.monotonic()
            await self.db.probe_storage()
        except StorageFull:
            return STORAGE_FULL
        except (sqlite3.Error, RuntimeError):
            return "database not writable"
        return None

    async def report(self) -> dict[str, Any]:
        reasons: list[str] = []
        storage = await self._storage_reason()
        if storage is not None:
            reasons.append(storage)
        if not self.issuer_loaded:
            reasons.append("issuer keys not loaded")
        if self.jwks.remote_configured and not self.jwks.has_keys():
            reasons.append("ScaiKey signing keys not loaded yet")
        return {
            "status": "ready" if not reasons else "not_ready",
            "reasons": reasons,
            "issuers": [{"issuer": s["issuer"], "key_ids": s["key_ids"],
                         "age_seconds": s["age_seconds"], "source": s["source"]}
                        for s in self.jwks.status()],
        }
