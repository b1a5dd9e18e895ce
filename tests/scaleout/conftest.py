"""Several real appliance processes behind a real HAProxy (Debian packages), on loopback:
each on its own SQLite file (the routing tests), or all on one database of the tests' private
mariadbd (`maria_site`, `own_maria_site`: the end-to-end tests of issue 17)."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli_process import environment, run
from tests.mariadb_server import MariaDbDatabase, MariaDbServer
from tests.scaleout.haproxy import HaProxy, haproxy_path, wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def get(url: str, timeout_s: float = 5.0) -> tuple[int, dict[str, str]]:
    """(status, headers with lower-case names: HAProxy sends them so) of a GET without
    credentials (errors are answers too)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}


def process_of(headers: dict[str, str]) -> str:
    """Which process answered: request ids are a per-process prefix and a counter
    (`req_` + 8 hex digits, then 8 more)."""
    return headers["x-request-id"][:12]


@dataclass
class Appliance:
    """One `python -m scaiflow_box serve` process with its own data directory."""

    name: str
    data_dir: Path
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)  # settings beyond the data directory
    proc: subprocess.Popen[bytes] | None = None
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scaiflow_box", "serve", "--port", str(self.port)],
                env=environment(self.data_dir, self.env), stdout=log,
                stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        url = f"http://127.0.0.1:{self.port}/readyz"

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_path.read_text()
            try:
                return get(url, 1.0)[0] == 200
            except OSError:
                return False

        wait_until(ready, 60)
        self.prefix = process_of(get(f"http://127.0.0.1:{self.port}/healthz")[1])

    def kill(self) -> None:
        """kill -9: no drain, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Site:
    """Appliance processes behind HAProxy; `env` is what they share (on MariaDB: the database
    and the master key), `operator` a super admin's service token when they share a database."""

    proxy: HaProxy
    appliances: list[Appliance] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    database: MariaDbDatabase | None = None
    operator: str = ""

    def by_prefix(self, prefix: str) -> Appliance:
        return next(a for a in self.appliances if a.prefix == prefix)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A CLI command on the site's database, from the first process's data directory."""
        return run(*args, data_dir=self.appliances[0].data_dir, env=self.env)


def _require_haproxy() -> None:
    if haproxy_path() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("haproxy is missing on CI: .ci/run installs the Debian package haproxy")
        pytest.skip("haproxy is not installed (Debian package haproxy)")


def _site(workdir: Path, processes: int, shared: dict[str, str] | None = None
          ) -> Iterator[Site]:
    """`processes` appliances behind HAProxy. Without `shared`, each is initialised on its own
    SQLite file; with it (the settings of one MariaDB database and one master key), the
    database is initialised once and every process serves it."""
    _require_haproxy()
    appliances = [Appliance(f"p{n}", workdir / f"p{n}", free_port(), workdir / f"p{n}.log",
                            dict(shared or {})) for n in range(1, processes + 1)]
    for appliance in appliances[:1] if shared else appliances:
        done = run("init", data_dir=appliance.data_dir, env=appliance.env)
        assert done.returncode == 0, done.stderr
    try:
        for appliance in appliances:  # started together: python's start-up is most of it
            appliance.launch()
        for appliance in appliances:
            appliance.wait_ready()
        proxy = HaProxy(workdir, free_port(), [(a.name, a.port) for a in appliances])
        site = Site(proxy, appliances, dict(shared or {}))
        try:
            # Up when HAProxy answers and has seen every process healthy.
            def all_up() -> bool:
                try:
                    return len({process_of(get(proxy.url + "/healthz")[1])
                                for _ in range(8)}) == processes
                except OSError:
                    return False

            wait_until(all_up, 15, 0.2)
            yield site
        finally:
            proxy.stop()
    finally:
        for appliance in appliances:
            appliance.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Two processes behind HAProxy, shared by a module's tests (which must leave both up)."""
    yield from _site(tmp_path_factory.mktemp("site"), 2)


@pytest.fixture
def own_site(tmp_path: Path) -> Iterator[Site]:
    """Two processes behind HAProxy for one test, which may kill them."""
    yield from _site(tmp_path, 2)


# --- several processes on one MariaDB database -----------------------------------------------

# The marks of a module whose tests use `maria_site`: on one xdist worker (pyproject's
# `--dist loadgroup`), so the site is started once per run.
ON_MARIA_SITE = [pytest.mark.mariadb, pytest.mark.xdist_group("maria_site")]

# Leases of 3 s (renewed every second): a killed holder is replaced within seconds, not 30.
LEASE_SECONDS = 3


def _site_user(database: str) -> str:
    return f"box_{database}"


def shared_settings(server: MariaDbServer, workdir: Path) -> tuple[dict[str, str],
                                                                     MariaDbDatabase]:
    """What every process of a site is given, as docs/operations.md has an operator give it:
    a new database on the private server reached over TCP as a user with a password (in a
    0600 file), one master key for all (a process with another key refuses to start), short
    leases, and no scheduled directory sync (no ScaiKey here)."""
    _require_haproxy()  # before anything is made on the server
    workdir.mkdir(parents=True, exist_ok=True)
    name = server.create_database("site")
    user = _site_user(name)
    password = secrets.token_urlsafe(18)
    server.user_with_password(user, password, name)
    password_file = workdir / "db.password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    env = {"SCAIFLOW_DATABASE_URL": f"mariadb://{user}@127.0.0.1:{server.port}/{name}",
           "SCAIFLOW_DATABASE_PASSWORD_FILE": str(password_file),
           "SCAIFLOW_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
           "SCAIFLOW_LEASE_SECONDS": str(LEASE_SECONDS),
           "SCAIFLOW_SYNC_INTERVAL_MINUTES": "0"}
    return env, MariaDbDatabase(server=server, database=name,
                                unix_socket=str(server.socket_path))


def _maria_site(server: MariaDbServer, workdir: Path, processes: int) -> Iterator[Site]:
    env, database = shared_settings(server, workdir)
    try:
        for site in _site(workdir, processes, env):
            site.database = database
            minted = site.cli("token", "mint", "--sub", "usr_operator", "--tenant", "tnt_local")
            assert minted.returncode == 0, minted.stderr
            site.operator = minted.stdout.strip()
            yield site
    finally:
        server.drop_database(database.database)
        server.admin(f"DROP USER IF EXISTS '{_site_user(database.database)}'@'127.0.0.1'")


@pytest.fixture(scope="session")
def maria_site(mariadb_server: MariaDbServer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Site]:
    """Three processes on one MariaDB database behind HAProxy, shared by the session's tests
    (each makes flows and users of its own). A test that kills a process starts it again
    (`restart`) before it ends: starting a site costs more than all its tests."""
    yield from _maria_site(mariadb_server, tmp_path_factory.mktemp("maria-site"), 3)


def restart(site: Site, appliance: Appliance) -> None:
    """Start a killed process again on its port, and wait until HAProxy routes to it."""
    appliance.start()
    wait_until(lambda: all(site.proxy.server_states(backend)[appliance.name] == "UP"
                           for backend in ("api", "live")), 15, 0.1)
