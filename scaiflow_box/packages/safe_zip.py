"""Reading an untrusted zip archive in memory: member names, types, counts and sizes are
checked before a byte is decompressed, and nothing is ever written to the file system.

What is refused, and why:
- more than `max_members` entries (checked first, from the end record and the central
  directory, before zipfile builds anything);
- names that are absolute (`/x`, `C:x`), contain `..` or `.` components, empty components,
  backslashes, NUL or other control characters, or end in `/` (directories): another tool
  that extracts the archive must not be led outside its target;
- entries whose mode says link, directory, device or FIFO (Unix mode in the high 16 bits of
  the external attributes) or whose DOS attributes say directory or reparse point (a Windows
  link);
- duplicate names (two members that would land on one path; readers disagree on which wins);
- names outside `allowed`;
- encrypted entries and compression methods other than stored and deflate;
- a member whose declared size exceeds `max_member_bytes`, or whose size is more than
  `max_ratio` times its compressed size (a zip bomb); reading stops at the declared size, so
  a member that inflates beyond what it declares is refused by its CRC, never held whole.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass

from scaiflow_box.errors import InvalidInput, TooLarge

_DOS_DIRECTORY = 0x10
_DOS_REPARSE_POINT = 0x400  # how Windows zips mark a symbolic link
_ENCRYPTED = 0x1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"\A[A-Za-z]:")
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    max_archive_bytes: int
    max_members: int
    max_member_bytes: int
    max_ratio: int


def unsafe(message: str) -> InvalidInput:
    return InvalidInput(message, code="archive_unsafe",
                        fix="Export the package again with `scaiflow-box catalog export` or "
                            "the download route; a .scaipkg holds only its known members.")


def invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_archive",
                        fix="Send a .scaipkg file (a zip archive) unchanged.")


def too_large(message: str) -> TooLarge:
    return TooLarge(message, code="archive_too_large")


def _check_name(name: str) -> None:
    shown = repr(name[:80])
    if not name:
        raise unsafe("the archive has a member with an empty name")
    if _CONTROL.search(name):
        raise unsafe(f"member name {shown} contains control characters")
    if "\\" in name:
        raise unsafe(f"member name {shown} contains a backslash")
    if name.startswith("/") or _DRIVE.match(name):
        raise unsafe(f"member name {shown} is an absolute path")
    parts = name.split("/")
    if ".." in parts:
        raise unsafe(f"member name {shown} contains '..'")
    if name.endswith("/"):
        raise unsafe(f"member {shown} is a directory")
    if any(part in ("", ".") for part in parts):
        raise unsafe(f"member name {shown} has an empty or '.' component")


def _check_type(info: zipfile.ZipInfo) -> None:
    shown = repr(info.orig_filename[:80])
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise unsafe(f"member {shown} is a symbolic link")
    if kind not in (0, stat.S_IFREG):
        raise unsafe(f"member {shown} is not a regular file")
    dos = info.external_attr & 0xFFFF
    if dos & _DOS_REPARSE_POINT:
        raise unsafe(f"member {shown} is a link (reparse point)")
    if dos & _DOS_DIRECTORY:
        raise unsafe(f"member {shown} is a directory")


def _check_entry(info: zipfile.ZipInfo, limits: ZipLimits) -> None:
    shown = repr(info.orig_filename[:80])
    if info.flag_bits & _ENCRYPTED:
        raise invalid(f"member {shown} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise invalid(f"member {shown} uses compression method {info.compress_type}; only "
                      "stored (0) and deflate (8) are read")
    if info.file_size > limits.max_member_bytes:
        raise too_large(f"member {shown} is {info.file_size} bytes uncompressed; the limit is "
                        f"{limits.max_member_bytes}")
    if info.file_size > limits.max_ratio * info.compress_size:
        raise too_large(f"member {shown} expands {info.file_size} bytes from "
                        f"{info.compress_size}: more than {limits.max_ratio} times")


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's bytes, never more than `limit` held (zipfile stops at the declared size
    and checks the CRC at the end)."""
    chunks: list[bytes] = []
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(_READ_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # only a lying header gets here
                raise too_large(f"member {info.orig_filename[:80]!r} exceeds {limit} bytes")
    if size != info.file_size:
        raise invalid(f"member {info.orig_filename[:80]!r} is not the size its header says")
    return b"".join(chunks)


_EOCD = b"PK\x05\x06"
_CENTRAL_ENTRY = b"PK\x01\x02"
_EOCD_SIZE = 22
_MAX_COMMENT = 65_535


def _check_entry_count(data: bytes, limit: int) -> None:
    """Refuse an archive of more than `limit` entries from its end record and a walk of at
    most `limit` + 1 central-directory headers, before zipfile parses it: zipfile builds an
    object for every entry first, and 8 MiB hold some 100,000 empty ones (seconds of CPU).
    Anything this walk cannot follow is left to zipfile, which then refuses or parses it."""
    at = data.rfind(_EOCD, max(0, len(data) - _EOCD_SIZE - _MAX_COMMENT))
    if at < 0 or len(data) < at + _EOCD_SIZE:
        return
    declared, cd_size, cd_offset = struct.unpack_from("<HII", data, at + 10)
    if declared == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
        raise invalid("ZIP64 archives are not read (a package never needs one)")
    if declared > limit:
        raise unsafe(f"the archive has {declared} members; at most {limit} are read")
    position, count = at - cd_size, 0
    while 0 <= position < at and data[position:position + 4] == _CENTRAL_ENTRY:
        if position + 46 > at:
            return
        name, extra, comment = struct.unpack_from("<HHH", data, position + 28)
        position += 46 + name + extra + comment
        count += 1
        if count > limit:
            raise unsafe(f"the archive has more than {limit} members; at most {limit} are "
                         "read")


def read_members(data: bytes, allowed: frozenset[str], limits: ZipLimits) -> dict[str, bytes]:
    """Every member's bytes by name, or the first reason to refuse the archive (400
    `invalid_archive` / `archive_unsafe`, 413 `archive_too_large`)."""
    if len(data) > limits.max_archive_bytes:
        raise too_large(f"the archive is {len(data)} bytes; the limit is "
                        f"{limits.max_archive_bytes}")
    _check_entry_count(data, limits.max_members)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            IndexError, KeyError) as exc:
        raise invalid(f"not a readable zip archive ({type(exc).__name__})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise unsafe(f"the archive has {len(infos)} members; at most "
                         f"{limits.max_members} are read")
        seen: set[str] = set()
        for info in infos:
            name = info.orig_filename
            _check_name(name)
            _check_type(info)
            if name in seen:
                raise unsafe(f"member {name[:80]!r} appears twice")
            seen.add(name)
            if name not in allowed:
                raise unsafe(f"unknown member {name[:80]!r}; a package holds only "
                             f"{', '.join(sorted(allowed))}")
            _check_entry(info, limits)
        members: dict[str, bytes] = {}
        for info in infos:
            try:
                members[info.orig_filename] = _read_member(archive, info,
                                                           limits.max_member_bytes)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                    NotImplementedError) as exc:
                raise invalid(f"member {info.orig_filename[:80]!r} cannot be read "
                              f"({type(exc).__name__}: {str(exc)[:120]})") from None
        return members
