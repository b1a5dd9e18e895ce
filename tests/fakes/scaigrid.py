"""A ScaiGrid stand-in: a real aiohttp server on loopback implementing SPEC §18.1 with
in-memory state. Tests start it through the `scaigrid_server` fixture; an operator can run it
by hand to try the appliance end to end:

    python -m tests.fakes.scaigrid --port 9100 [--api-key K] [--host 127.0.0.1]

Routes (names in brackets are the keys of `hits`, `requests`, `fail(...)`, `stall(...)`,
`malformed(...)`, `huge(...)`, `redirect(...)` and `race(...)`), all under /v1:
- [create_core]        POST /modules/scaicore/cores            (YAML manifest, application/yaml)
- [get_core]           GET  /modules/scaicore/cores/{core_id}
- [publish_core]       POST /modules/scaicore/cores/{core_id}/publish   {"group_ids": [...]}
- [invoke_core]        POST /modules/scaicore/cores/{core_id}/invoke    {"input": {...}}
- [list_events]        GET  /modules/scaicore/events?core_id&limit&cursor
- [list_checkpoints]   GET  /modules/scaicore/checkpoints?core_id&status&limit&cursor
- [resolve_checkpoint] POST /modules/scaicore/checkpoints/{checkpoint_id}/resolve
                            {"resolution": <any>, "comment"?}
- [list_models]        GET  /models         (envelope chosen by `models_envelope`)
- [list_scopes]        GET  /modules/scaiqueue/scopes
- [create_scope]       POST /modules/scaiqueue/scopes            {slug, display_name}
- [list_queues]        GET  /modules/scaiqueue/scopes/{scope_id}/queues
- [create_queue]       POST /modules/scaiqueue/scopes/{scope_id}/queues
                            {slug, display_name, ordering, max_retries}
- [list_bunkers]       GET  /modules/scaibunker/bunkers?status=…

Answers: `{"status": "ok", "data": …}` (201 for creations); failures use the error envelope
`{"status": "error", "error": {"code", "message", "retry_after"?, "details"?},
"meta": {"request_id"}}` with codes UNAUTHORIZED (401), FORBIDDEN (403), NOT_FOUND (404),
CONFLICT (409), VALIDATION_ERROR (400), UNSUPPORTED_MEDIA_TYPE (415), RATE_LIMITED (429, with
a `Retry-After` header), INTERNAL_ERROR (5xx). Lists of scopes, queues and bunkers are a bare
list in `data` (`list_shape = "items"` answers `{"items": [...], "total"}` instead).

Auth: `Authorization: Bearer <credential>`, where the credential is one of `api_keys` (key ->
tenant slug), a JWT that verifies against a trusted public key (`trust_jwt_key`,
`trust_scaikey`; the tenant slug is the `tenant_slug` claim, else `tenant_id` without `tnt_`),
or anything at all when `accept_any_bearer`. Every request is recorded in `requests`
(method, path, query, Authorization header, body, and which identity the fake accepted) so
tests can assert which credential was used. State is per tenant slug: a tenant sees only its
own cores, checkpoints, events, scopes and queues.

Behaviour worth knowing:
- Creating a core parses the YAML with `yaml.safe_load`: anything but a mapping with a `core`
  mapping that has a string `name` is 400 VALIDATION_ERROR. Every create makes a new core
  (`core_<hex>`) whose slug is `core.name`.
- The first publish sets `published_slug = "scaicore/{tenant_slug}/{core_slug}"`; a second
  one is 400 VALIDATION_ERROR "already published" (GET the core: `metadata.published_slug`).
- Invoking a core walks the steps of its first flow in order (no branching): events
  `scaicore.runtime.invocation.started`, then `…block.entered`/`…block.exited` per step
  (block = the step's `meta.node_id`), then `…invocation.completed` with the input echoed as
  the output. A `checkpoint` step stops the walk with a pending checkpoint; resolving it
  emits the block's exit and carries on. `invocation_failure = "message"` makes invocations
  fail at their first step (`…block.failed`, `…invocation.failed`).
- Events are a log, oldest first. `next_cursor` is always the position after the last event
  returned (or the given cursor when nothing is new), so a poller keeps following the log
  with it; a page that returns no events means "nothing new yet". Checkpoints page
  normally: `next_cursor` is null on the last page. Both take `limit` 1-500 (default 50); a
  malformed cursor, one of the other list, or one past the end is 400 VALIDATION_ERROR.
- A scope slug that exists is 409 CONFLICT (likewise a queue slug within its scope).

Failure switches (route None = every route; `times` = how many requests the switch affects
before it clears itself, None = until `clear_faults()`):
- `fail(route, status, code=, message=, retry_after=)`: answer the error envelope (429 adds
  `Retry-After`).
- `stall(seconds, route)`: sleep first (past the client's timeout), then answer normally.
- `malformed(route)`: 200 with a body that is not JSON.
- `huge(route, size)`: 200 with a valid JSON body of `size` bytes, sent chunked.
- `redirect(route, location)`: 302 to `location`.
- `race(route)` for `create_scope`/`create_queue`: "someone else" creates the object just
  before the request is handled, so it answers 409 although the object did not exist when the
  client listed.
- `bunkers_ignore_status`: list every bunker whatever `?status` asks.
- `models_envelope`: "native" (`{"status":"ok","data":{"items":[…]}}`), "data"
  (`{"data":[…]}`) or "openai" (`{"object":"list","data":[{"id":…}]}`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import jwt
import yaml
from aiohttp import web

API = "/v1"
CORE = API + "/modules/scaicore"
QUEUE = API + "/modules/scaiqueue"
BUNKER = API + "/modules/scaibunker"
DEFAULT_API_KEY = "sgk_test_0123456789abcdef"
DEFAULT_TENANT = "acme"
ORDERINGS = frozenset({"fifo", "priority", "deadline", "broadcast"})
SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
STATUS_CODES = {400: "VALIDATION_ERROR", 401: "UNAUTHORIZED", 403: "FORBIDDEN",
                404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT",
                415: "UNSUPPORTED_MEDIA_TYPE", 429: "RATE_LIMITED"}
RACE_ROUTES = frozenset({"create_scope", "create_queue"})
ModelsEnvelope = Literal["native", "data", "openai"]

DEFAULT_MODELS: list[dict[str, Any]] = [
    {"id": "mdl_gpt4o", "slug": "openai/gpt-4o", "display_name": "GPT-4o",
     "provider": "openai", "modality": "text", "context_window": 128000,
     "max_output_tokens": 16384},
    {"id": "mdl_gpt4omini", "slug": "openai/gpt-4o-mini", "display_name": "GPT-4o mini",
     "provider": "openai", "modality": "text", "context_window": 128000,
     "max_output_tokens": 16384},
    {"id": "mdl_sonnet35", "slug": "anthropic/claude-3-5-sonnet",
     "display_name": "Claude 3.5 Sonnet", "provider": "anthropic", "modality": "text",
     "context_window": 200000, "max_output_tokens": 8192},
    {"id": "mdl_embed3s", "slug": "openai/text-embedding-3-small",
     "display_name": "Text embedding 3 small", "provider": "openai", "modality": "embedding",
     "context_window": 8191},
]
DEFAULT_BUNKERS: list[dict[str, Any]] = [
    {"bunker_id": "bkr_python312", "image_ref": "python-3.12", "lifecycle": "ephemeral",
     "status": "active", "cpu_millicores": 1000, "memory_mb": 2048},
    {"bunker_id": "bkr_node20", "image_ref": "node-20", "lifecycle": "session",
     "status": "active", "cpu_millicores": 500, "memory_mb": 1024},
    {"bunker_id": "bkr_python311", "image_ref": "python-3.11", "lifecycle": "persistent",
     "status": "stopped", "cpu_millicores": 1000, "memory_mb": 2048},
]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(8)


# -- state ----------------------------------------------------------------------------------
@dataclass
class Core:
    id: str
    tenant_slug: str
    slug: str
    manifest: dict[str, Any]
    manifest_yaml: str
    created_at: str
    published_slug: str | None = None
    group_ids: list[str] = field(default_factory=list)

    @property
    def steps(self) -> list[Any]:
        flows = self.manifest["core"].get("flows")
        if isinstance(flows, list) and flows and isinstance(flows[0], dict):
            steps = flows[0].get("steps")
            if isinstance(steps, list):
                return steps
        return []

    def as_json(self) -> dict[str, Any]:
        core = self.manifest["core"]
        return {"id": self.id, "slug": self.slug, "tenant_slug": self.tenant_slug,
                "name": core.get("name"), "mode": core.get("mode"),
                "runtime_version": core.get("runtime_version"), "status": "active",
                "created_at": self.created_at,
                "metadata": {"published_slug": self.published_slug,
                             "group_ids": list(self.group_ids)}}


@dataclass
class Checkpoint:
    id: str
    tenant_slug: str
    core_id: str
    invocation_id: str
    block: str
    step_index: int
    type: str
    created_at: str
    input: Any
    status: str = "pending"
    resolution: Any = None
    comment: str | None = None
    resolved_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "core_id": self.core_id, "invocation_id": self.invocation_id,
                "node_id": self.block, "type": self.type, "status": self.status,
                "created_at": self.created_at, "resolution": self.resolution,
                "comment": self.comment, "resolved_at": self.resolved_at}


@dataclass
class Event:
    seq: int
    tenant_slug: str
    type: str
    core_id: str
    timestamp: str
    payload: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": f"evt_{self.seq:08d}", "type": self.type, "core_id": self.core_id,
                "timestamp": self.timestamp, "payload": self.payload}


@dataclass
class Scope:
    id: str
    tenant_slug: str
    slug: str
    display_name: str
    description: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "display_name": self.display_name,
                "description": self.description}


@dataclass
class Queue:
    id: str
    scope_id: str
    slug: str
    display_name: str
    ordering: str
    max_retries: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "scope_id": self.scope_id, "slug": self.slug,
                "display_name": self.display_name, "ordering": self.ordering,
                "consumer_mode": self.ordering, "max_retries": self.max_retries}


@dataclass
class RecordedRequest:
    """One request as the fake saw it. `path` is decoded, `raw_path` as sent. `identity` is
    what the fake accepted the bearer as (`api_key:<tenant>`, `jwt:<sub>`, `any`), None when
    it was refused or not checked."""

    route: str
    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    authorization: str | None
    content_type: str
    body: bytes
    identity: str | None = None

    @property
    def bearer(self) -> str | None:
        scheme, _, value = (self.authorization or "").partition(" ")
        return value if scheme.lower() == "bearer" and value else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Fault:
    status: int = 0
    code: str | None = None
    message: str | None = None
    retry_after: str | None = "1"
    stall_seconds: float = 0.0
    malformed: bool = False
    huge_bytes: int = 0
    redirect_to: str | None = None
    times: int | None = None


@dataclass
class Caller:
    tenant_slug: str
    identity: str


CALLER = web.RequestKey("caller", Caller)


# -- the server -------------------------------------------------------------------------------
class FakeScaiGrid:
    def __init__(self, *, api_keys: dict[str, str] | None = None,
                 accept_any_bearer: bool = False) -> None:
        self.api_keys: dict[str, str] = (dict(api_keys) if api_keys is not None
                                         else {DEFAULT_API_KEY: DEFAULT_TENANT})
        self.accept_any_bearer = accept_any_bearer
        self.jwt_key_sources: list[Callable[[], Iterable[Any]]] = []
        self.models: list[dict[str, Any]] = [dict(m) for m in DEFAULT_MODELS]
        self.models_envelope: ModelsEnvelope = "native"
        self.bunkers: list[dict[str, Any]] = [dict(b) for b in DEFAULT_BUNKERS]
        self.list_shape: Literal["list", "items"] = "list"
        self.bunkers_ignore_status = False  # answer every bunker whatever ?status says
        self.invocation_failure: str | None = None
        self.cores: dict[str, Core] = {}
        self.checkpoints: dict[str, Checkpoint] = {}
        self.events: list[Event] = []
        self.scopes: dict[str, Scope] = {}
        self.queues: dict[str, Queue] = {}
        self.requests: list[RecordedRequest] = []
        self.hits: Counter[str] = Counter()
        self.faults: dict[str | None, Fault] = {}
        self.races: Counter[str] = Counter()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int | None = None) -> FakeScaiGrid:
        """Listen on `host` (a random port the first time, the same port on a restart)."""
        app = web.Application(middlewares=[self._middleware])
        self._add_routes(app)
        # A stalled handler is woken by stop(); a short shutdown timeout keeps stop() quick.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._stopping = asyncio.Event()
        site = web.TCPSite(runner, host, port if port is not None else (self._port or 0))
        await site.start()
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    @property
    def base_url(self) -> str:
        """What `SCAIGRID_BASE_URL` should be (no trailing slash; paths start with /v1)."""
        assert self._port is not None, "start() the fake first"
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def api_key(self) -> str:
        """The first configured API key."""
        return next(iter(self.api_keys))

    def url(self, path: str) -> str:
        return self.base_url + path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables pointing an appliance at this fake (SPEC §17 names)."""
        return {"SCAIGRID_BASE_URL": self.base_url, "SCAIGRID_API_KEY": self.api_key, **extra}

    # -- credentials -----------------------------------------------------------------------
    def add_api_key(self, key: str, tenant_slug: str = DEFAULT_TENANT) -> None:
        self.api_keys[key] = tenant_slug

    def trust_jwt_key(self, public_key: Any) -> None:
        """Accept JWTs (RS256/ES256, signature and `exp` checked) signed by this key."""
        self.jwt_key_sources.append(lambda: [public_key])

    def trust_scaikey(self, scaikey: Any) -> None:
        """Accept JWTs signed by any key a FakeScaiKey publishes (now or after rotation)."""
        self.jwt_key_sources.append(
            lambda: [k.private_key.public_key() for k in scaikey.keys])

    # -- inspection -------------------------------------------------------------------------
    def requests_to(self, route: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == route]

    def last(self, route: str) -> RecordedRequest:
        found = self.requests_to(route)
        assert found, f"no request to {route}"
        return found[-1]

    def bearers_used(self, route: str | None = None) -> list[str | None]:
        return [r.bearer for r in self.requests if route is None or r.route == route]

    def pending_checkpoints(self) -> list[Checkpoint]:
        return [c for c in self.checkpoints.values() if c.status == "pending"]

    # -- switches ---------------------------------------------------------------------------
    def fail(self, route: str | None = None, status: int = 500, *, code: str | None = None,
             message: str | None = None, retry_after: str | None = "1",
             times: int | None = None) -> None:
        self.faults[route] = Fault(status=status, code=code, message=message,
                                   retry_after=retry_after, times=times)

    def stall(self, seconds: float, route: str | None = None, *,
              times: int | None = None) -> None:
        self.faults[route] = Fault(stall_seconds=seconds, times=times)

    def malformed(self, route: str | None = None, *, times: int | None = None) -> None:
        self.faults[route] = Fault(malformed=True, times=times)

    def huge(self, route: str | None = None, size: int = 8 * 1024 * 1024, *,
             times: int | None = None) -> None:
        self.faults[route] = Fault(huge_bytes=size, times=times)

    def redirect(self, route: str | None, location: str, *, times: int | None = None) -> None:
        self.faults[route] = Fault(redirect_to=location, times=times)

    def race(self, route: str, times: int = 1) -> None:
        if route not in RACE_ROUTES:
            raise ValueError(f"race() applies to {sorted(RACE_ROUTES)}")
        self.races[route] += times

    def clear_faults(self) -> None:
        self.faults.clear()
        self.races.clear()

    # -- server internals ------------------------------------------------------------------
    def _add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post(CORE + "/cores", self._create_core, name="create_core")
        r.add_get(CORE + "/cores/{core_id}", self._get_core, name="get_core")
        r.add_post(CORE + "/cores/{core_id}/publish", self._publish_core, name="publish_core")
        r.add_post(CORE + "/cores/{core_id}/invoke", self._invoke_core, name="invoke_core")
        r.add_get(CORE + "/events", self._list_events, name="list_events")
        r.add_get(CORE + "/checkpoints", self._list_checkpoints, name="list_checkpoints")
        r.add_post(CORE + "/checkpoints/{checkpoint_id}/resolve", self._resolve_checkpoint,
                   name="resolve_checkpoint")
        r.add_get(API + "/models", self._list_models, name="list_models")
        r.add_get(QUEUE + "/scopes", self._list_scopes, name="list_scopes")
        r.add_post(QUEUE + "/scopes", self._create_scope, name="create_scope")
        r.add_get(QUEUE + "/scopes/{scope_id}/queues", self._list_queues, name="list_queues")
        r.add_post(QUEUE + "/scopes/{scope_id}/queues", self._create_queue,
                   name="create_queue")
        r.add_get(BUNKER + "/bunkers", self._list_bunkers, name="list_bunkers")

    @staticmethod
    def error(status: int, message: str, *, code: str | None = None,
              retry_after: str | None = None, details: Any = None) -> web.Response:
        error: dict[str, Any] = {
            "code": code or STATUS_CODES.get(status, "INTERNAL_ERROR"), "message": message}
        headers: dict[str, str] = {}
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if status == 429 and retry_after is not None:
            headers["Retry-After"] = retry_after
            with contextlib.suppress(ValueError):
                error["retry_after"] = int(retry_after)
        if details is not None:
            error["details"] = details
        body = {"status": "error", "error": error,
                "meta": {"request_id": "req_" + secrets.token_hex(6)}}
        return web.json_response(body, status=status, headers=headers)

    @staticmethod
    def ok(data: Any, status: int = 200) -> web.Response:
        return web.json_response({"status": "ok", "data": data}, status=status)

    def _take_fault(self, route: str) -> Fault | None:
        key: str | None = route if route in self.faults else None
        fault = self.faults.get(key)
        if fault is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self.faults[key]
        return fault

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        route = request.match_info.route.name or "unknown"
        self.hits[route] += 1
        record = RecordedRequest(route, request.method, request.path,
                                 request.raw_path.split("?", 1)[0], dict(request.query),
                                 request.headers.get("Authorization"), request.content_type,
                                 await request.read())
        self.requests.append(record)
        fault = self._take_fault(route)
        if fault is not None:
            answer = await self._apply_fault(request, fault)
            if answer is not None:
                return answer
        if route == "unknown":  # no such route: aiohttp's own 404/405, as an envelope
            try:
                return await handler(request)  # type: ignore[no-any-return]
            except web.HTTPException as exc:
                return self.error(exc.status, exc.reason)
        caller = self._authenticate(record)
        if caller is None:
            return self.error(401, "invalid or missing credentials")
        record.identity = caller.identity
        request[CALLER] = caller
        response: web.StreamResponse = await handler(request)
        return response

    async def _apply_fault(self, request: web.Request, fault: Fault) -> web.StreamResponse | None:
        if fault.stall_seconds:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.stall_seconds)
        if fault.status:
            return self.error(fault.status, fault.message or "injected failure",
                              code=fault.code, retry_after=fault.retry_after)
        if fault.redirect_to is not None:
            return web.Response(status=302, headers={"Location": fault.redirect_to})
        if fault.malformed:
            return web.Response(body=b'{"status": "ok", "data": {"id": ',
                                content_type="application/json")
        if fault.huge_bytes:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b'{"status": "ok", "data": {"blob": "')
            chunk = b"x" * 65536
            remaining = fault.huge_bytes
            with contextlib.suppress(ConnectionError):
                while remaining > 0:
                    await response.write(chunk[:remaining])
                    remaining -= len(chunk)
                await response.write(b'"}}')
                await response.write_eof()
            return response
        return None

    def _authenticate(self, record: RecordedRequest) -> Caller | None:
        bearer = record.bearer
        if bearer is None:
            return None
        tenant = self.api_keys.get(bearer)
        if tenant is not None:
            return Caller(tenant, f"api_key:{tenant}")
        if bearer.count(".") == 2:
            claims = self._verify_jwt(bearer)
            if claims is not None:
                tenant_slug = claims.get("tenant_slug")
                if not isinstance(tenant_slug, str):
                    tenant_id = str(claims.get("tenant_id") or DEFAULT_TENANT)
                    tenant_slug = tenant_id.removeprefix("tnt_")
                return Caller(tenant_slug, f"jwt:{claims.get('sub')}")
        if self.accept_any_bearer:
            return Caller(DEFAULT_TENANT, "any")
        return None

    def _verify_jwt(self, token: str) -> dict[str, Any] | None:
        for source in self.jwt_key_sources:
            for key in source():
                try:
                    claims: dict[str, Any] = jwt.decode(
                        token, key, algorithms=["RS256", "ES256"],
                        options={"verify_aud": False, "require": ["exp"]})
                except jwt.PyJWTError:
                    continue
                return claims
        return None

    @staticmethod
    def _caller(request: web.Request) -> Caller:
        return request[CALLER]

    @staticmethod
    async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return FakeScaiGrid.error(400, "body is not JSON")
        if not isinstance(body, dict):
            return FakeScaiGrid.error(400, "body must be a JSON object")
        return body

    # cores
    async def _create_core(self, request: web.Request) -> web.Response:
        if request.content_type not in ("application/yaml", "application/x-yaml", "text/yaml"):
            return self.error(415, "the manifest must be sent as application/yaml")
        try:
            manifest = yaml.safe_load(await request.text())
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            return self.error(400, f"manifest is not YAML: {type(exc).__name__}")
        core = manifest.get("core") if isinstance(manifest, dict) else None
        if not isinstance(core, dict) or not isinstance(core.get("name"), str) \
                or not core["name"]:
            return self.error(400, "manifest must be a mapping with core.name",
                              details=[{"field": "core.name"}])
        caller = self._caller(request)
        created = Core(_new_id("core_"), caller.tenant_slug, core["name"], manifest,
                       await request.text(), _now())
        self.cores[created.id] = created
        return self.ok(created.as_json(), status=201)

    def _own_core(self, request: web.Request) -> Core | None:
        core = self.cores.get(request.match_info["core_id"])
        if core is None or core.tenant_slug != self._caller(request).tenant_slug:
            return None
        return core

    async def _get_core(self, request: web.Request) -> web.Response:
        core = self._own_core(request)
        if core is None:
            return self.error(404, "core not found")
        return self.ok(core.as_json())

    async def _publish_core(self, request: web.Request) -> web.Response:
        core = self._own_core(request)
        if core is None:
            return self.error(404, "core not found")
        body = await self._json_object(request)
        if isinstance(body, web.Response):
            return body
        group_ids = body.get("group_ids", [])
        if not isinstance(group_ids, list) or not all(isinstance(g, str) for g in group_ids):
            return self.error(400, "group_ids must be a list of strings")
        if core.published_slug is not None:
            return self.error(400, "already published", code="VALIDATION_ERROR")
        core.published_slug = f"scaicore/{core.tenant_slug}/{core.slug}"
        core.group_ids = list(group_ids)
        return self.ok({"published_slug": core.published_slug, "core_id": core.id,
                        "group_ids": core.group_ids})

    async def _invoke_core(self, request: web.Request) -> web.Response:
        core = self._own_core(request)
        if core is None:
            return self.error(404, "core not found")
        body = await self._json_object(request)
        if isinstance(body, web.Response):
            return body
        invocation_input = body.get("input", {})
        if not isinstance(invocation_input, dict):
            return self.error(400, "input must be an object")
        invocation_id = _new_id("inv_")
        self._emit(core, "scaicore.runtime.invocation.started",
                   {"invocation_id": invocation_id, "input": invocation_input})
        return self.ok(self._run(core, invocation_id, invocation_input, 0))

    def _run(self, core: Core, invocation_id: str, invocation_input: Any,
             start: int) -> dict[str, Any]:
        """Walk the core's steps from `start` (events as it goes) until the end or a
        checkpoint; the invocation's state as the invoke answer reports it."""
        steps = core.steps
        for index in range(start, len(steps)):
            step = steps[index] if isinstance(steps[index], dict) else {}
            kind = next(iter(step), "step")
            meta = step.get("meta")
            block = (meta.get("node_id") if isinstance(meta, dict) else None) or f"step_{index}"
            payload = {"invocation_id": invocation_id, "block": block, "kind": kind}
            self._emit(core, "scaicore.runtime.block.entered", payload)
            if self.invocation_failure is not None:
                failure = {"invocation_id": invocation_id, "error": self.invocation_failure}
                self._emit(core, "scaicore.runtime.block.failed", {**payload, **failure})
                self._emit(core, "scaicore.runtime.invocation.failed", failure)
                return {"invocation_id": invocation_id, "core_id": core.id,
                        "status": "failed", "error": self.invocation_failure}
            if kind == "checkpoint":
                config = step.get("checkpoint")
                checkpoint = Checkpoint(
                    _new_id("cp_"), core.tenant_slug, core.id, invocation_id, block, index,
                    str(config.get("type", "approval")) if isinstance(config, dict)
                    else "approval", _now(), invocation_input)
                self.checkpoints[checkpoint.id] = checkpoint
                return {"invocation_id": invocation_id, "core_id": core.id,
                        "status": "waiting", "checkpoint_id": checkpoint.id}
            self._emit(core, "scaicore.runtime.block.exited", {**payload, "status": "ok"})
        self._emit(core, "scaicore.runtime.invocation.completed",
                   {"invocation_id": invocation_id, "output": invocation_input})
        return {"invocation_id": invocation_id, "core_id": core.id, "status": "completed",
                "output": invocation_input}

    def _emit(self, core: Core, event_type: str, payload: dict[str, Any]) -> None:
        self.events.append(Event(len(self.events) + 1, core.tenant_slug, event_type, core.id,
                                 _now(), payload))

    # events and checkpoints
    @staticmethod
    def _cursor(kind: str, position: int) -> str:
        raw = f"{kind}:{position}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _paging(self, request: web.Request, kind: str) -> tuple[int, int] | web.Response:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return self.error(400, "limit must be an integer")
        if not 1 <= limit <= 500:
            return self.error(400, "limit must be between 1 and 500")
        cursor = request.query.get("cursor")
        if not cursor:
            return limit, 0
        try:
            decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            cursor_kind, _, position = decoded.partition(":")
            start = int(position)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return self.error(400, "invalid cursor")
        end = len(self.events) if kind == "events" else len(self.checkpoints)
        if cursor_kind != kind or not 0 <= start <= end:
            return self.error(400, "invalid cursor")
        return limit, start

    async def _list_events(self, request: web.Request) -> web.Response:
        paging = self._paging(request, "events")
        if isinstance(paging, web.Response):
            return paging
        limit, start = paging
        tenant = self._caller(request).tenant_slug
        core_id = request.query.get("core_id")
        # The cursor is a position in the whole log (seq), so it survives other tenants'
        # events and filters.
        matching = [e for e in self.events[start:]
                    if e.tenant_slug == tenant and (core_id is None or e.core_id == core_id)]
        page = matching[:limit]
        position = page[-1].seq if page else start
        return self.ok({"events": [e.as_json() for e in page],
                        "next_cursor": self._cursor("events", position)})

    async def _list_checkpoints(self, request: web.Request) -> web.Response:
        paging = self._paging(request, "checkpoints")
        if isinstance(paging, web.Response):
            return paging
        limit, start = paging
        tenant = self._caller(request).tenant_slug
        core_id = request.query.get("core_id")
        status = request.query.get("status")
        matching = [c for c in self.checkpoints.values()
                    if c.tenant_slug == tenant and (core_id is None or c.core_id == core_id)
                    and (status is None or c.status == status)]
        page = matching[start:start + limit]
        more = start + limit < len(matching)
        return self.ok({"checkpoints": [c.as_json() for c in page],
                        "next_cursor": self._cursor("checkpoints", start + limit)
                        if more else None})

    async def _resolve_checkpoint(self, request: web.Request) -> web.Response:
        checkpoint = self.checkpoints.get(request.match_info["checkpoint_id"])
        if checkpoint is None or checkpoint.tenant_slug != self._caller(request).tenant_slug:
            return self.error(404, "checkpoint not found")
        body = await self._json_object(request)
        if isinstance(body, web.Response):
            return body
        if "resolution" not in body:
            return self.error(400, "resolution is required", details=[{"field": "resolution"}])
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            return self.error(400, "comment must be a string")
        if checkpoint.status != "pending":
            return self.error(409, "checkpoint already resolved")
        checkpoint.status = "resolved"
        checkpoint.resolution = body["resolution"]
        checkpoint.comment = comment
        checkpoint.resolved_at = _now()
        core = self.cores[checkpoint.core_id]
        self._emit(core, "scaicore.runtime.block.exited",
                   {"invocation_id": checkpoint.invocation_id, "block": checkpoint.block,
                    "kind": "checkpoint", "status": "ok",
                    "resolution": checkpoint.resolution})
        self._run(core, checkpoint.invocation_id, checkpoint.input, checkpoint.step_index + 1)
        return self.ok(checkpoint.as_json())

    # models and bunkers
    async def _list_models(self, request: web.Request) -> web.Response:
        if self.models_envelope == "openai":
            return web.json_response({"object": "list", "data": [
                {"id": m["slug"], "object": "model", "created": 1_700_000_000,
                 "owned_by": m.get("provider", "scaigrid")} for m in self.models]})
        if self.models_envelope == "data":
            return web.json_response({"data": self.models})
        return self.ok({"items": self.models, "total": len(self.models)})

    def _list(self, items: list[dict[str, Any]]) -> web.Response:
        if self.list_shape == "items":
            return self.ok({"items": items, "total": len(items)})
        return self.ok(items)

    async def _list_bunkers(self, request: web.Request) -> web.Response:
        status = None if self.bunkers_ignore_status else request.query.get("status")
        return self._list([b for b in self.bunkers
                           if status is None or b.get("status") == status])

    # ScaiQueue
    @staticmethod
    def _slug_problem(value: Any) -> str | None:
        if not isinstance(value, str) or not 1 <= len(value) <= 63 \
                or not set(value) <= SLUG_CHARS or not value[0].isalnum():
            return "slug must be 1-63 lowercase letters, digits, '-' or '_'"
        return None

    def _tenant_scopes(self, tenant: str) -> list[Scope]:
        return [s for s in self.scopes.values() if s.tenant_slug == tenant]

    async def _list_scopes(self, request: web.Request) -> web.Response:
        tenant = self._caller(request).tenant_slug
        return self._list([s.as_json() for s in self._tenant_scopes(tenant)])

    async def _create_scope(self, request: web.Request) -> web.Response:
        body = await self._json_object(request)
        if isinstance(body, web.Response):
            return body
        slug, display_name = body.get("slug"), body.get("display_name", body.get("slug"))
        problem = self._slug_problem(slug)
        if problem is None and not isinstance(display_name, str):
            problem = "display_name must be a string"
        if problem is not None:
            return self.error(400, problem)
        tenant = self._caller(request).tenant_slug
        if self.races["create_scope"] > 0:  # someone else was faster
            self.races["create_scope"] -= 1
            self._add_scope(tenant, str(slug), f"{display_name} (created concurrently)")
        if any(s.slug == slug for s in self._tenant_scopes(tenant)):
            return self.error(409, f"scope '{slug}' already exists")
        scope = self._add_scope(tenant, str(slug), str(display_name))
        return self.ok(scope.as_json(), status=201)

    def _add_scope(self, tenant: str, slug: str, display_name: str) -> Scope:
        scope = Scope(_new_id("sc_"), tenant, slug, display_name)
        self.scopes[scope.id] = scope
        return scope

    def _own_scope(self, request: web.Request) -> Scope | None:
        scope = self.scopes.get(request.match_info["scope_id"])
        if scope is None or scope.tenant_slug != self._caller(request).tenant_slug:
            return None
        return scope

    async def _list_queues(self, request: web.Request) -> web.Response:
        scope = self._own_scope(request)
        if scope is None:
            return self.error(404, "scope not found")
        return self._list([q.as_json() for q in self.queues.values()
                           if q.scope_id == scope.id])

    async def _create_queue(self, request: web.Request) -> web.Response:
        scope = self._own_scope(request)
        if scope is None:
            return self.error(404, "scope not found")
        body = await self._json_object(request)
        if isinstance(body, web.Response):
            return body
        slug = body.get("slug")
        display_name = body.get("display_name", slug)
        ordering = body.get("ordering", "fifo")
        max_retries = body.get("max_retries", 5)
        problem = self._slug_problem(slug)
        if problem is None and not isinstance(display_name, str):
            problem = "display_name must be a string"
        if problem is None and ordering not in ORDERINGS:
            problem = f"ordering must be one of {sorted(ORDERINGS)}"
        if problem is None and (not isinstance(max_retries, int) or isinstance(max_retries, bool)
                                or not 0 <= max_retries <= 100):
            problem = "max_retries must be an integer 0-100"
        if problem is not None:
            return self.error(400, problem)
        if self.races["create_queue"] > 0:
            self.races["create_queue"] -= 1
            self._add_queue(scope, str(slug), f"{display_name} (created concurrently)",
                            str(ordering), int(max_retries))
        if any(q.scope_id == scope.id and q.slug == slug for q in self.queues.values()):
            return self.error(409, f"queue '{slug}' already exists in scope '{scope.slug}'")
        queue = self._add_queue(scope, str(slug), str(display_name), str(ordering),
                                int(max_retries))
        return self.ok(queue.as_json(), status=201)

    def _add_queue(self, scope: Scope, slug: str, display_name: str, ordering: str,
                   max_retries: int) -> Queue:
        queue = Queue(_new_id("q_"), scope.id, slug, display_name, ordering, max_retries)
        self.queues[queue.id] = queue
        return queue


