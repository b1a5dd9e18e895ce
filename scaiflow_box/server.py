"""Run the appliance: logging, the aiohttp runner, graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import logging
import os
import resource
import signal
import sys

from scaiflow_box.app import create_app
from scaiflow_box.build_info import build_info
from scaiflow_box.config import Settings, check_serving
from scaiflow_box.config_values import without_userinfo
from scaiflow_box.http.protocol import ApplianceRunner, ApplianceSite
from scaiflow_box.log_ring import LEVELS
from scaiflow_box.services.system import listen_url
from scaiflow_box.store.dir_lock import DataDirBusy, DataDirLock

log = logging.getLogger("scaiflow_box")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # `pid`: which process of a host wrote the line, once several serve one site behind
        # a load balancer (the log shipper adds the host).
        entry: dict[str, object] = {"ts": self.formatTime(record), "level": record.levelname,
                                    "logger": record.name, "pid": record.process,
                                    "message": record.getMessage()}
        access = getattr(record, "access", None)
        if isinstance(access, dict):  # an access line's fields, for log processors
            entry.update(access)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[settings.log_level])
    # aiohttp's own access lines would carry the query string (`?token=`): the runner has
    # none (run_server), and should one appear it stays quiet. Ours: SCAIFLOW_ACCESS_LOG.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _scaikey_mode(settings: Settings) -> str:
    if settings.auth_disabled:
        return "authentication DISABLED (dev only)"
    if not settings.scaikey_configured:
        return "off (the appliance's service tokens only)"
    if settings.scaikey_jwks_file is not None:
        where = f"static JWKS file {settings.scaikey_jwks_file}"
    elif settings.scaikey_jwks_url is not None:
        where = f"JWKS {without_userinfo(settings.scaikey_jwks_url)}"
    else:
        issuer = settings.scaikey_issuer or settings.scaikey_base_url or ""
        where = f"discovery at {without_userinfo(issuer)}"
    sign_in = bool(settings.scaikey_base_url and settings.scaikey_client_id
                   and settings.scaikey_client_secret)
    return (f"{where}, audience {settings.expected_audience or 'unset'}"
            f"{', sign-in on' if sign_in else ''}")


def _scaigrid_mode(settings: Settings) -> str:
    if settings.scaigrid_base_url is None:
        return "per-tenant credentials only"
    key = ", with a fallback key" if settings.scaigrid_api_key else ""
    return f"{without_userinfo(settings.scaigrid_base_url)} for tenants without their own{key}"


def startup_line(settings: Settings) -> str:
    """What an operator checks first in a log: which build, where it listens and keeps its
    data, how it authenticates and reaches ScaiGrid, which browsers it serves, whether it
    exports metrics. Never a secret (only whether one is set)."""
    metrics = ("on, /metrics from " + ",".join(str(n) for n in settings.metrics_allow_from)
               if settings.metrics else "off")
    return "; ".join([
        f"{build_info().describe()} listening on {listen_url(settings)}",
        f"data dir {settings.data_dir.resolve()}",
        f"ScaiKey: {_scaikey_mode(settings)}",
        f"ScaiGrid: {_scaigrid_mode(settings)}",
        f"CORS origins: {', '.join(settings.cors_origins) or 'none'}",
        f"metrics: {metrics}",
        f"log level {settings.log_level}, access log {'on' if settings.access_log else 'off'}",
    ])


class CannotListen(Exception):
    """The listening socket could not be opened; the message (one line) says what to change."""

    def __init__(self, host: str, port: int, cause: OSError) -> None:
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if cause.errno == errno.EADDRINUSE:
            why = "the port is already in use"
        else:
            why = os.strerror(cause.errno) if cause.errno else str(cause)
        if cause.errno in (errno.EADDRINUSE, errno.EACCES):
            hint = "pick another port with --port or SCAIFLOW_API_PORT"
        else:
            hint = "check --host/--port (SCAIFLOW_API_HOST, SCAIFLOW_API_PORT)"
        super().__init__(f"cannot listen on {where}: {why}; {hint}")


async def run_server(settings: Settings, stop: asyncio.Event) -> None:
    app = create_app(settings)
    # No aiohttp access logger: its lines carry the query string (`?token=`); ours do not.
    runner = ApplianceRunner(app, handle_signals=False, shutdown_timeout=15.0, access_log=None)
    await runner.setup()
    cap = runner.registry.max_connections
    if cap < settings.max_connections:
        log.warning("serving at most %d connections, not SCAIFLOW_MAX_CONNECTIONS=%d: the "
                    "open-file limit (%d) must also hold the database and upstream calls; "
                    "raise it (LimitNOFILE= in the systemd unit, ulimit -n) for more",
                    cap, settings.max_connections,
                    resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    site = ApplianceSite(runner, settings.api_host, settings.api_port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()  # the app started (DB, sessions): close it before giving up
        raise CannotListen(settings.api_host, settings.api_port, exc) from None
    log.info("%s", startup_line(settings))
    # What start-up built (modules, routes, models, settings) lives as long as the process:
    # moved out of the collector's generations, a full collection under load no longer walks
    # it (list p99 101 -> 65 ms at 64 connections with this alone; docs/performance.md).
    gc.collect()
    gc.freeze()
    try:
        await stop.wait()
    finally:
        log.info("draining and shutting down")
        await runner.cleanup()


def serve(settings: Settings) -> int:
    check_serving(settings)  # before anything is created or locked
    configure_logging(settings)
    for notice in settings.notices:
        log.warning("%s", notice)
    # Held shared while serving, so `restore` (exclusive) refuses to swap the database away.
    lock = DataDirLock(settings.data_dir, exclusive=False)
    try:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock.acquire()
    except DataDirBusy as exc:
        log.error("%s", exc)
        return 1
    except OSError as exc:
        log.error("cannot use the data directory %s: %s", settings.data_dir.resolve(),
                  exc.strerror or exc)
        return 1
    try:
        return _serve_locked(settings)
    finally:
        lock.release()


def _serve_locked(settings: Settings) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_server(settings, stop)

    try:
        asyncio.run(main())
    except CannotListen as exc:
        log.error("%s", exc)
        return 1
    except OSError as exc:
        log.error("cannot serve on %s:%d: %s", settings.api_host, settings.api_port,
                  exc.strerror or exc)
        return 1
    return 0
