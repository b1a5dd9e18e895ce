"""Building `.scaipkg` archives in tests, well-formed or hostile, with the standard library's
zipfile (never through the appliance's own writer, so the reader is tested against archives
another tool could make)."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import struct
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from scaiflow_box.compiler.emit_yaml import compile_flow

EXAMPLES = Path(__file__).resolve().parents[2] / "scaiflow_box" / "examples"
EXAMPLE_NAMES = ("hello-world", "customer-support", "compute")


def load_example(name: str) -> dict[str, Any]:
    content: dict[str, Any] = json.loads((EXAMPLES / f"{name}.flow.json").read_text("utf-8"))
    return content


def entry(name: str, *, mode: int = stat.S_IFREG | 0o644,
          compress: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 12, 0, 0))
    info.compress_type = compress
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def zip_of(entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    """An archive of exactly these entries, in this order (duplicates allowed)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": on purpose
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in entries:
                archive.writestr(entry(name) if isinstance(name, str) else name, data)
    return buffer.getvalue()


def flow_members(content: dict[str, Any] | None = None, *, readme: str | None = "# Hello\n",
                 package_id: str = "hello") -> dict[str, bytes]:
    """flow.json, manifest.yaml and README.md of a valid package (as another tool would
    write them: indented JSON, its own key order)."""
    flow = dict(content if content is not None else load_example("hello-world"))
    flow["id"], flow["version"] = package_id, "0.1.0"
    result = compile_flow(flow, "yaml")
    assert result.body is not None, result.errors
    members = {"flow.json": json.dumps(flow, indent=2).encode(),
               "manifest.yaml": result.body.encode()}
    if readme is not None:
        members["README.md"] = readme.encode()
    return members


def package_json(members: dict[str, bytes], /, **fields: Any) -> bytes:
    document: dict[str, Any] = {
        "format": "scaipkg", "format_version": 1, "package_id": "hello", "name": "Hello",
        "version": "0.1.0", "description": "says hello", "author_id": "usr_maker",
        "tenant_id": "tnt_elsewhere", "flowgraph_schema_version": 2,
        "scaiflow_box_version": "0.1.0",
        "members": {name: {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
                    for name, data in members.items()},
    }
    document.update(fields)
    return json.dumps(document, indent=2).encode()


def package_archive(members: dict[str, bytes] | None = None, /, **fields: Any) -> bytes:
    """A well-formed package: package.json listing the members, then the members."""
    members = flow_members() if members is None else members
    return zip_of([("package.json", package_json(members, **fields)), *members.items()])


def with_sizes(data: bytes, name: str, *, file_size: int) -> bytes:
    """The archive with `name`'s uncompressed size rewritten in its local and central headers
    (a member that lies about its size)."""
    out = bytearray(data)
    encoded = name.encode()
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (at := out.find(signature, start)) >= 0:
            start = at + 4
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if out[name_at:name_at + len(encoded)] == encoded:
                struct.pack_into("<I", out, at + size_at, file_size)
    return bytes(out)
