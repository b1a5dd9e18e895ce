"""Each live flow's Yjs document: the box's replica (collab/replica.py) and its persistence.

An update is applied to the replica and relayed at once; it is stored right after, in the
background (one write job per batch: whatever arrived while the previous batch was being
committed goes in the next). Nothing waits for the disk: y-websocket has no acknowledgements,
and a client that saw an update the box lost in a crash hands it back in its sync step 2 the
next time it connects (a CRDT merges the same update any number of times).

Compaction folds the stored updates into a new snapshot (the replica encoded as one update)
when they outgrow it (`COMPACT_ROWS` rows, or more bytes than the snapshot), when the
document is closed (its last editor left) and at shutdown. Updates Yrs still holds as pending (their
dependencies never arrived) are not in an encoding of the replica, so their rows stay until
they are integrated.

pycrdt is imported on the first document's load, in a reader thread (~90 ms once), not at
start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scaiflow_box.store import live_docs as live_rows
from scaiflow_box.store.database import Database, StoreClosed
from scaiflow_box.store.engine import Connection
from scaiflow_box.timestamps import now_iso

if TYPE_CHECKING:
    from scaiflow_box.collab.replica import DocumentReplica

log = logging.getLogger(__name__)

COMPACT_ROWS = 256
COMPACT_MIN_BYTES = 256 * 1024
RETRY_SECONDS = 1.0


class DocumentTooLarge(Exception):
    """The document has reached its size limit: further updates are refused."""


@dataclass(eq=False)
class LiveDocument:
    tenant_id: str
    flow_id: str
    replica: DocumentReplica
    snapshot_bytes: int
    # stored updates after the snapshot: (id, bytes), oldest first
    rows: list[tuple[int, bytes]]
    max_bytes: int
    unflushed: list[bytes] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None
    # One batch at a time, in order: a compaction must see every row stored before it.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # rooms holding it open
    row_bytes: int = 0  # bytes of `rows`
    # Bytes stored and waiting to be (snapshot, rows, unflushed): what the size limit counts.
    size: int = 0

    def __post_init__(self) -> None:
        self.recount()

    def recount(self) -> None:
        self.row_bytes = sum(len(data) for _, data in self.rows)
        self.size = (self.snapshot_bytes + self.row_bytes
                     + sum(len(data) for data in self.unflushed))

    def apply(self, update: bytes) -> None:
        """Integrate a client's update (InvalidUpdate, DocumentTooLarge); stored later."""
        if self.size + len(update) > self.max_bytes:
            raise DocumentTooLarge(f"the live document has reached its {self.max_bytes} bytes")
        self.replica.apply(update)
        self.unflushed.append(update)
        self.size += len(update)

    def compaction_due(self, batch: list[bytes]) -> bool:
        rows = len(self.rows) + len(batch)
        row_bytes = self.row_bytes + sum(len(data) for data in batch)
        return rows >= COMPACT_ROWS or row_bytes > max(COMPACT_MIN_BYTES, self.snapshot_bytes)


def _load_replica(conn: Connection, tenant_id: str, flow_id: str
                  ) -> tuple[DocumentReplica, live_rows.StoredDocument]:
    """In a reader thread: the stored rows, and a replica built from them."""
    from scaiflow_box.collab.replica import build_replica  # pycrdt: loaded on first use

    stored = live_rows.load(conn, tenant_id, flow_id)
    return build_replica(stored.snapshot, (data for _, data in stored.updates)), stored


