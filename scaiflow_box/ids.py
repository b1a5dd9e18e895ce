"""Object ids: a prefix and 16 lowercase base32 characters from a CSPRNG (SPEC §1)."""

import base64
import secrets

PREFIXES = frozenset({"flow", "acl", "dep", "evt", "tok", "req", "kid", "dek"})


def new_id(prefix: str) -> str:
    """`flow_…`, `acl_…`: 80 random bits as 16 base32 characters."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{base64.b32encode(secrets.token_bytes(10)).decode().lower()}"
