"""The `.scaipkg` package format (SPEC §14): write one deterministically, read one safely.

A package is a zip archive of at most four members, always in this order:
`package.json` (what the package is: id, name, version, description, author, tenant, the
FlowGraph schema and the scaiflow-box version that produced it, and the sha256 and size of
every other member), `flow.json` (the FlowGraph), `manifest.yaml` (the compiled ScaiCore
manifest) and, when there is one, `README.md`. docs/api.md describes it for other tools.

Deterministic: the same input gives the same bytes, and so the same sha256, on any box:
members in a fixed order, every timestamp 1980-01-01 00:00:00 (the zip format's epoch),
mode 0644 from a Unix system, no extra fields, no comment, and **stored** (uncompressed)
members — deflate output depends on the zlib build a Python links (zlib and zlib-ng
produce different streams), so compressed bytes could differ between two boxes. JSON
members are written with sorted keys.

A pure library like the compiler: no I/O, no database; it raises domain errors.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zipfile
from dataclasses import dataclass
from io import BytesIO
from typing import Annotated, Any, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from scaiflow_box import __version__
from scaiflow_box.compiler.schema import FLOWGRAPH_SCHEMA_VERSION
from scaiflow_box.errors import InvalidFields, InvalidInput
from scaiflow_box.packages.safe_zip import ZipLimits, read_members, too_large
from scaiflow_box.text_rules import display_name, plain_id

PACKAGE_JSON = "package.json"
FLOW_JSON = "flow.json"
MANIFEST_YAML = "manifest.yaml"
README_MD = "README.md"
MEMBER_ORDER = (PACKAGE_JSON, FLOW_JSON, MANIFEST_YAML, README_MD)
KNOWN_MEMBERS = frozenset(MEMBER_ORDER)

FORMAT = "scaipkg"
FORMAT_VERSION = 1
MiB = 1024 * 1024
LIMITS = ZipLimits(max_archive_bytes=8 * MiB, max_members=16, max_member_bytes=8 * MiB,
                   max_ratio=100)
MAX_JSON_DEPTH = 64  # the API's limit for JSON bodies, applied to JSON members too
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = stat.S_IFREG | 0o644
UNIX = 3  # `create_system` of an entry made on Unix

PACKAGE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
SEMVER_PATTERN = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$"
_SEMVER = re.compile(SEMVER_PATTERN)


def parse_semver(version: str) -> tuple[int, int, int] | None:
    match = _SEMVER.match(version)
    if match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


# -- package.json --------------------------------------------------------------------------
@dataclass(frozen=True)
class PackageInfo:
    """What `package.json` says besides its member list."""

    package_id: str
    name: str
    version: str
    description: str
    author_id: str
    tenant_id: str
    flowgraph_schema_version: int = FLOWGRAPH_SCHEMA_VERSION
    scaiflow_box_version: str = __version__



Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class MemberDigest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    sha256: Sha256Hex
    size_bytes: int = Field(ge=0)


class PackageJson(BaseModel):
    """`package.json` as read from an archive. Keys it does not know are ignored (a newer
    producer's additions; the box writes its own package.json on import anyway)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    format: Literal["scaipkg"]
    format_version: int = Field(ge=1)
    package_id: Annotated[str, StringConstraints(pattern=PACKAGE_ID_PATTERN)]
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(display_name)]
    version: Annotated[str, StringConstraints(pattern=SEMVER_PATTERN, max_length=64)]
    description: Annotated[str, Field(max_length=10_000)] = ""
    author_id: Annotated[str, AfterValidator(plain_id)]
    tenant_id: Annotated[str, AfterValidator(plain_id)]
    flowgraph_schema_version: int = Field(ge=1)
    scaiflow_box_version: Annotated[str, Field(max_length=100)] | None = None
    members: dict[str, MemberDigest]


def package_json_bytes(info: PackageInfo, members: dict[str, bytes]) -> bytes:
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_id": info.package_id,
        "name": info.name,
        "version": info.version,
        "description": info.description,
        "author_id": info.author_id,
        "tenant_id": info.tenant_id,
        "flowgraph_schema_version": info.flowgraph_schema_version,
        "scaiflow_box_version": info.scaiflow_box_version,
        "members": {name: {"sha256": hashlib.sha256(data).hexdigest(),
                           "size_bytes": len(data)}
                    for name, data in members.items()},
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def flow_json_bytes(content: dict[str, Any]) -> bytes:
    """The FlowGraph as packed: compact JSON with sorted keys (the key order a client sent
    does not change the package)."""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


# -- writing -------------------------------------------------------------------------------
def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = UNIX
    info.create_version = 20
    info.extract_version = 20
    info.external_attr = FILE_MODE << 16
    return info


