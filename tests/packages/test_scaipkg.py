"""The `.scaipkg` format as a library: what an archive looks like, that the same input gives
the same bytes (in this process, under hypothesis, and in another process with another time
zone, hash seed and umask), and that reading gives back what was packed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaiflow_box.errors import InvalidFields, InvalidInput, TooLarge
from scaiflow_box.packages.packing import pack_flow
from scaiflow_box.packages.scaipkg import LIMITS, PackageInfo, read_package
from tests.compiler.strategies import valid_flows
from tests.packages.builders import EXAMPLE_NAMES, load_example

ROOT = Path(__file__).resolve().parents[2]
INFO = PackageInfo(package_id="hello", name="Hello", version="0.1.0", description="d",
                   author_id="usr_alice", tenant_id="tnt_a", scaiflow_box_version="9.9.9")


def reordered(value: Any) -> Any:
    """The same JSON with every object's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_an_archive_is_four_stored_members_in_a_fixed_order_with_fixed_attributes(
        name: str) -> None:
    packed = pack_flow(INFO, load_example(name), "# Read me\n", loc=("body", "content"))
    assert packed.sha256 == hashlib.sha256(packed.data).hexdigest()
    archive = zipfile.ZipFile(io.BytesIO(packed.data))
    infos = archive.infolist()
    assert [i.filename for i in infos] == ["package.json", "flow.json", "manifest.yaml",
                                           "README.md"]
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.create_system == 3
        assert info.external_attr == 0o100644 << 16
        assert info.extra == b"" and info.comment == b""
    assert archive.comment == b""
    meta = json.loads(archive.read("package.json"))
    assert meta == {
        "format": "scaipkg", "format_version": 1, "package_id": "hello", "name": "Hello",
        "version": "0.1.0", "description": "d", "author_id": "usr_alice", "tenant_id": "tnt_a",
        "flowgraph_schema_version": 2, "scaiflow_box_version": "9.9.9",
        "members": {n: {"sha256": hashlib.sha256(archive.read(n)).hexdigest(),
                        "size_bytes": len(archive.read(n))}
                    for n in ("flow.json", "manifest.yaml", "README.md")}}
    flow = json.loads(archive.read("flow.json"))
    assert flow["id"] == "hello" and flow["version"] == "0.1.0"
    assert archive.read("manifest.yaml").startswith(b"core:")
    assert archive.read("README.md") == b"# Read me\n"


def test_no_readme_means_three_members() -> None:
    packed = pack_flow(INFO, load_example("hello-world"), None, loc=("body", "content"))
    names = zipfile.ZipFile(io.BytesIO(packed.data)).namelist()
    assert names == ["package.json", "flow.json", "manifest.yaml"]
    assert "README.md" not in json.loads(
        zipfile.ZipFile(io.BytesIO(packed.data)).read("package.json"))["members"]


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_same_input_same_bytes_whatever_the_key_order(name: str) -> None:
    content = load_example(name)
    first = pack_flow(INFO, content, "r", loc=()).data
    assert pack_flow(INFO, json.loads(json.dumps(content)), "r", loc=()).data == first
    assert pack_flow(INFO, reordered(content), "r", loc=()).data == first
    # and any change of input changes the bytes
    assert pack_flow(INFO, content, "r2", loc=()).data != first


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=valid_flows(), readme=st.none() | st.text(max_size=40),
       version=st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 999)))
def test_property_same_input_gives_the_same_bytes_and_reads_back(
        flow: dict[str, Any], readme: str | None, version: tuple[int, int, int]) -> None:
    info = PackageInfo(package_id="prop", name="Prop", version=".".join(map(str, version)),
                       description="", author_id="usr_a", tenant_id="tnt_a")
    try:
        packed = pack_flow(info, flow, readme, loc=())
    except InvalidInput as exc:  # a generated flow may not compile: no package, as publish
        assert exc.code == "compile_error"
        return
    again = pack_flow(info, orjson.loads(orjson.dumps(reordered(flow))), readme, loc=())
    assert again.data == packed.data and again.sha256 == packed.sha256
    parts = read_package(packed.data)
    assert parts.content == {**flow, "id": "prop", "version": info.version}
    assert parts.readme == readme
    assert parts.meta.version == info.version and parts.meta.author_id == "usr_a"


def test_another_process_with_another_clock_zone_seed_and_umask_makes_the_same_bytes(
        tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from scaiflow_box.packages.packing import pack_flow\n"
        "from scaiflow_box.packages.scaipkg import PackageInfo\n"
        "content = json.load(open(sys.argv[1]))\n"
        "info = PackageInfo('hello', 'Hello', '0.1.0', 'd', 'usr_alice', 'tnt_a',"
        " scaiflow_box_version='9.9.9')\n"
        "sys.stdout.buffer.write(pack_flow(info, content, '# Read me\\n', loc=()).data)\n")
    env = {**os.environ, "TZ": "Pacific/Chatham", "PYTHONHASHSEED": "4242", "LC_ALL": "C"}
    result = subprocess.run(
        [sys.executable, "-c", f"import os; os.umask(0o077)\n{script}",
         str(ROOT / "scaiflow_box" / "examples" / "customer-support.flow.json")],
        env=env, capture_output=True, check=True, cwd=ROOT, timeout=60)
    here = pack_flow(INFO, load_example("customer-support"), "# Read me\n", loc=()).data
    assert result.stdout == here


def test_a_broken_flow_makes_no_package() -> None:
    content = load_example("hello-world")
    content["edges"][0]["source"]["port"] = "out_typo"
    with pytest.raises(InvalidInput) as caught:
        pack_flow(INFO, content, None, loc=("body", "content"))
    assert caught.value.code == "compile_error"
    assert any("out_typo" in e["message"] for e in caught.value.extra["errors"])
    content["nodes"][0]["position"] = "left"
    with pytest.raises(InvalidFields) as structural:
        pack_flow(INFO, content, None, loc=("body", "content"))
    assert structural.value.items[0]["loc"][:4] == ["body", "content", "nodes", 0]


def test_a_package_no_box_could_import_is_never_made() -> None:
    content = load_example("hello-world")
    content["metadata"] = {"notes": "x" * (LIMITS.max_archive_bytes // 2)}  # flow + manifest
    with pytest.raises(TooLarge) as caught:
        pack_flow(INFO, content, None, loc=())
    assert caught.value.code == "archive_too_large"
    assert "8388608" in caught.value.message
