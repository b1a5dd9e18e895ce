"""Run the appliance: logging, the aiohttp runner, graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import errno
import gc
import json
import logging
import os
import signal
import sys

from aiohttp import web

from scaiflow_box import __version__
from scaiflow_box.app import create_app
from scaiflow_box.config import Settings
from scaiflow_box.http.protocol import ApplianceRunner
from scaiflow_box.store.dir_lock import DataDirBusy, DataDirLock

log = logging.getLogger("scaiflow_box")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
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
    root.setLevel(logging.INFO)
    # Access lines carry method, path and status only: never headers (tokens).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


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
    runner = ApplianceRunner(app, handle_signals=False, shutdown_timeout=15.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.api_host, settings.api_port, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()  # the app started (DB, sessions): close it before giving up
        raise CannotListen(settings.api_host, settings.api_port, exc) from None
    log.info("scaiflow-box %s listening on http://%s:%d", __version__, settings.api_host,
             settings.api_port)
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
    configure_logging(settings)
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
