"""`GET /metrics` (SPEC §16): Prometheus text format, off unless SCAIFLOW_METRICS, loopback
clients only by default; request histograms by route template and status, database and WAL
size, JWKS age, upstream failures."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from scaiflow_box.api.metrics import client_allowed
from scaiflow_box.http.metrics import Exposition, RequestMetrics
from scaiflow_box.keys import METRICS, UPSTREAM_SESSION
from tests.conftest import AppFactory, hello_content
from tests.fakes.tokens import SigningKey

# One sample line of the text format: name, optional labels, value.
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})?'
                    r' (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$')


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, checking every line is a comment or a well-formed sample."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        assert SAMPLE.match(line), line
        key, _, value = line.rpartition(" ")
        assert key not in found, f"duplicate series {key}"
        found[key] = float(value)
    return found


async def test_metrics_are_off_by_default(make_appliance: AppFactory) -> None:
    appliance = await make_appliance()
    resp = await appliance.client.get("/metrics")
    assert resp.status == 404
    assert await resp.json() == {"detail": "metrics are disabled (set SCAIFLOW_METRICS=true)"}


async def test_metrics_in_the_text_format(make_appliance: AppFactory) -> None:
    appliance = await make_appliance(SCAIFLOW_METRICS="true")
    client = appliance.client
    headers = await appliance.headers()
    created = await client.post("/api/v1/flows", json={"name": "m", "content": hello_content()},
                                headers=headers)
    assert created.status == 201
    flow_id = (await created.json())["id"]
    for _ in range(3):
        assert (await client.get(f"/api/v1/flows/{flow_id}", headers=headers)).status == 200
    assert (await client.get("/api/v1/flows/flow_nosuchflowxxxxxx", headers=headers)).status \
        == 404
    assert (await client.get("/no/such/path")).status == 404
    assert (await client.request("TRACE", "/healthz")).status == 405

    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4"
    assert resp.headers["Cache-Control"] == "no-store"
    text = await resp.text()
    found = samples(text)
    assert "# TYPE scaiflow_http_request_duration_seconds histogram" in text
    route = "/api/v1/flows/{flow_id}"
    # Labelled by the route's template (never the id), method and status.
    ok = f'method="GET",route="{route}",status="200"'
    assert found[f"scaiflow_http_requests_total{{{ok}}}"] == 3
    assert found[f"scaiflow_http_request_duration_seconds_count{{{ok}}}"] == 3
    assert found[f'scaiflow_http_request_duration_seconds_bucket{{{ok},le="+Inf"}}'] == 3
    assert 0 < found[f"scaiflow_http_request_duration_seconds_sum{{{ok}}}"] < 3
    missing = f'method="GET",route="{route}",status="404"'
    assert found[f"scaiflow_http_requests_total{{{missing}}}"] == 1
    assert found['scaiflow_http_requests_total{method="POST",route="/api/v1/flows",'
                 'status="201"}'] == 1
    assert found['scaiflow_http_requests_total{method="GET",route="unmatched",'
                 'status="404"}'] == 1
    assert found['scaiflow_http_requests_total{method="OTHER",route="/healthz",'
                 'status="405"}'] == 1
    assert flow_id not in text
    # Buckets are cumulative.
    buckets = [value for key, value in found.items()
               if key.startswith("scaiflow_http_request_duration_seconds_bucket{" + ok)]
    assert buckets == sorted(buckets) and len(buckets) == 14
    # The database and its WAL, as the files are (MariaDB: the schema's tables, no WAL).
    _engine, size, wal = appliance.stored_size()
    assert found["scaiflow_db_size_bytes"] == size > 0
    assert found["scaiflow_db_wal_size_bytes"] == wal
    assert found["process_resident_memory_bytes"] > 10_000_000
    assert found['scaiflow_build_info{version="0.1.0",python="' +
                 ".".join(map(str, __import__("sys").version_info[:3])) + '"}'] == 1
    assert "# TYPE scaiflow_upstream_errors_total counter" in text
    assert "# TYPE scaiflow_jwks_age_seconds gauge" in text


async def test_jwks_age_per_issuer(make_appliance: AppFactory, tmp_path: Path) -> None:
    key = SigningKey("kid-1", "ES256", ec.generate_private_key(ec.SECP256R1()))
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [key.public_jwk]}))
    appliance = await make_appliance(SCAIFLOW_METRICS="true", SCAIKEY_JWKS_FILE=str(jwks_file),
                                     SCAIKEY_ISSUER="https://key.example/oauth",
                                     SCAIKEY_AUDIENCE="scaiflow", SCAIKEY_ALGORITHMS="ES256")
    text = await (await appliance.client.get("/metrics")).text()
    ages = {k: v for k, v in samples(text).items() if k.startswith("scaiflow_jwks_age_seconds")}
    assert list(ages) == ['scaiflow_jwks_age_seconds{issuer="https://key.example/oauth",'
                          'source="file"}']
    assert 0 <= next(iter(ages.values())) < 60


async def test_only_allowed_client_addresses(make_appliance: AppFactory) -> None:
    appliance = await make_appliance(SCAIFLOW_METRICS="true",
                                     SCAIFLOW_METRICS_ALLOW_FROM="10.0.0.0/8, 192.0.2.7")
    resp = await appliance.client.get("/metrics",
                                      headers={"X-Forwarded-For": "10.1.2.3"})  # not believed
    assert resp.status == 403
    body = await resp.json()
    assert body["detail"]["error"] == "forbidden"
    assert "SCAIFLOW_METRICS_ALLOW_FROM" in body["detail"]["fix"]


def test_client_allowed_matches_the_peer_address() -> None:
    loopback = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1"))
    assert client_allowed("127.0.0.1", loopback)
    assert client_allowed("127.8.9.10", loopback)
    assert client_allowed("::1", loopback)
    assert client_allowed("::ffff:127.0.0.1", loopback)  # IPv4 on a dual-stack socket
    assert not client_allowed("10.0.0.1", loopback)
    assert not client_allowed("::ffff:10.0.0.1", loopback)
    assert not client_allowed(None, loopback)
    assert not client_allowed("not an address", loopback)
    assert client_allowed("fe80::1%eth0", (ipaddress.ip_network("fe80::/10"),))


def test_bad_allow_list_is_a_config_error() -> None:
    from scaiflow_box.config import ConfigError, load_settings

    with pytest.raises(ConfigError) as caught:
        load_settings({"SCAIFLOW_ENV_FILE": "", "SCAIFLOW_METRICS_ALLOW_FROM": "10.0.0.0/8,nope"})
    assert caught.value.problems == [
        "SCAIFLOW_METRICS_ALLOW_FROM: not an IP address or network: 'nope'"]


async def test_upstream_failures_are_counted(make_appliance: AppFactory) -> None:
    appliance = await make_appliance(SCAIFLOW_METRICS="true")
    app = appliance.client.app
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(aiohttp.ClientConnectionError):
        await app[UPSTREAM_SESSION].get(f"http://127.0.0.1:{port}/jwks")
    assert app[METRICS].upstream_failures == {("127.0.0.1", "connection"): 1}
    text = await (await appliance.client.get("/metrics")).text()
    assert samples(text)['scaiflow_upstream_errors_total{host="127.0.0.1",'
                         'reason="connection"}'] == 1


def test_histogram_buckets_and_label_escaping() -> None:
    metrics = RequestMetrics(buckets=(0.1, 1.0))
    metrics.observe("GET", '/a"b\\c\nd', 200, 0.1)  # on a bound: counted in that bucket
    metrics.observe("GET", '/a"b\\c\nd', 200, 5.0)
    out = Exposition()
    metrics.write(out)
    text = out.render().decode()
    labels = 'method="GET",route="/a\\"b\\\\c\\nd",status="200"'
    found = samples(text)
    assert found[f'scaiflow_http_request_duration_seconds_bucket{{{labels},le="0.1"}}'] == 1
    assert found[f'scaiflow_http_request_duration_seconds_bucket{{{labels},le="1"}}'] == 1
    assert found[f'scaiflow_http_request_duration_seconds_bucket{{{labels},le="+Inf"}}'] == 2
    assert found[f"scaiflow_http_request_duration_seconds_sum{{{labels}}}"] == 5.1
