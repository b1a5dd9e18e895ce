"""`/readyz` (SPEC §16): ready when the database is writable and keys are loaded. Reasons are
coarse (no paths, no secrets); each token issuer is listed with its key ids and their age."""

from __future__ import annotations

import sqlite3
from typing import Any

from scaiflow_box.auth.jwks import JwksCache
from scaiflow_box.store.db import Database


class Readiness:
    def __init__(self, db: Database, jwks: JwksCache, issuer_loaded: bool) -> None:
        self.db = db
        self.jwks = jwks
        self.issuer_loaded = issuer_loaded

    async def report(self) -> dict[str, Any]:
        reasons: list[str] = []
        try:
            await self.db.check_writable()
        except (sqlite3.Error, RuntimeError):
            reasons.append("database not writable")
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
