"""A real served appliance for the contract tests: `python -m scaiflow_box serve` on a free
loopback port, its data dir in tmp, tokens minted with the CLI, objects created through the API.

Nothing here imports the server's modules but the MariaDB driver's wrapper, which reads the
stored state on `--db=mariadb`: the contract tests see the appliance the way a client does
(HTTP, the CLI, the database).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scaiflow_box.store.engine import DatabaseUrl

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_FLOW = REPO_ROOT / "scaiflow_box" / "examples" / "hello-world.flow.json"
READY_TIMEOUT_S = 20.0
OPERATOR = "usr_operator"  # the bootstrap super_admin `init` creates
BOB = "usr_bob"
CAROL = "usr_carol"
DAVE = "usr_dave"
ERIN = "usr_erin"  # in the directory, never granted by populate(): the run's grants succeed
TENANT = "tnt_local"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


SCAIGRID_KEY = "sgk_contract_" + "0" * 20
WEBHOOK_SECRET = "whsec_contract_" + "0" * 20


def hermetic_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any appliance setting, plus a fresh data dir."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SCAIFLOW_", "SCAIKEY_", "SCAIGRID_"))}
    env.update(SCAIFLOW_DATA_DIR=str(data_dir), SCAIFLOW_ENV_FILE="", **extra)
    return env


@dataclass
class ScaiGridProcess:
    """The ScaiGrid stand-in (`python -m tests.fakes.scaigrid`) as its own process, so the
    appliance's deploy, lookups and ScaiCore proxy have a real upstream."""

    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fakes.scaigrid", "--port", str(self.port),
                 "--api-key", SCAIGRID_KEY, "--accept-any-bearer"], cwd=REPO_ROOT, stdout=log,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the ScaiGrid stand-in did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)

    def post(self, path: str, body: Any) -> Any:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                         method="POST")
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {SCAIGRID_KEY}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]


SCAIKEY_CLIENT = ("scaiflow", "scaiflow-contract-secret")


