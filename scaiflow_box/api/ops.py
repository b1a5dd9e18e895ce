"""Operations endpoints [box]: liveness, readiness, the OpenAPI document."""

from __future__ import annotations

import sqlite3

from aiohttp import web

from scaiflow_box.http.errors import json_response
from scaiflow_box.http.openapi import build_openapi
from scaiflow_box.http.routes import Route
from scaiflow_box.keys import DB, ISSUER, JWKS
from scaiflow_box.keys import ROUTES as ROUTE_TABLE


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when the DB is writable and keys are loaded; coarse reasons only (no paths)."""
    reasons: list[str] = []
    app = request.app
    try:
        await app[DB].check_writable()
    except (sqlite3.Error, RuntimeError):
        reasons.append("database not writable")
    if ISSUER not in app:
        reasons.append("issuer keys not loaded")
    if JWKS in app and app[JWKS].remote_configured and not app[JWKS].has_keys():
        reasons.append("ScaiKey signing keys not loaded yet")
    issuers = app[JWKS].status() if JWKS in app else []
    body = {"status": "ready" if not reasons else "not_ready", "reasons": reasons,
            "issuers": [{"issuer": s["issuer"], "key_ids": s["key_ids"],
                         "age_seconds": s["age_seconds"], "source": s["source"]}
                        for s in issuers]}
    return json_response(body, status=200 if not reasons else 503)


async def openapi(request: web.Request) -> web.Response:
    return json_response(build_openapi(list(request.app[ROUTE_TABLE].values())))


ROUTES = [
    Route("GET", "/healthz", healthz, "Process alive", auth="public"),
    Route("GET", "/readyz", readyz, "Database writable and keys loaded", auth="public"),
    Route("GET", "/api/v1/openapi.json", openapi, "This API's OpenAPI 3.1 document",
          auth="public"),
]
