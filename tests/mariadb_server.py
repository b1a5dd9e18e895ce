"""A real, private MariaDB server for the tests (docs/scale-out.md §6).

`start_server(base)` installs a fresh data directory under `base` with Debian's
`mariadb-install-db` and starts `mariadbd` on it with `--no-defaults` (no /etc/mysql file of the
machine applies), its own unix socket and a free port on 127.0.0.1. The server is tuned for a
throwaway test database: a small buffer pool and redo log (21 MB on disk, ~0.5 s to install,
~0.2 s to start), no binary log, no fsync per commit. It dies with the test process
(`PR_SET_PDEATHSIG`), so an interrupted run leaves no server behind.

Character set: `--no-defaults` means the server's compiled-in default, latin1 with a
case-insensitive collation, in which `'A' = 'a'` and ids would change meaning. The server is
started with utf8mb4 and `utf8mb4_bin` server-wide, so every database created without a
`CHARACTER SET` clause gets them too.

The tests connect as root: over the socket or over TCP from 127.0.0.1 (both are created without
a password by `--auth-root-authentication-method=normal`). `user_with_password()` adds a user
that needs one, for the password path of the driver.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

# Debian installs mariadbd in /usr/sbin, which is not on a non-root user's PATH.
_SEARCH = [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/usr/local/sbin",
           "/usr/libexec"]
DEBIAN_PACKAGE = "mariadb-server"
START_TIMEOUT = 30.0
_PORT_ATTEMPTS = 3
# A unix socket's path must fit sun_path (108 bytes with its NUL).
_MAX_SOCKET_PATH = 100

SERVER_OPTIONS = (
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_bin",
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--innodb-flush-log-at-trx-commit=2",  # a test database need not survive a power cut
    "--skip-log-bin",
    "--skip-name-resolve",
    "--skip-performance-schema",
    "--max-connections=200",
    # the largest .scaipkg and live snapshot the appliance stores (docs/scale-out.md §2)
    "--max-allowed-packet=80M",
)


class MariaDbUnavailable(Exception):
    """mariadbd or mariadb-install-db is not installed on this machine."""


def _which(name: str) -> str | None:
    return shutil.which(name, path=os.pathsep.join(_SEARCH))


def find_binaries() -> tuple[str, str]:
    """(mariadbd, mariadb-install-db), or MariaDbUnavailable naming the Debian package."""
    server = _which("mariadbd") or _which("mysqld")
    install = _which("mariadb-install-db") or _which("mysql_install_db")
    if server is None or install is None:
        missing = ", ".join(n for n, p in (("mariadbd", server),
                                           ("mariadb-install-db", install)) if p is None)
        raise MariaDbUnavailable(
            f"{missing} not found: install Debian's {DEBIAN_PACKAGE} "
            f"(apt-get install {DEBIAN_PACKAGE}) to run the MariaDB tests")
    return server, install


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """The server gets SIGKILL when the test process ends, however it ends."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _group_of(user: str | None) -> int | None:
    """The primary group of `user` (None for None: the test process's own)."""
    return None if user is None else pwd.getpwnam(user).pw_gid


def _user_options() -> list[str]:
    """mariadbd refuses to run as root unless told to; as another user no option is needed."""
    return ["--user=root"] if os.geteuid() == 0 else []