# -- by hand -------------------------------------------------------------------------------
def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.scaigrid",
        description="A ScaiGrid stand-in (SPEC §18.1) with in-memory state, for trying the "
                    "appliance's deploy, lookups and ScaiCore proxy without a real ScaiGrid.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--api-key", help="the accepted API key (default: a random one)")
    parser.add_argument("--tenant-slug", default=DEFAULT_TENANT,
                        help="the tenant slug of that key (published slugs use it)")
    parser.add_argument("--accept-any-bearer", action="store_true",
                        help="accept any bearer (e.g. ScaiKey user tokens) as that tenant")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    api_key = args.api_key or "sgk_" + secrets.token_hex(16)
    fake = FakeScaiGrid(api_keys={api_key: args.tenant_slug},
                        accept_any_bearer=args.accept_any_bearer)
    await fake.start(args.host, args.port)
    print(f"ScaiGrid stand-in listening on {fake.base_url} (tenant slug "
          f"'{args.tenant_slug}')", flush=True)
    print("Point the appliance at it:", flush=True)
    print(f"  SCAIGRID_BASE_URL={fake.base_url} SCAIGRID_API_KEY={api_key} "
          "scaiflow-box serve", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    started = time.monotonic()
    await stop.wait()
    await fake.stop()
    print(f"stopped after {time.monotonic() - started:.0f} s, {len(fake.requests)} requests",
          file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve(_parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
