"""A three-node MariaDB Galera cluster on one machine, for the tests (docs/scale-out.md §6,
phase 4; Debian's mariadb-server and galera-4).

Each node is a `mariadbd` of tests/mariadb_server.py (same tuning, `--no-defaults`, utf8mb4 /
utf8mb4_bin) with wsrep on: its own data directory, unix socket and client port, and its own
group-communication (gmcast), IST and SST ports on 127.0.0.1. Node 1 is installed with
`mariadb-install-db` and bootstraps the cluster (`--wsrep-new-cluster`); nodes 2 and 3 start
on empty data directories and receive node 1's by SST (rsync), one after the other (a donor
serves one joiner at a time). The cluster is up when every node reports
`wsrep_cluster_size = 3` and `wsrep_ready = ON`.

Every node leads a process group of its own and dies with the test process
(`PR_SET_PDEATHSIG`); `stop()` kills each group (the SST script and its rsync daemon with it)
and removes the files.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymysql

from tests.mariadb_server import (
    MariaDbServer,
    MariaDbUnavailable,
    find_binaries,
    install_datadir,
    socket_path_under,
    spawn,
    wait_ready,
)

GALERA_PROVIDER = Path("/usr/lib/galera/libgalera_smm.so")
GALERA_PACKAGE = "galera-4"
NODES = 3
CLUSTER_NAME = "scaiflow-test"
# A joiner waits for its SST (rsync of the donor's data directory) before it listens.
JOIN_TIMEOUT = 90.0
# The cluster-wide options every node gets, and docs/operations.md documents.
WSREP_OPTIONS = (
    "--wsrep-on=ON",
    f"--wsrep-provider={GALERA_PROVIDER}",
    f"--wsrep-cluster-name={CLUSTER_NAME}",
    "--binlog-format=ROW",
    "--innodb-autoinc-lock-mode=2",
    "--wsrep-sst-method=rsync",
    "--wsrep-node-address=127.0.0.1",
    # bounds a write set like max_allowed_packet bounds a statement (docs/scale-out.md §2)
    "--wsrep-max-ws-size=83886080",
)
# Galera's write-set cache is a 128 MB file per node by default: the tests' data needs little.
GCACHE_SIZE = "16M"


class GaleraUnavailable(MariaDbUnavailable):
    """galera-4 (or mariadbd, or rsync for the SST) is not installed on this machine."""


def find_galera() -> None:
    """Raise GaleraUnavailable naming the Debian package when the cluster cannot be started."""
    find_binaries()  # MariaDbUnavailable names mariadb-server
    if not GALERA_PROVIDER.exists():
        raise GaleraUnavailable(
            f"{GALERA_PROVIDER} not found: install Debian's {GALERA_PACKAGE} "
            f"(apt-get install {GALERA_PACKAGE}) to run the Galera tests")
    if shutil.which("rsync", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin"])
                    ) is None:
        raise GaleraUnavailable("rsync not found: the Galera nodes join by rsync SST "
                                "(apt-get install rsync)")


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports on 127.0.0.1 (held together while chosen, so no two are
    the same)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class GaleraNode:
    number: int
    base: Path
    port: int
    gmcast_port: int
    ist_port: int
    sst_port: int
    server: MariaDbServer | None = None

    @property
    def group_address(self) -> str:
        return f"127.0.0.1:{self.gmcast_port}"

    def options(self, cluster_address: str, bootstrap: bool) -> list[str]:
        provider = (f"gmcast.listen_addr=tcp://127.0.0.1:{self.gmcast_port};"
                    f"ist.recv_addr=127.0.0.1:{self.ist_port};gcache.size={GCACHE_SIZE}")
        return [*WSREP_OPTIONS, f"--wsrep-node-name=node{self.number}",
                f"--wsrep-provider-options={provider}",
                f"--wsrep-sst-receive-address=127.0.0.1:{self.sst_port}",
                f"--wsrep-node-incoming-address=127.0.0.1:{self.port}",
                f"--wsrep-cluster-address={cluster_address}",
                *(["--wsrep-new-cluster"] if bootstrap else [])]

    def connect(self, database: str | None = None, **options: object
                ) -> pymysql.connections.Connection[pymysql.cursors.Cursor]:
        assert self.server is not None
        return self.server.connect(database, **options)

    def status(self, *names: str) -> dict[str, str]:
        """wsrep status variables of this node, by lower-case name."""
        conn = self.connect(connect_timeout=2)
        try:
            with conn.cursor() as cursor:
                cursor.execute("SHOW GLOBAL STATUS WHERE Variable_name IN ("
                               + ", ".join(["%s"] * len(names)) + ")", names)
                return {str(k).lower(): str(v) for k, v in cursor.fetchall()}
        finally:
            conn.close()

    def error_log(self) -> str:
        return "" if self.server is None else self.server.error_log()


@dataclass
class GaleraCluster:
    base: Path
    nodes: list[GaleraNode]
    # seconds each node took to be up (node 1: bootstrap; 2 and 3: SST and join)
    start_seconds: list[float] = field(default_factory=list)

    def admin(self, *statements: str, node: int = 1) -> None:
        conn = self.nodes[node - 1].connect()
        try:
            with conn.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            conn.close()

    def stop(self) -> None:
        for node in reversed(self.nodes):
            if node.server is not None:
                node.server.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def node_user() -> str | None:
    """Whom the nodes run as: the test process's own user, or when that is root, Debian's
    `mysql` (else `nobody`). A node run as root starts its SST's rsync daemon as root, and a
    root rsync daemon writes as `nobody`, which may not write the joiner's data directory."""
    if os.geteuid() != 0:
        return None
    for user in ("mysql", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            return user
    raise GaleraUnavailable("the tests run as root and neither a mysql nor a nobody user "
                            "exists to run the Galera nodes as")


def _own_directory(path: Path, user: str | None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        shutil.chown(path, user, pwd.getpwnam(user).pw_gid)
    return path


def _spawn_node(node: GaleraNode, cluster_address: str, bootstrap: bool,
                user: str | None) -> None:
    _own_directory(node.base, user)
    if bootstrap:
        datadir, tmpdir = install_datadir(node.base, user)
    else:  # an empty data directory: the SST fills it
        datadir = _own_directory(node.base / "data", user)
        tmpdir = _own_directory(node.base / "tmp", user)
    socket_path = socket_path_under(node.base)
    _own_directory(socket_path.parent, user)
    node.server = spawn(datadir, tmpdir, socket_path, node.port,
                        node.options(cluster_address, bootstrap), own_group=True, run_as=user)


def _wait_synced(node: GaleraNode, size: int, timeout: float) -> None:
    """Until `node` accepts clients, is synced and sees `size` members."""
    assert node.server is not None
    started = time.monotonic()
    if not wait_ready(node.server, timeout):
        raise RuntimeError(f"Galera node {node.number} exited with "
                           f"{node.server.process.returncode}:\n{node.error_log()[-4000:]}")
    want = {"wsrep_ready": "ON", "wsrep_local_state_comment": "Synced",
            "wsrep_cluster_size": str(size)}
    seen: dict[str, str] = {}
    while time.monotonic() - started < timeout:
        with contextlib.suppress(pymysql.err.OperationalError):
            seen = node.status(*want)
            if seen == want:
                return
        time.sleep(0.05)
    raise RuntimeError(f"Galera node {node.number} not synced within {timeout:.0f} s "
                       f"({seen}):\n{node.error_log()[-4000:]}")


def start_cluster() -> GaleraCluster:
    """Three synced nodes in a new directory of their own (node N in `<it>/nodeN`, on tmpfs
    when the machine has one; owned by the nodes' user, which may not enter the test's
    temporary directories). A failed start is tried once more from nothing (a port chosen
    free may be taken before its node binds it); on a second failure the error carries the
    failing node's log, and no node is left running."""
    find_galera()
    try:
        return _start_cluster()
    except RuntimeError as first:
        try:
            return _start_cluster()
        except RuntimeError as second:
            raise RuntimeError(f"{second}\n(first attempt: {first})") from None


def _start_cluster() -> GaleraCluster:
    user = node_user()
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(prefix="sfgalera-",
                                 dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    _own_directory(base, user)
    ports = _free_ports(4 * NODES)
    nodes = [GaleraNode(n + 1, base / f"node{n + 1}", *ports[4 * n:4 * n + 4])
             for n in range(NODES)]
    cluster = GaleraCluster(base, nodes)
    members = ",".join(node.group_address for node in nodes)
    try:
        for node in nodes:
            started = time.monotonic()
            bootstrap = node.number == 1
            _spawn_node(node, "gcomm://" if bootstrap else f"gcomm://{members}", bootstrap,
                        user)
            _wait_synced(node, node.number, JOIN_TIMEOUT)
            cluster.start_seconds.append(time.monotonic() - started)
        for node in nodes:  # each sees the whole cluster
            _wait_synced(node, NODES, 10.0)
    except BaseException:
        cluster.stop()
        raise
    return cluster
