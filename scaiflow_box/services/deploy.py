"""Deploy (SPEC §7): compile a stored version and create it as a core on ScaiGrid.

Steps, in order: load the chosen version; validate + compile (400 `compile_error`); resolve
the ScaiGrid credentials (412 when there are none); provision ScaiQueue scopes and queues
when the flow declares them (502 `scaiqueue_auth` / `scaiqueue_provision_failed`, before any
core exists); create the core (502 `scaicore_create_failed`); publish it as a model when asked
(an "already published" answer is success; 502 `scaicore_publish_failed`); record the
Deployment. Every attempt that reached ScaiGrid is recorded, failures included, so the
canvas can show why the last deploy failed.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson

from scaiflow_box.auth.principal import Principal
from scaiflow_box.compiler.emit_yaml import CompileResult, compile_flow
from scaiflow_box.config import Settings
from scaiflow_box.errors import InvalidInput, NotAuthenticated, NotConfigured, UpstreamFailed
from scaiflow_box.ids import new_id
from scaiflow_box.services.credentials import CredentialService
from scaiflow_box.services.flows import FlowService
from scaiflow_box.services.scaigrid_errors import upstream_failed
from scaiflow_box.store import audit
from scaiflow_box.store import deployments as deployment_rows
from scaiflow_box.store.database import Database
from scaiflow_box.store.engine import Connection
from scaiflow_box.store.read_cache import NOTHING_CACHED
from scaiflow_box.timestamps import now_iso
from scaiflow_box.upstream.scaigrid import ScaiGridAuth, ScaiGridClient, ScaiGridError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoreCreated:
    core_id: str
    published_slug: str | None


def compile_for_deploy(content: dict[str, Any], version: str) -> str:
    """The YAML manifest, or 400 `compile_error` with the errors (nothing is sent)."""
    result: CompileResult = compile_flow(content, "yaml")
    if result.body is None:
        raise InvalidInput(f"flow version {version} does not compile", code="compile_error",
                           fix="Fix the errors listed (POST /api/v1/flows/validate shows them).",
                           errors=result.errors)
    return result.body


def _queue_spec(queue: Any) -> dict[str, Any]:
    spec = queue if isinstance(queue, dict) else {}
    return {"slug": spec.get("slug"),
            "display_name": spec.get("display_name") or spec.get("slug"),
            "ordering": spec.get("consumer_mode") or "fifo",
            "max_retries": spec.get("max_retries", 5)}


async def provision_scaiqueue(scaigrid: ScaiGridClient, auth: ScaiGridAuth,
                              config: dict[str, Any]) -> None:
    """Find-or-create the flow's ScaiQueue scope and queues (idempotent, 409-tolerant)."""
    scaiqueue = config.get("scaiqueue")
    if not isinstance(scaiqueue, dict):
        return
    scope_slug = scaiqueue.get("scope")
    queues = scaiqueue.get("queues") or []
    if not scope_slug or not isinstance(scope_slug, str):
        if queues:
            raise InvalidInput("config.scaiqueue has queues but no scope",
                               code="compile_error", errors=[])
        return
    queue_slug: str | None = None
    try:
        scope = await scaigrid.ensure_scope(auth, scope_slug, scope_slug)
        for queue in queues:
            spec = _queue_spec(queue)
            queue_slug = spec["slug"]
            await scaigrid.ensure_queue(auth, str(scope["id"]), **spec)
    except ScaiGridError as exc:
        code = "scaiqueue_auth" if exc.kind == "auth" else "scaiqueue_provision_failed"
        error = upstream_failed(code, f"ScaiQueue provisioning failed: {exc.message}",
                                status=exc.status, upstream_code=exc.code)
        error.extra["scope"] = scope_slug
        error.extra["queue"] = queue_slug
        raise error from None


async def create_and_publish(scaigrid: ScaiGridClient, auth: ScaiGridAuth, manifest: str, *,
                             publish: bool, group_ids: list[str]) -> CoreCreated:
    try:
        core = await scaigrid.create_core(auth, manifest)
    except ScaiGridError as exc:
        raise upstream_failed("scaicore_create_failed",
                              f"ScaiGrid did not create the core: {exc.message}",
                              status=exc.status, upstream_code=exc.code) from None
    core_id = str(core.get("id") or "")
    if not core_id:
        raise upstream_failed("scaicore_create_failed", "ScaiGrid answered without a core id")
    published: str | None = None
    if publish:
        try:
            published = await scaigrid.publish_core(auth, core_id, group_ids)
        except ScaiGridError as exc:
            error = upstream_failed("scaicore_publish_failed",
                                    f"ScaiGrid did not publish the core: {exc.message}",
                                    status=exc.status, upstream_code=exc.code)
            error.extra["core_id"] = core_id
            raise error from None
    return CoreCreated(core_id, published)


def wants_publish(config: dict[str, Any], requested: bool | None) -> bool:
    """The body decides; without it, the flow's `config.publish_as_model`."""
    if requested is not None:
        return requested
    return config.get("publish_as_model") is True