class LiveDocuments:
    """The open documents of this process, by flow id."""

    def __init__(self, db: Database, *, max_bytes: int) -> None:
        self.db = db
        self.max_bytes = max_bytes
        self._open: dict[str, LiveDocument] = {}
        self._loading: dict[str, asyncio.Future[LiveDocument]] = {}
        self.compactions = 0
        self.write_failures = 0

    def __len__(self) -> int:
        return len(self._open)

    async def open(self, tenant_id: str, flow_id: str) -> LiveDocument:
        """The flow's document, loaded from the store on first use; `close` it when done."""
        document = self._open.get(flow_id)
        if document is None:
            loading = self._loading.get(flow_id)
            if loading is None:
                loading = asyncio.get_running_loop().create_future()
                self._loading[flow_id] = loading
                try:
                    replica, stored = await self.db.read(
                        lambda conn: _load_replica(conn, tenant_id, flow_id))
                except BaseException as exc:
                    loading.set_exception(exc)
                    loading.exception()  # retrieved: waiters re-raise it, nobody else must
                    raise
                finally:
                    del self._loading[flow_id]
                document = LiveDocument(tenant_id, flow_id, replica,
                                        len(stored.snapshot or b""), list(stored.updates),
                                        self.max_bytes)
                self._open[flow_id] = document
                loading.set_result(document)
            else:
                document = await asyncio.shield(loading)
        document.users += 1
        return document

    def changed(self, document: LiveDocument) -> None:
        """Store what `apply` took, in the background (one flusher per document)."""
        if document.flusher is None or document.flusher.done():
            document.flusher = asyncio.create_task(self._flush(document, compact=False),
                                                   name=f"live-doc-{document.flow_id}")

    async def close(self, document: LiveDocument) -> None:
        """A room let go of the document: when nobody holds it, store and compact what is
        left, then drop the replica (a later `open` loads it again)."""
        document.users -= 1
        if document.users > 0:
            return
        await self._flush(document, compact=True)
        if document.users == 0 and self._open.get(document.flow_id) is document:
            del self._open[document.flow_id]

    async def flush_all(self) -> None:
        """Store everything applied so far, compacted (at shutdown: a clean stop leaves one
        snapshot per document, the fastest to load)."""
        for document in list(self._open.values()):
            await self._flush(document, compact=True)

    async def _flush(self, document: LiveDocument, *, compact: bool) -> None:
        async with document.lock:
            await self._flush_locked(document, compact=compact)

    async def _flush_locked(self, document: LiveDocument, *, compact: bool) -> None:
        while document.unflushed or (compact and document.rows):
            batch, document.unflushed = document.unflushed, []
            try:
                if compact or document.compaction_due(batch):
                    await self._compact(document, batch)
                    compact = False
                else:
                    # Live updates change no row a read caches: no cached read is dropped.
                    ids = await self.db.write(self._append_job(document, batch),
                                              flows_changed=())
                    document.rows.extend(zip(ids, batch, strict=True))
                    document.row_bytes += sum(len(data) for data in batch)
            except StoreClosed:
                document.unflushed[:0] = batch
                log.error("the database closed with %d live updates of %s not stored (the "
                          "editors still hold them and send them on reconnecting)",
                          len(document.unflushed), document.flow_id)
                return
            except Exception:
                # Kept for the next attempt (the clients still hold these updates too).
                self.write_failures += 1
                document.unflushed[:0] = batch
                log.warning("storing the live document of %s failed; retrying",
                            document.flow_id, exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)

    @staticmethod
    def _append_job(document: LiveDocument, batch: list[bytes]
                    ) -> Callable[[Connection], list[int]]:
        return lambda conn: live_rows.append_updates(conn, document.tenant_id,
                                                     document.flow_id, batch, now_iso())

    async def _compact(self, document: LiveDocument, batch: list[bytes]) -> None:
        replica = document.replica
        snapshot = replica.encode()
        covered = replica.covered([data for _, data in document.rows] + batch)
        old = len(document.rows)
        folded = [row_id for (row_id, _), ok in zip(document.rows, covered[:old], strict=True)
                  if ok]
        kept_rows = [row for row, ok in zip(document.rows, covered[:old], strict=True) if not ok]
        kept_batch = [data for data, ok in zip(batch, covered[old:], strict=True) if not ok]
        through = document.rows[-1][0] if document.rows else 0

        def run(conn: Connection) -> list[int]:
            now = now_iso()
            ids = live_rows.append_updates(conn, document.tenant_id, document.flow_id,
                                           kept_batch, now)
            live_rows.compact(conn, document.tenant_id, document.flow_id, snapshot=snapshot,
                              folded_ids=folded, through=through, now=now)
            return ids

        ids = await self.db.write(run, flows_changed=())
        document.snapshot_bytes = len(snapshot)
        document.rows = kept_rows + list(zip(ids, kept_batch, strict=True))
        document.recount()
        self.compactions += 1
