"""`Database.size()`, what `/metrics` and the dashboard report: SQLite's file and WAL, or the
MariaDB schema's tables (data and indexes), read off the loop and kept a few seconds."""

from __future__ import annotations

import time
from pathlib import Path

from scaiflow_box.store.database import StoredSize
from tests.db_backend import Backend, stored_rows


async def test_the_size_is_the_file_or_the_schemas_tables(backend: Backend,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "scaiflow.db"
    db = backend.open(path)
    try:
        await db.write(lambda conn: conn.execute(
            "INSERT INTO meta (`key`, value) VALUES ('filler', ?)", ("x" * 100_000,)))
        size = await db.size()
        if not backend.mariadb:
            wal = Path(f"{path}-wal")
            assert size == StoredSize("sqlite", path.stat().st_size, wal.stat().st_size)
            assert size.wal_size_bytes > 100_000  # the write is in the WAL until a checkpoint
            return
        [(total,)] = stored_rows(db, "SELECT SUM(data_length + index_length) FROM"
                                     " information_schema.tables"
                                     " WHERE table_schema = DATABASE()")
        assert size == StoredSize("mariadb", int(total), 0) and size.size_bytes > 100_000
        # Asked again within a few seconds: the same reading, not another scan.
        started = time.monotonic()
        again = await db.size()
        assert again is size or time.monotonic() - started > 4
    finally:
        db.close()
