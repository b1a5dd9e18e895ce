"""Object ids: a prefix and 16 lowercase base32 characters from a CSPRNG (SPEC §1), and the one
pattern every id we take from outside (token `sub`/`tenant_id`, mint requests) must match."""

import base64
import re
import secrets
from typing import TypeGuard

PREFIXES = frozenset({"flow", "acl", "dep", "evt", "tok", "req", "kid", "dek"})

# Our own ids and ScaiKey's (`usr_…`, `tnt_…`, client ids, e-mail-like subjects) all fit; no
# control characters, whitespace or `/`. `\A…\Z`, not `^…$`: `$` also matches before a
# trailing newline, so `re.match("^a$", "a\n")` succeeds.
PLAIN_ID = re.compile(r"\A[A-Za-z0-9._:@-]{1,200}\Z")


def is_plain_id(value: object) -> TypeGuard[str]:
    """Whether `value` is a string of 1-200 letters, digits and `._:@-`."""
    return isinstance(value, str) and PLAIN_ID.match(value) is not None


def new_id(prefix: str) -> str:
    """`flow_…`, `acl_…`: 80 random bits as 16 base32 characters."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    return f"{prefix}_{base64.b32encode(secrets.token_bytes(10)).decode().lower()}"