@dataclass
class ScaiKeyProcess:
    """The ScaiKey stand-in (`python -m tests.fakes.scaikey`) as its own process, honouring
    any code or refresh token (`--accept-any-grant`), so that the appliance's sign-in routes
    answer generated requests with ScaiKey's tokens."""

    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        client_id, secret = SCAIKEY_CLIENT
        return {"SCAIKEY_BASE_URL": self.url, "SCAIKEY_ISSUER": self.url + "/oauth",
                "SCAIFLOW_SCAIKEY_CLIENT_ID": client_id,
                "SCAIFLOW_SCAIKEY_CLIENT_SECRET": secret}

    def start(self) -> None:
        client_id, secret = SCAIKEY_CLIENT
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fakes.scaikey", "--port", str(self.port),
                 "--client-id", client_id, "--client-secret", secret, "--accept-any-grant"],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the ScaiKey stand-in did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class ServedAppliance:
    """One `serve` subprocess. `stop()` sends SIGTERM and returns the exit code."""

    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    manager: tuple[str, str] | None = None  # (token, id) minted before the start
    # SCAIFLOW_DATABASE_URL of a MariaDB database (`--db=mariadb`) for the server and the CLI
    database: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "scaiflow.db"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "scaiflow_box", "serve", "--port", str(self.port)],
                # /metrics is exercised too (it is off by default; loopback may read it).
                env=hermetic_env(self.data_dir, **{"SCAIFLOW_METRICS": "true",
                                                   **self.database, **self.env}),
                cwd=REPO_ROOT, stdout=log,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode} on start:\n{self.log()}")
            try:
                if self.call("GET", "/healthz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready after {READY_TIMEOUT_S} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([sys.executable, "-m", "scaiflow_box", *args],
                              env=hermetic_env(self.data_dir, **self.database),
                              cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"scaiflow_box {' '.join(args)}: {done.stderr}")
        return done

    def mint(self, sub: str, tenant: str = TENANT) -> tuple[str, str]:
        """A service token from the CLI (scope view+manage): (token, its id `tok_…`)."""
        done = self.cli("token", "mint", "--sub", sub, "--tenant", tenant)
        token_id = re.search(r"\btoken (tok_[a-z0-9]+) ", done.stderr)
        assert token_id is not None, done.stderr
        return done.stdout.strip(), token_id.group(1)

    def call(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
             headers: dict[str, str] | None = None) -> Answer:
        data = None if json_body is None else json.dumps(json_body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw, got = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as exc:
            status, raw, got = exc.code, exc.read(), dict(exc.headers)
        body = json.loads(raw) if raw and "json" in got.get("Content-Type", "") else raw
        return Answer(status, got, body)

    def expect(self, status: int, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.call(method, path, **kwargs)
        if answer.status != status:
            raise AssertionError(f"{method} {path}: {answer.status} {answer.body!r}")
        return answer.body

    def sql(self, query: str, *params: Any) -> list[sqlite3.Row]:
        """Read the stored state straight from the SQLite file (read-only connection), or
        from the MariaDB database through a connection of its own."""
        url = self.database.get("SCAIFLOW_DATABASE_URL")
        if url is not None:
            from tests.db_backend import stored_rows  # the driver's wrapper: `?` placeholders

            return stored_rows(DatabaseUrl.parse(url), query, *params)
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()


def example_content() -> dict[str, Any]:
    content: dict[str, Any] = json.loads(EXAMPLE_FLOW.read_text("utf-8"))
    return content


@dataclass(frozen=True)
class World:
    """The real objects the contract run is fed with (ids as the server gave them)."""

    manager_token: str
    manager_token_id: str
    bob_token: str
    bob_token_id: str
    flow_id: str  # hello-world, versions 1.0.0 and 1.0.1; usr_bob may view it
    acl_id: str  # usr_bob's view grant on flow_id
    token_id: str  # a service token nobody uses
    disposable_flow_id: str  # DELETE /flows/{flow_id} acts here
    disposable_acl_id: str  # usr_dave's grant on flow_id: DELETE acls acts here
    carol_token: str  # a user with no grant on anything: must not see the manager's objects
    core_id: str  # flow_id deployed to the ScaiGrid stand-in, invoked once
    scope_id: str  # a ScaiQueue scope on the stand-in
    checkpoint_id: str  # a pending checkpoint of a core with a checkpoint step
    scaigrid_url: str  # the stand-in (it accepts any bearer: the run stores tenant keys)
    package_id: str  # flow_id published as a catalog package, versions 1.0.0 and 1.0.1
    disposable_package_id: str  # DELETE /catalog/{package_id} acts here
    package_file: bytes  # package_id's 1.0.1 as downloaded (an import of it changes nothing)


def populate(app: ServedAppliance) -> World:
    """Create the objects the run needs, through the API and the CLI only."""
    manager, manager_id = app.manager or app.mint(OPERATOR)
    content = example_content()
    flow = app.expect(201, "POST", "/api/v1/flows", token=manager, json_body={
        "name": content["name"], "description": "contract tests", "content": content})
    content["nodes"][0]["label"] = "Start here"
    second = app.expect(200, "PUT", f"/api/v1/flows/{flow['id']}", token=manager,
                        json_body={"content": content})
    assert second["version"] == "1.0.1", second

    bob, bob_id = app.mint(BOB)
    assert app.expect(200, "GET", "/api/v1/me", token=bob)["sub"] == BOB  # provisioned
    carol, _ = app.mint(CAROL)
    app.expect(200, "GET", "/api/v1/me", token=carol)
    dave, _ = app.mint(DAVE)
    app.expect(200, "GET", "/api/v1/me", token=dave)
    erin, _ = app.mint(ERIN)
    app.expect(200, "GET", "/api/v1/me", token=erin)
    acl = app.expect(201, "POST", f"/api/v1/flows/{flow['id']}/acls", token=manager,
                     json_body={"principal_type": "user", "principal_id": BOB, "level": "view"})
    assert app.expect(200, "GET", f"/api/v1/flows/{flow['id']}", token=bob)["version"] == "1.0.1"
    assert app.call("GET", f"/api/v1/flows/{flow['id']}", token=carol).status == 404
    service = app.expect(201, "POST", "/api/v1/admin/service-tokens", token=manager,
                         json_body={"sub": "usr_ci", "scope": "scaicore:view",
                                    "ttl_seconds": 3600, "description": "contract: disposable"})
    disposable = app.expect(201, "POST", "/api/v1/flows", token=manager, json_body={
        "name": "Disposable", "content": example_content()})
    disposable_acl = app.expect(
        201, "POST", f"/api/v1/flows/{flow['id']}/acls", token=manager,
        json_body={"principal_type": "user", "principal_id": DAVE, "level": "edit"})
    deployed = app.expect(201, "POST", f"/api/v1/flows/{flow['id']}/deploy", token=manager,
                          json_body={})
    app.expect(200, "POST", f"/api/v1/scaicore/cores/{deployed['core_id']}/invoke",
               token=manager, json_body={"input": {"name": "contract"}})
    gated = app.expect(200, "POST", "/api/v1/dev/deploy", token=app.env["SCAIFLOW_API_TOKEN"],
                       json_body={"content": checkpoint_content()})
    app.expect(200, "POST", f"/api/v1/scaicore/cores/{gated['core_id']}/invoke",
               token=manager, json_body={"input": {}})
    [checkpoint] = app.expect(200, "GET", "/api/v1/scaicore/checkpoints",
                              token=manager)["data"]["checkpoints"]
    [scope] = app.expect(200, "GET", "/api/v1/scaiqueue/scopes", token=manager)["data"]
    package_id, disposable_package_id = "contract-hello", "contract-disposable"
    for version in ("1.0.0", "1.0.1"):  # the flows' versions: one dictionary serves both
        app.expect(201, "POST", "/api/v1/catalog/publish", token=manager, json_body={
            "package_id": package_id, "name": "Contract hello", "version": version,
            "readme": "# Contract hello\n", "flow_id": flow["id"]})
    app.expect(201, "POST", "/api/v1/catalog/publish", token=manager, json_body={
        "package_id": disposable_package_id, "name": "Disposable", "content": example_content()})
    package_file = app.expect(200, "GET",
                              f"/api/v1/catalog/{package_id}/versions/1.0.1/download",
                              token=manager)
    assert package_file[:2] == b"PK", package_file[:40]
    return World(manager_token=manager, manager_token_id=manager_id, bob_token=bob,
                 bob_token_id=bob_id, flow_id=flow["id"], acl_id=acl["id"],
                 token_id=service["id"], disposable_flow_id=disposable["id"],
                 disposable_acl_id=disposable_acl["id"], carol_token=carol,
                 core_id=deployed["core_id"], scope_id=scope["id"],
                 checkpoint_id=checkpoint["id"], scaigrid_url=app.env["SCAIGRID_BASE_URL"],
                 package_id=package_id, disposable_package_id=disposable_package_id,
                 package_file=package_file)


def checkpoint_content() -> dict[str, Any]:
    """The example flow with a checkpoint after its reply (invoking it leaves one pending)."""
    content = example_content()
    last = content["nodes"][-1]
    last.setdefault("outputs", []).append({"id": "out_gate", "label": "gate", "type": "object"})
    content["nodes"].append({
        "id": "node_gate", "type": "checkpoint", "label": "Gate",
        "position": {"x": 600, "y": 0}, "config": {"prompt": "Approve?"},
        "inputs": [{"id": "in_gate", "label": "in", "type": "object"}], "outputs": []})
    content["edges"].append({"id": "edge_gate", "type": "sequential",
                             "source": {"node": last["id"], "port": "out_gate"},
                             "target": {"node": "node_gate", "port": "in_gate"}})
    content["config"]["scaiqueue"] = {"scope": "contract", "queues": [{"slug": "review"}]}
    return content
