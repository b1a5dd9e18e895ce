"""End to end on a three-node Galera cluster: one real `python -m scaiflow_box serve` process
per node, the same master key, one database. A flow created through process 1 is read through
2 and 3, saved through 2, its history read through 3; If-Match saves raced from two processes
on two nodes give exactly one winner per round, never a 500."""

from __future__ import annotations

import base64
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.cli_process import run
from tests.conftest import hello_content
from tests.contract.served import ServedAppliance
from tests.galera.conftest import GaleraDatabase

pytestmark = [pytest.mark.slow, pytest.mark.galera, pytest.mark.xdist_group("galera")]

OPERATOR, TENANT = "usr_operator", "tnt_local"  # the super admin `init` creates
RACE_ROUNDS = 10


def settings_for(database: GaleraDatabase, node: int, master_key: str) -> dict[str, str]:
    url = database.url(node)
    return {"SCAIFLOW_DATABASE_URL":
            f"mariadb://root@/{url.database}?unix_socket={quote(url.unix_socket or '')}",
            "SCAIFLOW_MASTER_KEY": master_key}


def certification_conflicts(database: GaleraDatabase) -> int:
    """Transactions the cluster aborted for another node's conflicting write, so far (each
    node's local certification failures and brute-force aborts)."""
    total = 0
    for node in database.cluster.nodes:
        status = node.status("wsrep_local_cert_failures", "wsrep_local_bf_aborts")
        total += sum(int(value) for value in status.values())
    return total


def test_one_process_per_node_serves_one_site(galera_database: GaleraDatabase,
                                              tmp_path: Path) -> None:
    master_key = base64.b64encode(os.urandom(32)).decode()
    envs = [settings_for(galera_database, node, master_key) for node in (1, 2, 3)]
    done = run("init", data_dir=tmp_path / "p1", env=envs[0])
    assert done.returncode == 0, done.stderr
    minted = run("token", "mint", "--sub", OPERATOR, "--tenant", TENANT,
                 data_dir=tmp_path / "p1", env=envs[0])
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()

    processes = [ServedAppliance(data_dir=tmp_path / f"p{n}", log_path=tmp_path / f"p{n}.log",
                                 env=envs[n - 1]) for n in (1, 2, 3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(ServedAppliance.start, processes))
        p1, p2, p3 = processes

        created = p1.call("POST", "/api/v1/flows", token=token, json_body={
            "name": "galera", "description": "made through node 1",
            "content": hello_content("galera")})
        assert created.status == 201, created.body
        flow_id, etag = created.body["id"], created.headers["ETag"]
        assert etag == '"1.0.0"'
        for other in (p2, p3):
            read = other.call("GET", f"/api/v1/flows/{flow_id}", token=token)
            assert (read.status, read.headers["ETag"]) == (200, etag), read.body
            assert read.body == created.body

        content = hello_content("galera")
        content["nodes"][1]["label"] = "Saved through node 2"
        saved = p2.call("PUT", f"/api/v1/flows/{flow_id}", token=token,
                        json_body={"content": content}, headers={"If-Match": etag})
        assert (saved.status, saved.body["version"]) == (200, "1.0.1"), saved.body
        history = p3.expect(200, "GET", f"/api/v1/flows/{flow_id}/versions", token=token)
        assert [(v["version"], v["created_by"]) for v in history["items"]] == [
            ("1.0.1", OPERATOR), ("1.0.0", OPERATOR)]
        old = p3.expect(200, "GET", f"/api/v1/flows/{flow_id}/versions/1.0.1", token=token)
        assert old["content"]["nodes"][1]["label"] == "Saved through node 2"
        for node in (1, 2, 3):  # stored on every node
            assert galera_database.rows(
                node, "SELECT version_seq, version FROM flows WHERE id = %s", flow_id) == [
                (2, "1.0.1")]
            assert galera_database.rows(
                node, "SELECT action FROM audit_log WHERE target_id = %s ORDER BY action",
                flow_id) == [("flow.created",), ("flow.updated",)]

        # If-Match saves raced from processes 1 and 3 (nodes 1 and 3): one winner a round.
        conflicts_before = certification_conflicts(galera_database)
        etag, outcomes = saved.headers["ETag"], []
        with ThreadPoolExecutor(2) as pool:
            for round_ in range(RACE_ROUNDS):
                def save(process: ServedAppliance, tag: str = etag, n: int = round_) -> Any:
                    body = hello_content("galera")
                    body["nodes"][1]["label"] = f"round {n} through {process.port}"
                    return process.call("PUT", f"/api/v1/flows/{flow_id}", token=token,
                                        json_body={"content": body}, headers={"If-Match": tag})

                answers = list(pool.map(save, (p1, p3)))
                statuses = sorted(answer.status for answer in answers)
                assert statuses == [200, 412], [(a.status, a.body) for a in answers]
                winner = next(a for a in answers if a.status == 200)
                loser = next(a for a in answers if a.status == 412)
                assert loser.body["detail"], loser.body
                outcomes.append(winner.body["version"])
                etag = winner.headers["ETag"]
        assert outcomes == [f"1.0.{n}" for n in range(2, RACE_ROUNDS + 2)]
        for node in (1, 2, 3):
            assert galera_database.rows(
                node, "SELECT seq, version FROM flow_versions WHERE flow_id = %s ORDER BY seq",
                flow_id) == [(n + 1, f"1.0.{n}") for n in range(RACE_ROUNDS + 2)]
        print(f"\nGalera: {RACE_ROUNDS} If-Match races through two processes on two nodes: "
              f"{certification_conflicts(galera_database) - conflicts_before} certification "
              f"conflicts retried, none seen by a client")
    finally:
        for process in processes:
            if process.proc is not None:
                process.stop()
    for process in processes:
        assert "Traceback" not in process.log(), process.log()
