"""The shared upstream client (SPEC §18): timeouts, no redirects, size cap, JSON only, and the
guard against destinations no call may reach."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from scaiflow_box.config import Settings
from scaiflow_box.upstream import client as client_module
from scaiflow_box.upstream.client import (
    ALWAYS_REFUSED,
    DestinationNotAllowed,
    GuardedResolver,
    UpstreamError,
    check_destination,
    create_upstream_session,
    get_json,
    request_json,
)
from scaiflow_box.upstream.destinations import is_never_allowed_address, parse_address


class Upstream:
    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.received: list[dict[str, Any]] = []

    def app(self) -> web.Application:
        app = web.Application()

        def route(name: str, handler: Callable[[web.Request], Any]) -> Any:
            async def counted(request: web.Request) -> web.StreamResponse:
                self.hits[name] = self.hits.get(name, 0) + 1
                result: web.StreamResponse = await handler(request)
                return result
            return counted

        async def ok(request: web.Request) -> web.Response:
            return web.json_response({"hello": "world"}, headers={"X-Thing": "1"})

        async def big(request: web.Request) -> web.Response:
            return web.json_response({"blob": "x" * 4000})

        async def big_chunked(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b'{"blob": "')
            for _ in range(10):
                await response.write(b"x" * 1000)
            await response.write(b'"}')
            await response.write_eof()
            return response

        async def html(request: web.Request) -> web.Response:
            status = int(request.query.get("status", "200"))
            return web.Response(text="<html>nope</html>", content_type="text/html",
                                status=status)

        async def nested(request: web.Request) -> web.Response:
            return web.Response(text="[" * 100_000 + "]" * 100_000,
                                content_type="application/json")

        async def empty(request: web.Request) -> web.Response:
            return web.Response(status=204)

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound("/target")

        async def to_metadata(request: web.Request) -> web.Response:
            raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

        async def target(request: web.Request) -> web.Response:
            return web.json_response({"followed": True})

        async def slow(request: web.Request) -> web.Response:
            await asyncio.sleep(1.0)
            return web.json_response({})

        async def echo(request: web.Request) -> web.Response:
            body = await request.read()
            self.received.append({"content_type": request.content_type, "body": body,
                                  "auth": request.headers.get("Authorization")})
            return web.json_response({"ok": True}, status=201)

        for path, name, handler in [
            ("/ok", "ok", ok), ("/big", "big", big), ("/big-chunked", "big_chunked", big_chunked),
            ("/html", "html", html), ("/nested", "nested", nested), ("/empty", "empty", empty),
            ("/redirect", "redirect", redirect), ("/target", "target", target),
            ("/slow", "slow", slow), ("/to-metadata", "to_metadata", to_metadata),
        ]:
            app.router.add_get(path, route(name, handler))
        app.router.add_post("/echo", route("echo", echo))
        return app


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, TestServer]]:
    fake = Upstream()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, server
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    s = create_upstream_session(Settings(upstream_timeout_seconds=0.5))
    try:
        yield s
    finally:
        await s.close()


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


async def test_get_json_returns_status_headers_and_body(
    upstream: tuple[Upstream, TestServer], session: aiohttp.ClientSession
) -> None:
    _, server = upstream
    response = await get_json(session, url(server, "/ok"))
    assert response.status == 200 and response.ok
    assert response.body == {"hello": "world"}
    assert response.headers["x-thing"] == "1"  # case-insensitive


async def test_redirects_are_returned_not_followed(
    upstream: tuple[Upstream, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, server = upstream
    response = await get_json(session, url(server, "/redirect"))
    assert response.status == 302
    assert response.headers["Location"] == "/target"
    assert fake.hits.get("target", 0) == 0


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_oversized_answers_are_refused(
    upstream: tuple[Upstream, TestServer], session: aiohttp.ClientSession, path: str
) -> None:
    _, server = upstream
    with pytest.raises(UpstreamError) as caught:
        await get_json(session, url(server, path), max_bytes=2000)
    assert caught.value.reason == "response too large"
    assert (await get_json(session, url(server, path), max_bytes=20_000)).status == 200


async def test_non_json_success_is_an_error_but_an_error_page_is_just_a_status(
    upstream: tuple[Upstream, TestServer], session: aiohttp.ClientSession
) -> None:
    _, server = upstream
    with pytest.raises(UpstreamError) as caught:
        await get_json(session, url(server, "/html"))
    assert caught.value.reason == "response is not JSON"
    response = await get_json(session, url(server, "/html?status=502"))
    assert (response.status, response.body) == (502, None)
    with pytest.raises(UpstreamError, match="not JSON"):
        await get_json(session, url(server, "/nested"), max_bytes=1_000_000)


async def test_empty_body_is_none(
    upstream: tuple[Upstream, TestServer], session: aiohttp.ClientSession
) -> None:
    _, server = upstream
    response = await get_json(session, url(server, "/empty"))
    assert (response.status, response.body) == (204, None)


async def test_timeout_and_connection_failures(
    upstream: tuple[Upstream, TestServer], session: aiohttp.ClientSession
) -> None:
    _, server = upstream
    with pytest.raises(UpstreamError) as caught:
        await get_json(session, url(server, "/slow"))
    assert caught.value.reason == "timed out"

    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(UpstreamError) as caught:
        await get_json(session, f"http://127.0.0.1:{port}/")
    assert caught.value.reason == "connection failed"


async def test_request_json_sends_forms_and_json(
    upstream: tuple[Upstream, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, server = upstream
    response = await request_json(session, "POST", url(server, "/echo"),
                                  form={"grant_type": "client_credentials", "scope": "a b"},
                                  headers={"Authorization": "Basic eDp5"})
    assert (response.status, response.body) == (201, {"ok": True})
    await request_json(session, "POST", url(server, "/echo"), json_body={"k": [1]})
    first, second = fake.received
    assert first["content_type"] == "application/x-www-form-urlencoded"
    assert first["body"] == b"grant_type=client_credentials&scope=a+b"
    assert first["auth"] == "Basic eDp5"
    assert second["content_type"] == "application/json"
    assert second["body"] == b'{"k": [1]}'
    with pytest.raises(ValueError):
        await request_json(session, "POST", url(server, "/echo"), form={}, json_body={})


@pytest.mark.parametrize("target", ["ftp://example.com/x", "file:///etc/passwd",
                                    "gopher://example.com", "http://", "not a url"])
async def test_only_http_and_https(session: aiohttp.ClientSession, target: str) -> None:
    with pytest.raises(DestinationNotAllowed):
        await get_json(session, target)


NEVER_ALLOWED_HOSTS = [
    "169.254.169.254", "169.254.1.1", "[fe80::1]", "[fe80::1%25eth0]", "[fd00:ec2::254]",
    "100.100.100.200", "metadata.google.internal", "METADATA.Google.Internal.", "metadata",
    "metadata.goog", "instance-data", "instance-data.ec2.internal",
    "[::ffff:169.254.169.254]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b:1::a9fe:a9fe]",
    "[2002:a9fe:a9fe::1]", "2852039166", "0251.0376.0251.0376", "169.254.43518",
    "0xa9.0xfe.0xa9.0xfe",
    # IPv4-compatible IPv6 (::/96) carried any IPv4 address past the guard
    "[::169.254.169.254]", "[::a9fe:a9fe]", "[::127.0.0.1]", "[::10.0.0.1]",
    # the rest of the reserved ::/8 block, "this network" and the unspecified addresses
    "[::]", "[::1:0:0:1]", "[::ffff:0:a9fe:a9fe]", "0.0.0.0", "0", "0.1.2.3", "[::ffff:0.0.0.0]",
    # Teredo (2001::/32): the embedded addresses are obfuscated
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "[2001::a9fe:a9fe]",
]


@pytest.mark.parametrize("host", NEVER_ALLOWED_HOSTS)
async def test_never_allowed_destinations_are_refused(
    upstream: tuple[Upstream, TestServer], host: str
) -> None:
    fake, server = upstream
    with pytest.raises(DestinationNotAllowed) as caught:
        check_destination(f"http://{host}/latest/meta-data/")
    assert caught.value.reason == ALWAYS_REFUSED
    guarded = create_upstream_session(Settings(upstream_timeout_seconds=0.5))
    try:
        with pytest.raises(DestinationNotAllowed) as caught:
            await get_json(guarded, f"http://{host}:{server.port}/ok")
        assert caught.value.reason == ALWAYS_REFUSED
    finally:
        await guarded.close()
    assert fake.hits.get("ok", 0) == 0


async def test_a_redirect_to_metadata_is_refused_even_when_followed(
    upstream: tuple[Upstream, TestServer], session: aiohttp.ClientSession
) -> None:
    _, server = upstream
    with pytest.raises(DestinationNotAllowed) as caught:
        async with session.get(url(server, "/to-metadata"), allow_redirects=True):
            pass
    assert caught.value.reason == ALWAYS_REFUSED


async def test_names_resolving_to_link_local_are_refused_by_default(
    upstream: tuple[Upstream, TestServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, server = upstream
    answers = ["169.254.169.254"]
    monkeypatch.setattr(client_module, "DefaultResolver", lambda: StubResolver(answers))
    default = create_upstream_session(Settings(upstream_timeout_seconds=0.5))
    try:
        with pytest.raises(DestinationNotAllowed) as caught:
            await get_json(default, f"http://evil.example:{server.port}/ok")
        assert caught.value.reason == ALWAYS_REFUSED
        assert fake.hits.get("ok", 0) == 0
        # a name with a usable address besides is connected to that address only
        answers[:] = ["169.254.169.254", "127.0.0.1"]
        response = await get_json(default, f"http://mixed.example:{server.port}/ok")
        assert response.status == 200 and fake.hits["ok"] == 1
    finally:
        await default.close()


async def test_guarded_resolver_drops_only_never_allowed_answers() -> None:
    resolver = GuardedResolver(StubResolver([
        "169.254.169.254", "10.0.0.7", "fe80::1", "::a9fe:a9fe", "0.0.0.0", "::",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.168.1.20", "::1", "93.184.216.34"]))
    answers = await resolver.resolve("scaigrid.lan", 443)
    assert [a["host"] for a in answers] == ["10.0.0.7", "192.168.1.20", "::1", "93.184.216.34"]
    with pytest.raises(OSError):
        await GuardedResolver(StubResolver(["::169.254.169.254", "0.0.0.0"])).resolve("x", 80)


def test_is_never_allowed_address() -> None:
    for address in ("169.254.169.254", "169.254.0.1", "fe80::1", "fe80::1%eth0",
                    "fd00:ec2::254", "100.100.100.200", "::ffff:169.254.169.254",
                    "::169.254.169.254", "::10.0.0.1", "::", "0.0.0.0", "0.255.255.255",
                    "2001::1", "64:ff9b:1::a9fe:a9fe"):
        ip = parse_address(address)
        assert ip is not None and is_never_allowed_address(ip), address
    for address in ("10.0.0.1", "127.0.0.1", "192.168.1.1", "fd00::1", "93.184.216.34",
                    "::1", "::ffff:10.0.0.1", "2606:2800:220:1:248:1893:25c8:1946",
                    "2002:c0a8:101::1", "64:ff9b::a00:1"):
        ip = parse_address(address)
        assert ip is not None and not is_never_allowed_address(ip), address


async def test_private_destinations_are_allowed_by_default(
    upstream: tuple[Upstream, TestServer], session: aiohttp.ClientSession
) -> None:
    _, server = upstream
    assert (await get_json(session, f"http://localhost:{server.port}/ok")).status == 200


class StubResolver(AbstractResolver):
    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0,
                              flags=0) for a in self.addresses]

    async def close(self) -> None:
        pass