@dataclass
class MariaDbServer:
    datadir: Path
    socket_path: Path
    port: int
    process: subprocess.Popen[bytes]
    own_group: bool = False
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def connect(self, database: str | None = None, **options: object
                ) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """A root connection over the socket, autocommit on (for administration)."""
        return pymysql.connect(unix_socket=str(self.socket_path), user="root",
                               database=database, charset="utf8mb4", autocommit=True,
                               **options)  # type: ignore[arg-type]

    def admin(self, *statements: str) -> None:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            conn.close()

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database (the server's utf8mb4/utf8mb4_bin); its name."""
        name = f"{prefix}_{next(self._names)}"
        self.admin(f"CREATE DATABASE `{name}`")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS `{name}`")

    def user_with_password(self, user: str, password: str, database: str) -> None:
        """A user that must give `password`, from 127.0.0.1, with every right on `database`."""
        self.admin(f"CREATE OR REPLACE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'",
                   f"GRANT ALL ON `{database}`.* TO '{user}'@'127.0.0.1'")

    def error_log(self) -> str:
        try:
            return (self.datadir / "err.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Kill the server (its data is thrown away) and remove its files."""
        if self.own_group:
            # the whole group: what the server started (an SST script, rsync) goes with it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        shutil.rmtree(self.datadir, ignore_errors=True)
        shutil.rmtree(self.socket_path.parent, ignore_errors=True)


@dataclass(frozen=True)
class MariaDbDatabase:
    """One database of the test server. Its fields are those of a database URL (host, port,
    user, password, database, unix_socket), so it can be handed to the store's `connect` as
    the address; `over_tcp()` is the same database reached through 127.0.0.1 instead."""

    server: MariaDbServer = field(repr=False)
    database: str
    host: str = "127.0.0.1"
    user: str = "root"
    password: str | None = field(default=None, repr=False)
    unix_socket: str | None = None

    @property
    def port(self) -> int:
        return self.server.port

    def over_tcp(self, user: str = "root", password: str | None = None) -> MariaDbDatabase:
        return MariaDbDatabase(server=self.server, database=self.database, user=user,
                               password=password, unix_socket=None)

    def connect(self) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        """A root connection to this database, autocommit on (to set up or inspect)."""
        return self.server.connect(self.database)


def _install(install_db: str, datadir: Path, tmpdir: Path, run_as: str | None) -> None:
    command = [install_db, "--no-defaults", f"--datadir={datadir}", f"--tmpdir={tmpdir}",
               "--auth-root-authentication-method=normal", "--skip-test-db",
               "--skip-name-resolve", "--innodb-log-file-size=8M",
               "--innodb-buffer-pool-size=32M", "--character-set-server=utf8mb4",
               "--collation-server=utf8mb4_bin", *([] if run_as else _user_options())]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          user=run_as, group=_group_of(run_as),
                          extra_groups=None if run_as is None else [])
    if done.returncode != 0:
        raise RuntimeError(f"mariadb-install-db failed ({done.returncode}):\n"
                           f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def _socket_dir(base: Path) -> Path:
    candidate = base / "run"
    if len(str(candidate / "mariadb.sock")) <= _MAX_SOCKET_PATH:
        candidate.mkdir()
        return candidate
    # a long --basetemp: keep the socket in a short directory of its own
    import tempfile
    return Path(tempfile.mkdtemp(prefix="sfmdb-", dir="/tmp"))


def install_datadir(base: Path, run_as: str | None = None) -> tuple[Path, Path]:
    """A fresh data directory `base/data` made by Debian's `mariadb-install-db`, and the
    server's own directory for temporary tables `base/tmp`: (datadir, tmpdir). `run_as`: see
    `spawn` (`base` must then be that user's)."""
    _, install_db = find_binaries()
    datadir = base / "data"
    # Its own directory for temporary tables, not the shared /tmp: two suites at once (CI's
    # clone beside a developer's run) made the bootstrap of one fail on the other's files.
    tmpdir = base / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    if run_as is not None:
        shutil.chown(tmpdir, run_as, _group_of(run_as))
    try:
        _install(install_db, datadir, tmpdir, run_as)
    except RuntimeError as first:
        # Once more from nothing (a bootstrap that failed leaves a half-made datadir); a
        # second failure is reported with the first one's output.
        shutil.rmtree(datadir, ignore_errors=True)
        try:
            _install(install_db, datadir, tmpdir, run_as)
        except RuntimeError as second:
            raise RuntimeError(f"{second}\n(first attempt: {first})") from None
    return datadir, tmpdir


def socket_path_under(base: Path) -> Path:
    """Where a server's unix socket goes: `base/run/mariadb.sock`, or a short directory of its
    own in /tmp when that path is too long for a socket."""
    return _socket_dir(base) / "mariadb.sock"


def spawn(datadir: Path, tmpdir: Path, socket_path: Path, port: int,
          options: Sequence[str] = (), *, own_group: bool = False,
          run_as: str | None = None) -> MariaDbServer:
    """Start `mariadbd` on an installed `datadir` with the tests' SERVER_OPTIONS plus
    `options`, not waiting for it. It dies with the test process (`PR_SET_PDEATHSIG`); with
    `own_group` it leads a process group of its own, which `stop()` kills whole (a Galera
    node's SST script and its rsync daemon with it). `run_as` (a root test process only): the
    server runs as that user from the start rather than as root (`--user=root`), so what it
    starts is not root either; the death signal is set after the change of user, which would
    clear it."""
    mariadbd, _ = find_binaries()
    command = [mariadbd, "--no-defaults", f"--datadir={datadir}", f"--tmpdir={tmpdir}",
               f"--socket={socket_path}", f"--port={port}", "--bind-address=127.0.0.1",
               f"--pid-file={datadir / 'mariadbd.pid'}",
               f"--log-error={datadir / 'err.log'}", *SERVER_OPTIONS, *options,
               *([] if run_as else _user_options())]
    # Popen changes the user before it calls preexec_fn
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=_die_with_parent, start_new_session=own_group,
                               user=run_as, group=_group_of(run_as),
                               extra_groups=None if run_as is None else [])
    return MariaDbServer(datadir=datadir, socket_path=socket_path, port=port,
                         process=process, own_group=own_group)


def wait_ready(server: MariaDbServer, timeout: float = START_TIMEOUT) -> bool:
    """True once a client can log in; False if the server exited first (RuntimeError with the
    end of its error log when it does neither within `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        if server.socket_path.exists():
            try:
                server.connect(connect_timeout=2).close()
                return True
            except pymysql.err.OperationalError:
                pass
        time.sleep(0.02)
    raise RuntimeError(f"mariadbd did not accept connections within {timeout:.0f} s:\n"
                       f"{server.error_log()[-3000:]}")


def start_server(base: Path) -> MariaDbServer:
    """A fresh server with its data directory under `base`; ready to accept connections."""
    datadir, tmpdir = install_datadir(base)
    socket_path = socket_path_under(base)
    for attempt in range(_PORT_ATTEMPTS):
        # Another process may take the free port before mariadbd binds it: try another one.
        server = spawn(datadir, tmpdir, socket_path, free_port())
        if wait_ready(server):
            return server
        log = server.error_log()
        if "already in use" not in log or attempt == _PORT_ATTEMPTS - 1:
            server.stop()
            raise RuntimeError(f"mariadbd exited with {server.process.returncode}:\n"
                               f"{log[-3000:]}")
    raise AssertionError("unreachable")  # pragma: no cover
