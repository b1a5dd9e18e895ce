"""Connection limits (issue 12, `http/connections.py`) with real sockets against a real
appliance: a client sending its headers a byte at a time gets a 408 and is closed after the
header-read timeout; an idle connection is closed after the keep-alive timeout; at the cap a
new connection takes the place of the connection that waited longest, and is refused with a
503 only when every connection is busy."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson

from tests.conftest import AppFactory, Appliance

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@asynccontextmanager
async def connections(app: Appliance, count: int) -> AsyncIterator[list[Stream]]:
    opened = [await asyncio.open_connection(app.client.host, app.client.port)
              for _ in range(count)]
    try:
        yield opened
    finally:
        for _, writer in opened:
            writer.close()


async def read_answer(reader: asyncio.StreamReader, timeout: float = 5.0
                      ) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer with a Content-Length body: (status, headers, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:]
                                                    if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


async def closed_within(reader: asyncio.StreamReader, timeout: float) -> bool:
    """True when the server closed the connection (EOF) within `timeout` seconds."""
    try:
        return await asyncio.wait_for(reader.read(), timeout) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def open_connections(app: Appliance) -> int:
    server = app.client.server.runner.server  # type: ignore[union-attr]
    return len(server.connections) if server is not None else 0


async def test_headers_sent_a_byte_at_a_time_get_a_408_after_the_header_timeout(
        make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_HEADER_TIMEOUT_SECONDS="0.6")
    request = b"GET /healthz HTTP/1.1\r\nHost: box\r\nX-Slow: " + b"a" * 200
    async with connections(app, 1) as [(reader, writer)]:
        started = time.monotonic()

        async def trickle() -> None:
            for byte in request:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.05)

        sender = asyncio.create_task(trickle())
        try:
            status, headers, body = await read_answer(reader)
        finally:
            sender.cancel()
        elapsed = time.monotonic() - started
        assert status == 408 and headers["connection"] == "close"
        assert headers["content-type"] == "application/json"
        assert orjson.loads(body) == {"detail": {
            "error": "request_timeout",
            "message": "the request line and headers did not arrive within 0.6 s"}}
        assert 0.55 <= elapsed < 2.0, elapsed
        assert await closed_within(reader, 2.0)
    await asyncio.sleep(0.05)
    assert open_connections(app) == 0


async def test_the_header_timeout_counts_from_a_requests_first_byte_only(
        make_appliance: AppFactory) -> None:
    """Idle time between requests is the keep-alive timeout's business, and a slow body the
    body timeout's: neither is cut by the header timeout."""
    app = await make_appliance(SCAIFLOW_HEADER_TIMEOUT_SECONDS="0.3")
    headers = await app.headers()
    async with connections(app, 1) as [(reader, writer)]:
        for _ in range(2):
            await asyncio.sleep(0.5)  # idle longer than the header timeout
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
            status, _, body = await read_answer(reader)
            assert (status, orjson.loads(body)) == (200, {"status": "ok"})
        body = orjson.dumps({"name": "slow body", "content": {"name": "x", "nodes": [],
                                                              "edges": []}})
        writer.write(b"POST /api/v1/flows HTTP/1.1\r\nHost: box\r\nContent-Type: "
                     b"application/json\r\nAuthorization: " +
                     headers["Authorization"].encode() +
                     b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        for start in range(0, len(body), 10):  # the body over ~0.8 s
            writer.write(body[start:start + 10])
            await asyncio.sleep(0.8 * 10 / len(body))
        status, _, answer = await read_answer(reader)
        assert status == 201, answer
        flow_id = orjson.loads(answer)["id"]
    assert [r["name"] for r in app.sql("SELECT name FROM flows WHERE id = ?", flow_id)] == [
        "slow body"]


async def test_an_idle_connection_is_closed_after_the_keepalive_timeout(
        make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_KEEPALIVE_TIMEOUT_SECONDS="0.5")
    async with connections(app, 2) as [(silent, _), (used, writer)]:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
        assert (await read_answer(used))[0] == 200
        started = time.monotonic()
        assert await closed_within(silent, 3.0)  # never sent a byte
        assert await closed_within(used, 3.0)  # nothing after its answer
        assert time.monotonic() - started < 2.0
    await asyncio.sleep(0.05)
    assert open_connections(app) == 0


async def test_at_the_cap_a_new_connection_replaces_the_one_waiting_longest(
        make_appliance: AppFactory) -> None:
    app = await make_appliance(SCAIFLOW_MAX_CONNECTIONS="16")
    async with connections(app, 16) as idle:
        # the oldest one has since sent part of a request (still waiting for its headers)
        idle[0][1].write(b"GET /healthz HTTP/1.1\r\n")
        await asyncio.sleep(0.05)
        assert open_connections(app) == 16
        async with connections(app, 1) as [(reader, writer)]:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
            status, _, body = await read_answer(reader)
            assert (status, orjson.loads(body)) == (200, {"status": "ok"})
            assert await closed_within(idle[0][0], 1.0)  # made room
            assert not await closed_within(idle[1][0], 0.1)  # the others stay
            # the newest answered one now waits longest but one: two more push out idle[1..2]
            async with connections(app, 2):
                assert await closed_within(idle[1][0], 1.0)
                assert await closed_within(idle[2][0], 1.0)
                assert not await closed_within(idle[3][0], 0.1)
                assert not await closed_within(reader, 0.1)
            assert open_connections(app) <= 16


async def test_at_the_cap_with_every_connection_busy_a_new_one_gets_a_503(
        make_appliance: AppFactory) -> None:
    """Busy: each of the 16 sent a request whose body is still coming (the body timeout, not
    the cap, bounds those)."""
    app = await make_appliance(SCAIFLOW_MAX_CONNECTIONS="16")
    auth = (await app.headers())["Authorization"].encode()
    async with connections(app, 16) as busy:
        for _, writer in busy:
            writer.write(b"POST /api/v1/flows HTTP/1.1\r\nHost: box\r\nContent-Type: "
                         b"application/json\r\nAuthorization: " + auth +
                         b"\r\nContent-Length: 100\r\n\r\n{")
        await asyncio.sleep(0.2)
        async with connections(app, 1) as [(reader, writer)]:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
            status, headers, body = await read_answer(reader)
            assert (status, headers["retry-after"], headers["connection"]) == (503, "1", "close")
            assert orjson.loads(body)["detail"]["error"] == "too_many_connections"
            assert await closed_within(reader, 1.0)
        for _, writer in busy:
            assert not writer.is_closing()
    await asyncio.sleep(0.1)  # the busy ones went away: room again
    resp = await app.client.get("/healthz")
    assert resp.status == 200
    assert app.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0  # no half body was stored
