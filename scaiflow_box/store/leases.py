"""Leases (migration 011): one holder at a time for work one process should run, decided by
the database all processes share. The same statements in both dialects (the rows exist, so
taking is an UPDATE; `rowcount` counts matched rows on MariaDB too, store/mariadb.py)."""

from __future__ import annotations

from scaiflow_box.store.engine import Connection

# The leases the running process keeps (services/leases.py). A MariaDB start-up with a migration
# to run also takes `migration` (store/mariadb_schema/upgrade.py), then gives it back.
LEASES = ("directory_sync", "retention")


def take(conn: Connection, name: str, holder: str, now: float, ttl: float) -> int | None:
    """Take or renew lease `name` for `holder` until `now + ttl`: its fence when held from now
    on, None while another holder's lease runs. The fence grows by one each time the lease
    changes hands."""
    taken = conn.execute(
        "UPDATE leases SET fence = CASE WHEN holder = ? THEN fence ELSE fence + 1 END,"
        " holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at < ?)",
        (holder, holder, now + ttl, name, holder, now)).rowcount
    if taken != 1:
        return None
    row = conn.execute("SELECT fence FROM leases WHERE name = ?", (name,)).fetchone()
    return int(row[0])


def release(conn: Connection, name: str, holder: str) -> bool:
    """Give lease `name` up now, if `holder` holds it (a process that stops hands over at
    once instead of after its lease runs out)."""
    return conn.execute("UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?",
                        (name, holder)).rowcount == 1


def holders(conn: Connection) -> list[tuple[str, str, int, float]]:
    """(name, holder, fence, expires_at) of every lease."""
    return [(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in conn.execute(
        "SELECT name, holder, fence, expires_at FROM leases ORDER BY name").fetchall()]
