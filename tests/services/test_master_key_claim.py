"""Processes starting on one database with different master keys (docs/scale-out.md §5): the
first to record its key id wins, every other refuses to start, naming both ids, and writes
nothing. Real `scaiflow-box init` processes started together, on SQLite (one data directory)
and on MariaDB (`--db=mariadb`: one database, a data directory per host)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scaiflow_box.crypto.envelope import MasterKey
from scaiflow_box.store.engine import DatabaseUrl
from tests.cli_process import environment
from tests.db_backend import Backend, stored_rows


def start_init(data_dir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "scaiflow_box", "init"],
                            env=environment(data_dir, env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def database_of(backend: Backend, env: dict[str, str], data_dir: Path) -> Path | DatabaseUrl:
    url = env.get("SCAIFLOW_DATABASE_URL")
    return data_dir / "scaiflow.db" if url is None else DatabaseUrl.parse(url)


def test_hosts_with_different_master_keys_one_starts_the_others_refuse(
        backend: Backend, tmp_path: Path) -> None:
    for round_ in range(3):  # started together: each round may interleave differently
        database = backend.environment()
        keys = [MasterKey.generate() for _ in range(3)]
        hosts = [tmp_path / f"round{round_}" / ("shared" if not backend.mariadb else f"h{n}")
                 for n in range(3)]
        if not backend.mariadb:
            # Migrated first: processes migrating one new SQLite file at the same instant
            # race on its migrations, which is not what this test is about (on SQLite every
            # host has its own file; several processes on one file share its data dir).
            backend.open(hosts[0] / "scaiflow.db").close()
        procs = [start_init(host, {**database, "SCAIFLOW_MASTER_KEY": key.to_base64()})
                 for host, key in zip(hosts, keys, strict=True)]
        results = [(proc.wait(timeout=60), *proc.communicate()) for proc in procs]
        started = [n for n, (code, _out, _err) in enumerate(results) if code == 0]
        assert len(started) == 1, results
        winner = keys[started[0]]
        where = database_of(backend, database, hosts[0])
        assert [tuple(r) for r in stored_rows(where, "SELECT value FROM meta WHERE `key` ="
                                                     " 'kek_id'")] == [(winner.kek_id,)]
        # Nothing of a refused start is stored: one issuer key, wrapped by the winner's key.
        issuer = stored_rows(where, "SELECT private_key FROM issuer_keys")
        assert len(issuer) == 1 and f":{winner.kek_id}:" in issuer[0][0]
        for n, (code, out, err) in enumerate(results):
            if n == started[0]:
                continue
            assert code == 1 and out == ""
            assert f"(kek {keys[n].kek_id})" in err and f"(kek {winner.kek_id})" in err, err
            assert "SCAIFLOW_MASTER_KEY" in err  # what to fix
            assert all(key.to_base64() not in err for key in keys)
        # The winner's key starts again; a loser's still does not.
        again = start_init(hosts[started[0]], {**database,
                                               "SCAIFLOW_MASTER_KEY": winner.to_base64()})
        assert again.wait(timeout=60) == 0, again.communicate()
        loser = (started[0] + 1) % 3
        refused = start_init(hosts[loser], {**database,
                                            "SCAIFLOW_MASTER_KEY": keys[loser].to_base64()})
        assert refused.wait(timeout=60) == 1
        assert f"(kek {winner.kek_id})" in refused.communicate()[1]
