"""Preview endpoints (SPEC §5.2, §6): validate, compile, import, run-tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.api.test_flows import FLOWS
from tests.conftest import Appliance

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.flow.json").read_text())
    return data


async def test_validate_needs_view_only_and_stores_nothing(appliance: Appliance) -> None:
    viewer = await appliance.headers("usr_v", "tnt_a", scope="scaicore:view")
    resp = await appliance.client.post(FLOWS + "/validate", headers=viewer,
                                       json={"content": example("customer-support")})
    assert resp.status == 200
    assert await resp.json() == {"valid": True, "diagnostics": []}
    broken = example("hello-world")
    broken["edges"][0]["source"]["port"] = "out_typo"
    resp = await appliance.client.post(FLOWS + "/validate", headers=viewer,
                                       json={"content": broken})
    body = await resp.json()
    assert resp.status == 200 and body["valid"] is False
    [diag] = [d for d in body["diagnostics"] if d["severity"] == "error"]
    assert diag["message"] == ("edge 'edge_start_greet': source node 'node_start' has no "
                               "output port 'out_typo'")
    assert diag["edge_id"] == "edge_start_greet"
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0
    resp = await appliance.client.post(FLOWS + "/validate", headers=viewer, json={})
    assert resp.status == 422
    assert (await resp.json())["detail"][0]["loc"] == ["body", "content"]
    resp = await appliance.client.post(FLOWS + "/validate", json={"content": {}})
    assert resp.status == 401


async def test_compile_returns_errors_inside_a_200(appliance: Appliance) -> None:
    headers = await appliance.headers()
    resp = await appliance.client.post(FLOWS + "/compile", headers=headers,
                                       json={"content": example("hello-world")})
    body = await resp.json()
    assert resp.status == 200 and body["format"] == "yaml" and body["errors"] == []
    manifest = yaml.safe_load(body["body"])
    assert manifest["core"]["name"] == "hello-world"
    resp = await appliance.client.post(FLOWS + "/compile", headers=headers,
                                       json={"content": example("hello-world"),
                                             "format": "json"})
    as_json = await resp.json()
    assert json.loads(as_json["body"]) == manifest

    no_entry = example("hello-world")
    no_entry["nodes"] = [n for n in no_entry["nodes"] if not n["type"].startswith("entry_")]
    no_entry["edges"] = []
    resp = await appliance.client.post(FLOWS + "/compile", headers=headers,
                                       json={"content": no_entry})
    body = await resp.json()
    assert resp.status == 200 and body["body"] is None
    assert "flow has no entry-point node" in [e["message"] for e in body["errors"]]

    for fmt in ("ir", "scai"):
        resp = await appliance.client.post(FLOWS + "/compile", headers=headers,
                                           json={"content": example("hello-world"),
                                                 "format": fmt})
        assert resp.status == 400
        assert (await resp.json())["detail"]["error"] == "unsupported_format"


async def test_import_round_trips_our_own_output(appliance: Appliance) -> None:
    headers = await appliance.headers()
    original = example("customer-support")
    resp = await appliance.client.post(FLOWS + "/compile", headers=headers,
                                       json={"content": original})
    manifest = (await resp.json())["body"]
    resp = await appliance.client.post(FLOWS + "/import", headers=headers,
                                       json={"yaml": manifest})
    body = await resp.json()
    assert resp.status == 200
    assert body["content"] == original
    resp = await appliance.client.post(FLOWS + "/import", headers=headers,
                                       json={"yaml": "just: [unclosed"})
    assert resp.status == 400
    assert (await resp.json())["detail"]["error"] == "import_failed"


async def test_run_tests_on_a_stored_flow(appliance: Appliance) -> None:
    headers = await appliance.headers()
    content = example("hello-world")
    resp = await appliance.client.post(FLOWS, headers=headers,
                                       json={"name": "Hello", "content": content})
    flow = await resp.json()
    url = f"{FLOWS}/{flow['id']}/run-tests"
    resp = await appliance.client.post(url, headers=headers, json={})
    report = await resp.json()
    assert resp.status == 200
    assert report["version"] == "1.0.0"
    assert (report["passed"], report["failed"], report["errors"]) == (2, 0, 0)
    assert [r["status"] for r in report["results"]] == ["passed", "passed"]
    assert report["results"][0]["visits"] == ["node_start", "node_greet"]

    failing = [{"name": "wrong greeting", "input": {"name": "Bob"},
                "expect": {"output": {"text": "Goodbye"}}}]
    resp = await appliance.client.post(url, headers=headers, json={"tests": failing})
    report = await resp.json()
    assert (report["passed"], report["failed"]) == (0, 1)
    assert report["results"][0]["failures"]

    broken = dict(content)
    broken["nodes"] = [n for n in content["nodes"] if not n["type"].startswith("entry_")]
    broken["edges"] = []
    await appliance.client.put(f"{FLOWS}/{flow['id']}", headers=headers,
                               json={"content": broken})
    resp = await appliance.client.post(url, headers=headers, json={})
    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert detail["error"] == "compile_error" and detail["errors"]
    # An older version can still be tested.
    resp = await appliance.client.post(url, headers=headers, json={"version": "1.0.0"})
    assert resp.status == 200 and (await resp.json())["passed"] == 2
    resp = await appliance.client.post(url, headers=headers, json={"version": "7.7.7"})
    assert resp.status == 404


async def imported(appliance: Appliance, manifest: str) -> str:
    """The text of a 200 answer to importing `manifest`; an import stores nothing."""
    headers = await appliance.headers("usr_alice", "tnt_a")
    resp = await appliance.client.post(FLOWS + "/import", headers=headers,
                                       json={"yaml": manifest})
    text = await resp.text()
    assert resp.status == 200, text
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0
    return text


async def test_import_answers_integers_beyond_64_bits(appliance: Appliance) -> None:
    manifest = ("core:\n  name: big\n  flows:\n    - name: main\n      steps:\n"
                "        - unknown_kind: {count: 123456789012345678901234567890}\n")
    text = await imported(appliance, manifest)
    assert "123456789012345678901234567890" in text
    assert json.loads(text)["warnings"]


async def test_compile_and_validate_bodies_are_checked_as_any_json_body(
        appliance: Appliance) -> None:
    """Their bodies are parsed in the compiler's thread when their turn comes: the answers to
    a bad body are the same 422s (and 415) as anywhere, nothing is stored, and the compiler
    is free for the next request."""
    viewer = await appliance.headers("usr_v", "tnt_a", scope="scaicore:view")
    json_type = {**viewer, "Content-Type": "application/json"}
    deep = "[" * 65 + "]" * 65
    for path in ("/compile", "/validate"):
        cases = [
            (b'{"content": ', "json_invalid", ["body", 12]),
            (f'{{"content": {{"x": {deep}}}}}'.encode(), "json_too_deep", ["body"]),
            (b'{"content": {"name": "a\\u0000b"}}', "control_character",
             ["body", "content", "name"]),
            (b'{"format": "yaml"}', "missing", ["body", "content"]),
            (b'{"content": 5}', "dict_type", ["body", "content"]),
            (b'{"content": {}, "extra": 1}', "extra_forbidden", ["body", "extra"]),
        ]
        for raw, kind, loc in cases:
            resp = await appliance.client.post(FLOWS + path, headers=json_type, data=raw)
            body = await resp.json()
            assert resp.status == 422, (path, raw, body)
            assert body["detail"][0]["type"] == kind, (path, raw, body)
            if loc is not None:
                assert body["detail"][0]["loc"] == loc, (path, raw, body)
        resp = await appliance.client.post(FLOWS + path, headers={
            **viewer, "Content-Type": "text/plain"}, data=b'{"content": {}}')
        assert resp.status == 415
    resp = await appliance.client.post(FLOWS + "/compile", headers=viewer,
                                       json={"content": example("hello-world"), "format": "ir"})
    assert resp.status == 400
    assert (await resp.json())["detail"]["error"] == "unsupported_format"
    resp = await appliance.client.post(FLOWS + "/compile", headers=viewer,
                                       json={"content": example("hello-world")})
    body = await resp.json()
    assert resp.status == 200 and body["errors"] == [] and body["format"] == "yaml"
    assert yaml.safe_load(body["body"])["core"]
    assert appliance.sql("SELECT count(*) AS n FROM flows")[0]["n"] == 0


async def test_import_reads_an_empty_value_as_yaml_does(appliance: Appliance) -> None:
    """`key: ` (a trailing space, no value) is null in YAML. The compiler's own reader does
    not write it and leaves such text to PyYAML: it once failed on it with a 500."""
    manifest = ("core:\n  name: spaced\n  model: \n  flows:\n    - name: main\n"
                "      steps:\n        - \n")
    body = json.loads(await imported(appliance, manifest))
    assert body["content"]["name"] == "spaced"
    assert "the manifest was not written by ScaiFlow; imported on a best-effort basis" in (
        body["warnings"])
