"""Connection limits of the server (SPEC §17, issue 12): a header-read timeout, a keep-alive
idle timeout and a cap on open connections, so that clients that connect and send nothing,
or send their headers a byte a second, cannot use up the process's file descriptors and stop
it answering everyone else (`/healthz` included).

- **Header-read timeout** (`SCAIFLOW_HEADER_TIMEOUT_SECONDS`): from the first byte of a
  request, its line and headers must be complete within this, else the connection gets a 408
  and is closed (the body has its own timeout, `SCAIFLOW_BODY_TIMEOUT_SECONDS`).
- **Keep-alive timeout** (`SCAIFLOW_KEEPALIVE_TIMEOUT_SECONDS`): a connection that completes
  no request for this long after connecting or after its last answer is closed (aiohttp's own
  timer, which partial headers do not reset).
- **Cap** (`SCAIFLOW_MAX_CONNECTIONS`, lowered to the open-file limit minus a reserve for the
  database, upstream calls and the rest): a connection beyond it takes the place of the
  connection that has waited longest for its next request (an idle keep-alive connection or
  one still sending its headers: neither has anything in flight), so a health check or a
  real client always gets in while idle and slow clients fill the cap. Only when every
  connection is busy with a request is the new one answered 503 and closed.

The answers written here (408, 503) are written straight to the socket: there is no request
to hang them on (no `X-Request-ID`).
"""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass
from typing import Protocol

import orjson

log = logging.getLogger("scaiflow_box.http")

# asyncio accepts up to `backlog` connections per wake-up, before any of them reaches the
# cap (their protocols start a loop iteration or two later): a small batch bounds how far the
# open descriptors can run past the cap (the kernel's listen queue stays LISTEN_BACKLOG).
ACCEPT_BATCH = 32
LISTEN_BACKLOG = 1024
# File descriptors kept free for everything that is not a client connection: the SQLite
# connections (database, WAL, shared memory each), the upstream pool (64), logs, the loop;
# and for the accepted connections not yet counted (about three batches in flight).
FD_RESERVE = 128 + 3 * ACCEPT_BATCH
CAP_WARNING_INTERVAL_S = 60.0


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0
    keepalive_timeout: float = 75.0
    max_connections: int = 1024

    def effective_max_connections(self) -> int:
        """The cap, lowered so that connections alone cannot exhaust the open-file limit."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, max(soft - FD_RESERVE, soft // 4)))


def raw_error(status: int, reason: str, code: str, message: str,
              extra_headers: str = "") -> bytes:
    """A complete HTTP/1.1 error answer in the documented JSON shape, closing the connection."""
    body = orjson.dumps({"detail": {"error": code, "message": message}})
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nCache-Control: no-store\r\n"
            f"Vary: Origin\r\n{extra_headers}\r\n")
    return head.encode("ascii") + body


def header_timeout_answer(seconds: float) -> bytes:
    return raw_error(408, "Request Timeout", "request_timeout",
                     f"the request line and headers did not arrive within {seconds:g} s")


TOO_MANY_CONNECTIONS = raw_error(
    503, "Service Unavailable", "too_many_connections",
    "every connection this server accepts is busy with a request; retry shortly",
    "Retry-After: 1\r\n")


class Waiter(Protocol):
    """A connection as the registry sees it."""

    def evict(self) -> None: ...


class WaitingConnections:
    """The connections waiting for their next request, longest-waiting first, and the cap."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.max_connections = limits.effective_max_connections()
        self._waiting: dict[Waiter, None] = {}  # insertion order = when it began to wait
        self._last_warning = 0.0
        self.evicted = 0
        self.refused = 0

    def waiting(self, connection: Waiter) -> None:
        """`connection` has nothing in flight from now on (moved to the end of the line)."""
        self._waiting.pop(connection, None)
        self._waiting[connection] = None

    def busy(self, connection: Waiter) -> None:
        self._waiting.pop(connection, None)

    def admit(self, connection: Waiter, open_connections: int) -> bool:
        """Called for each new connection, already counted in `open_connections`. False when
        it must be refused; otherwise it is admitted, perhaps in place of another one."""
        if open_connections <= self.max_connections:
            return True
        oldest = next(iter(self._waiting), None)
        if oldest is None:
            self.refused += 1
        else:
            self._waiting.pop(oldest, None)
            self.evicted += 1
            oldest.evict()
        self._warn(open_connections)
        return oldest is not None

    def _warn(self, open_connections: int) -> None:
        now = time.monotonic()
        if now - self._last_warning < CAP_WARNING_INTERVAL_S:
            return
        self._last_warning = now
        log.warning("connection cap reached (%d open, cap %d): closing the connections that "
                    "waited longest for a request (%d so far), refusing new ones only while "
                    "all are busy (%d so far)", open_connections, self.max_connections,
                    self.evicted, self.refused)