def write_package(info: PackageInfo, flow_json: bytes, manifest_yaml: bytes,
                  readme: bytes | None) -> bytes:
    """The archive's bytes. Same arguments, same bytes."""
    members = {FLOW_JSON: flow_json, MANIFEST_YAML: manifest_yaml}
    if readme is not None:
        members[README_MD] = readme
    members = {PACKAGE_JSON: package_json_bytes(info, members), **members}
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in MEMBER_ORDER:
            if name in members:
                archive.writestr(_entry(name), members[name])
    data = buffer.getvalue()
    oversized = [n for n, m in members.items() if len(m) > LIMITS.max_member_bytes]
    if oversized or len(data) > LIMITS.max_archive_bytes:
        # A package no appliance could import is never made.
        raise too_large(
            f"the package would be {len(data)} bytes"
            + (f" ({', '.join(oversized)} over {LIMITS.max_member_bytes})" if oversized else "")
            + f"; a .scaipkg may hold at most {LIMITS.max_archive_bytes} bytes and "
              f"{LIMITS.max_member_bytes} per member")
    return data


# -- reading -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackageParts:
    """A package read and checked: its package.json, FlowGraph and readme."""

    meta: PackageJson
    content: dict[str, Any]
    readme: str | None


def _invalid_package(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_package",
                        fix="A .scaipkg needs a package.json and a flow.json (docs/api.md).")


def _items(exc: PydanticValidationError, *prefix: str) -> list[dict[str, Any]]:
    return [{"loc": [*prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_context=False,
                                  include_input=False)]


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _json_object(data: bytes, member: str) -> dict[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise _invalid_package(f"{member} is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(value, dict):
        raise _invalid_package(f"{member} must hold a JSON object")
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise _invalid_package(f"{member} nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _check_integrity(meta: PackageJson, members: dict[str, bytes]) -> None:
    present = set(members) - {PACKAGE_JSON}
    listed = set(meta.members)
    problems: list[str] = []
    for name in sorted(present - listed):
        problems.append(f"{name} is not listed in package.json")
    for name in sorted(listed - present):
        problems.append(f"package.json lists {name}, which the archive lacks")
    for name in sorted(present & listed):
        digest = meta.members[name]
        data = members[name]
        if len(data) != digest.size_bytes or hashlib.sha256(data).hexdigest() != digest.sha256:
            problems.append(f"{name} does not match the sha256 and size package.json records")
    if problems:
        raise InvalidInput("the package fails its integrity check: " + "; ".join(problems),
                           code="package_integrity",
                           fix="The file was changed or damaged after it was made: export "
                               "it again from the box that made it.")


def _check_not_newer(raw_meta: dict[str, Any]) -> None:
    """A package made for a newer format or FlowGraph schema is refused naming both versions
    (checked before the other fields: a newer producer may have changed them)."""
    for key, ours, what, code in (
            ("format_version", FORMAT_VERSION, "package format", "format_too_new"),
            ("flowgraph_schema_version", FLOWGRAPH_SCHEMA_VERSION, "FlowGraph schema version",
             "schema_too_new")):
        theirs = raw_meta.get(key)
        if type(theirs) is int and theirs > ours:
            raise InvalidFields([{
                "loc": ["body", PACKAGE_JSON, key],
                "msg": f"the package's {what} {theirs} is newer than this appliance reads "
                       f"({ours}): import it on a newer scaiflow-box",
                "type": code}])


def read_package(data: bytes) -> PackageParts:
    """Check an archive from outside and return its parts. Refusals: 400
    `invalid_archive` / `archive_unsafe` / `invalid_package` / `package_integrity`, 413
    `archive_too_large`, 422 (package.json fields; `schema_too_new`). flow.json is only
    parsed here: validating and compiling it is the caller's next step."""
    members = read_members(data, KNOWN_MEMBERS, LIMITS)
    for required in (PACKAGE_JSON, FLOW_JSON):
        if required not in members:
            raise _invalid_package(f"the archive has no {required}")
    raw_meta = _json_object(members[PACKAGE_JSON], PACKAGE_JSON)
    _check_not_newer(raw_meta)
    try:
        meta = PackageJson.model_validate(raw_meta)
    except PydanticValidationError as exc:
        raise InvalidFields(_items(exc, "body", PACKAGE_JSON)) from None
    _check_integrity(meta, members)
    content = _json_object(members[FLOW_JSON], FLOW_JSON)
    readme: str | None = None
    if README_MD in members:
        try:
            readme = members[README_MD].decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid_package("README.md is not UTF-8 text") from None
    return PackageParts(meta, content, readme)