def group_ids_of(config: dict[str, Any]) -> list[str]:
    ids = config.get("model_visibility_group_ids") or []
    return [str(i) for i in ids if isinstance(i, str)]


class DeployService:
    def __init__(self, db: Database, settings: Settings, flows: FlowService,
                 credentials: CredentialService, scaigrid: ScaiGridClient) -> None:
        self.db = db
        self.settings = settings
        self.flows = flows
        self.credentials = credentials
        self.scaigrid = scaigrid

    def check_dev_token(self, presented: str | None) -> None:
        """Authenticates `POST /dev/deploy` (SPEC §7.2), before its body is read: 503 while
        SCAIFLOW_API_TOKEN is unset (the endpoint is off: there is no token to guess), else
        401 unless `presented` is the dev token (compared in constant time)."""
        expected = self.settings.api_token
        if not expected:
            raise NotConfigured("the dev token is not configured on this appliance",
                                code="dev_token_not_configured",
                                fix="Set SCAIFLOW_API_TOKEN, or deploy a stored flow with "
                                    "POST /api/v1/flows/{flow_id}/deploy.")
        if presented is None:
            raise NotAuthenticated()
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise NotAuthenticated("wrong dev token")

    async def dev_deploy(self, content: dict[str, Any], *, publish_as_model: bool | None,
                         request_id: str | None) -> CoreCreated:
        """The deprecated `POST /dev/deploy` (SPEC §7.2), for a caller `check_dev_token`
        let through: only `SCAIGRID_API_KEY`; nothing is stored but the audit row."""
        manifest = await asyncio.get_running_loop().run_in_executor(
            None, compile_for_deploy, content, str(content.get("version") or "content"))
        auth = self.credentials.environment_auth(missing="missing_scaigrid_credentials")
        raw_config = content.get("config")
        config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
        await provision_scaiqueue(self.scaigrid, auth, config)
        created = await create_and_publish(
            self.scaigrid, auth, manifest, publish=wants_publish(config, publish_as_model),
            group_ids=group_ids_of(config))
        await self.db.write(lambda conn: audit.record(
            conn, tenant_id=None, actor="dev-token", action="dev.deployed",
            target_type="core", target_id=created.core_id,
            details={"published_slug": created.published_slug}, request_id=request_id),
            flows_changed=NOTHING_CACHED)
        return created

    async def deploy(self, principal: Principal, flow_id: str, *, version: str | None,
                     publish_as_model: bool | None, request_id: str | None) -> dict[str, Any]:
        """The recorded Deployment (201); a failure after ScaiGrid was reached is recorded
        too, then raised (its detail names the deployment id)."""
        principal.require_manage()
        started = time.perf_counter()
        chosen, raw = await self.flows.content_for(principal, flow_id, version, "deploy")
        content: dict[str, Any] = orjson.loads(raw)
        loop = asyncio.get_running_loop()
        manifest = await loop.run_in_executor(None, compile_for_deploy, content, chosen)
        auth = await self.credentials.scaigrid_auth(principal,
                                                    missing="missing_scaigrid_credentials")
        raw_config = content.get("config")
        config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
        try:
            await provision_scaiqueue(self.scaigrid, auth, config)
            created = await create_and_publish(
                self.scaigrid, auth, manifest, publish=wants_publish(config, publish_as_model),
                group_ids=group_ids_of(config))
        except UpstreamFailed as exc:
            record = await self._record(principal, flow_id, chosen, started, request_id,
                                        core_id=exc.extra.get("core_id"), published_slug=None,
                                        error=f"{exc.code}: {exc.message}")
            exc.extra["deployment_id"] = record["id"]
            raise
        return await self._record(principal, flow_id, chosen, started, request_id,
                                  core_id=created.core_id,
                                  published_slug=created.published_slug, error=None)

    async def _record(self, principal: Principal, flow_id: str, version: str, started: float,
                      request_id: str | None, *, core_id: str | None,
                      published_slug: str | None, error: str | None) -> dict[str, Any]:
        deployment_id = new_id("dep")
        status = "failed" if error else "succeeded"
        duration_ms = int((time.perf_counter() - started) * 1000)

        def run(conn: Connection) -> dict[str, Any]:
            deployment_rows.insert_deployment(
                conn, deployment_id=deployment_id, tenant_id=principal.tenant_id,
                flow_id=flow_id, version=version, core_id=core_id,
                published_slug=published_slug, status=status, error=error,
                deployed_by=principal.sub, created_at=now_iso(), duration_ms=duration_ms)
            audit.record(conn, tenant_id=principal.tenant_id, actor=principal.sub,
                         action="flow.deployed" if not error else "flow.deploy_failed",
                         target_type="flow", target_id=flow_id,
                         details={"deployment_id": deployment_id, "version": version,
                                  "core_id": core_id, "status": status},
                         request_id=request_id)
            row = deployment_rows.get_deployment(conn, principal.tenant_id, deployment_id)
            if row is None:
                raise RuntimeError("deployment vanished inside its own transaction")
            return dict(row)

        # A deployment row and an audit row: nothing a cached read was made from.
        return await self.db.write(run, flows_changed=())
