"""What fuzzing found (issue #6): each answer is a documented JSON error, nothing is stored,
and no token or body bytes reach the response or the log."""

from __future__ import annotations

import asyncio
import base64
import gzip
import logging
import time
import zlib
from typing import Any

import orjson
import pytest

from tests.conftest import AppFactory, Appliance, hello_content

FLOWS = "/api/v1/flows"


def flow_count(app: Appliance) -> int:
    return int(app.sql("SELECT count(*) AS n FROM flows")[0]["n"])


async def raw_request(app: Appliance, data: bytes, *, read_timeout: float = 10.0,
                      close_after_send: bool = False) -> bytes:
    """Send bytes on a fresh connection and read the whole answer (the server closes)."""
    server = app.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(data)
        await writer.drain()
        if close_after_send:
            return b""
        return await asyncio.wait_for(reader.read(), read_timeout)
    finally:
        writer.close()


def split_response(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":")
                                                            for line in lines[1:])}
    return status, headers, orjson.loads(body) if body else None


# -- Content-Encoding --------------------------------------------------------------------
async def test_gzip_or_deflate_that_does_not_decode_is_400(appliance: Appliance,
                                                           caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    headers = await appliance.headers()
    body = orjson.dumps({"name": "x", "content": hello_content()})
    for encoding in ("gzip", "deflate"):
        resp = await appliance.client.post(FLOWS, data=body, headers={
            **headers, "Content-Type": "application/json", "Content-Encoding": encoding})
        assert resp.status == 400, encoding
        detail = (await resp.json())["detail"]
        assert detail["error"] == "bad_request_body"
    assert flow_count(appliance) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_gzip_and_deflate_bodies_are_accepted(appliance: Appliance) -> None:
    headers = await appliance.headers()
    body = orjson.dumps({"name": "zipped", "content": hello_content()})
    for encoding, data in (("gzip", gzip.compress(body)), ("deflate", zlib.compress(body))):
        resp = await appliance.client.post(FLOWS, data=data, headers={
            **headers, "Content-Type": "application/json", "Content-Encoding": encoding})
        assert resp.status == 201, (encoding, await resp.text())
    assert flow_count(appliance) == 2


async def test_a_decompression_bomb_is_413(appliance: Appliance) -> None:
    headers = await appliance.headers()
    bomb = gzip.compress(b'{"name": "' + b"a" * (20 * 1024 * 1024) + b'"}')
    assert len(bomb) < 64 * 1024
    resp = await appliance.client.post(FLOWS, data=bomb, headers={
        **headers, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert resp.status == 413
    assert (await resp.json())["detail"]["error"] == "payload_too_large"
    assert flow_count(appliance) == 0


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "x-custom"])
async def test_other_encodings_are_415(appliance: Appliance, encoding: str) -> None:
    token = (await appliance.headers())["Authorization"]
    body = orjson.dumps({"name": "x", "content": hello_content()})
    raw = await raw_request(appliance, (
        f"POST {FLOWS} HTTP/1.1\r\nHost: t\r\nAuthorization: {token}\r\n"
        f"Content-Type: application/json\r\nContent-Encoding: {encoding}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body)
    status, headers, payload = split_response(raw)
    assert status == 415, raw[:200]
    assert headers["content-type"].startswith("application/json")
    assert payload["detail"]["error"] == "unsupported_content_encoding"
    assert flow_count(appliance) == 0


# -- oversized request lines and headers -------------------------------------------------
async def test_oversized_headers_and_urls_are_431_and_414_without_echo(
        appliance: Appliance, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "tok" + "s3cr3t" * 1500  # > 8 KB
    cases = [
        (f"GET {FLOWS} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {secret}\r\n\r\n", 431,
         "request_header_fields_too_large"),
        (f"GET {FLOWS}?q={secret}&x={'y' * 100_000} HTTP/1.1\r\nHost: t\r\n\r\n", 414,
         "uri_too_long"),
        (f"PUT {FLOWS}/flow_x HTTP/1.1\r\nHost: t\r\nIf-Match: \"{secret}\"\r\n\r\n", 431,
         "request_header_fields_too_large"),
        (f"GET {FLOWS} HTTP/1.1\r\nHost: t\r\n" + "".join(f"X-H{i}: v\r\n" for i in range(200))
         + "\r\n", 431, "request_header_fields_too_large"),
    ]
    for request, status, code in cases:
        raw = await raw_request(appliance, request.encode())
        got, headers, payload = split_response(raw)
        assert got == status, raw[:300]
        assert headers["content-type"].startswith("application/json")
        assert payload["detail"]["error"] == code
        assert b"s3cr3t" not in raw
    assert "s3cr3t" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_malformed_request_is_a_json_400(appliance: Appliance) -> None:
    raw = await raw_request(appliance, b"GET /healthz HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n")
    status, _, payload = split_response(raw)
    assert status == 400 and payload["detail"]["error"] == "bad_request"


# -- bodies that stop arriving, clients that go away -------------------------------------
async def test_a_body_that_stops_arriving_is_408(make_appliance: AppFactory,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    app = await make_appliance(SCAIFLOW_BODY_TIMEOUT_SECONDS="0.5")
    token = (await app.headers())["Authorization"]
    started = time.monotonic()
    raw = await raw_request(app, (
        f"POST {FLOWS} HTTP/1.1\r\nHost: t\r\nAuthorization: {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n").encode()
        + b'{"name": "')
    elapsed = time.monotonic() - started
    status, headers, payload = split_response(raw)
    assert status == 408 and payload["detail"]["error"] == "request_timeout"
    assert headers.get("connection", "").lower() == "close"
    assert 0.4 < elapsed < 5
    assert flow_count(app) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_client_that_goes_away_is_not_an_error(appliance: Appliance,
                                                       caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    token = (await appliance.headers())["Authorization"]
    await raw_request(appliance, (
        f"POST {FLOWS} HTTP/1.1\r\nHost: t\r\nAuthorization: {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()
        + b'{"name": "', close_after_send=True)
    await asyncio.sleep(0.3)
    assert (await appliance.client.get("/healthz")).status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert flow_count(appliance) == 0


# -- cursors -----------------------------------------------------------------------------
async def _flows_with_versions(app: Appliance, headers: dict[str, str]) -> list[str]:
    ids = []
    for name in ("one", "two", "three"):
        resp = await app.client.post(FLOWS, json={"name": name, "content": hello_content()},
                                     headers=headers)
        flow_id = (await resp.json())["id"]
        for _ in range(2):
            await app.client.put(f"{FLOWS}/{flow_id}", json={"content": hello_content()},
                                 headers=headers)
        ids.append(flow_id)
    return ids


async def test_forged_edited_and_foreign_cursors_are_400(appliance: Appliance) -> None:
    alice = await appliance.headers("usr_alice", "tnt_a")
    first, second, _ = await _flows_with_versions(appliance, alice)
    page = await (await appliance.client.get(f"{FLOWS}/{first}/versions", headers=alice,
                                             params={"limit": "1"})).json()
    good = page["next_cursor"]
    resp = await appliance.client.get(f"{FLOWS}/{first}/versions", headers=alice,
                                      params={"limit": "1", "cursor": good})
    assert resp.status == 200 and (await resp.json())["items"][0]["version"] == "1.0.1"
    listing = await (await appliance.client.get(FLOWS, headers=alice,
                                                params={"limit": "1"})).json()
    _, mac = good.split(".")

    def b64(value: object) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")

    versions_of_first = f"{FLOWS}/{first}/versions"
    bad = [
        ("forged json", versions_of_first, b64([1])),
        ("forged json with a real mac", versions_of_first, f"{b64([1])}.{mac}"),
        ("edited value", versions_of_first, f"{b64([2])}.{mac}"),
        ("another flow's cursor", f"{FLOWS}/{second}/versions", good),
        ("another list's cursor", versions_of_first, listing["next_cursor"]),
        ("garbage", versions_of_first, "garbage!"),
        ("too long", versions_of_first, "a" * 1500),
    ]
    for name, path, cursor in bad:
        resp = await appliance.client.get(path, headers=alice, params={"cursor": cursor})
        assert resp.status in (400, 422), name
        detail = (await resp.json())["detail"]
        if resp.status == 400:
            assert detail["error"] == "invalid_cursor", name
        else:  # over the documented maxLength
            assert detail[0]["loc"] == ["query", "cursor"], name
    # A cursor is bound to its tenant too.
    other = await appliance.headers("usr_eve", "tnt_b")
    resp = await appliance.client.get(FLOWS, headers=other,
                                      params={"cursor": listing["next_cursor"]})
    assert resp.status == 400


# -- names -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["", "   ", "\t", "a\x00b", "line\nbreak", "bell\x07",
                                  "del\x7f", "c1\x85", "x" * 201])
async def test_blank_or_control_character_names_are_422(appliance: Appliance,
                                                        name: str) -> None:
    headers = await appliance.headers()
    resp = await appliance.client.post(FLOWS, json={"name": name, "content": hello_content()},
                                       headers=headers)
    assert resp.status == 422, repr(name)
    [item] = (await resp.json())["detail"]
    assert item["loc"] == ["body", "name"]
    assert flow_count(appliance) == 0


async def test_a_rename_to_a_blank_name_is_422_and_changes_nothing(appliance: Appliance
                                                                    ) -> None:
    headers = await appliance.headers()
    resp = await appliance.client.post(FLOWS, json={"name": "Keep", "content": hello_content()},
                                       headers=headers)
    flow_id = (await resp.json())["id"]
    resp = await appliance.client.put(f"{FLOWS}/{flow_id}", json={"name": " \u3000 "},
                                      headers=headers)
    assert resp.status == 422
    [row] = appliance.sql("SELECT name, meta_rev FROM flows WHERE id = ?", flow_id)
    assert (row["name"], row["meta_rev"]) == ("Keep", 0)
    resp = await appliance.client.put(f"{FLOWS}/{flow_id}", json={"name": "Zoë \u2013 v2"},
                                      headers=headers)
    assert resp.status == 200 and (await resp.json())["name"] == "Zoë \u2013 v2"
