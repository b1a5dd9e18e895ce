"""Requests as bytes, for what an HTTP client library will not send (header bytes that are
not UTF-8, say), and a reader of the raw answer."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from tests.conftest import Appliance


async def raw_request(app: Appliance, data: bytes, *, read_timeout: float = 10.0) -> bytes:
    """Send bytes on a fresh connection and read the whole answer (send `Connection: close`
    so the server closes after it)."""
    server = app.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), read_timeout)
    finally:
        writer.close()


def split_response(raw: bytes) -> tuple[int, dict[str, str], Any]:
    """(status, headers with lower-case names, the JSON body or the raw bytes or None)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":")
                                                            for line in lines[1:])}
    if not body:
        return status, headers, None
    if "json" in headers.get("content-type", ""):
        return status, headers, orjson.loads(body)
    return status, headers, body


def request_bytes(method: str, path: str, headers: dict[str, bytes], body: bytes = b"") -> bytes:
    """An HTTP/1.1 request whose header values are sent as the exact bytes given."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    if body:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body
