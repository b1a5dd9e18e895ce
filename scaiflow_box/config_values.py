"""What a setting's text may be: the kinds of values of the settings table (`config.py`).

A kind turns a variable's text (never blank: blank means unset) into its value, or raises
`Invalid` with every problem found (each becomes one `NAME: problem` line), and renders a value
back as text for `scaiflow-box config` and the docs. A `Setting` is one row of the table: the
variable's name, its kind, its default (as text, the way an operator would write it), its help
line and whether it is a secret. `setting()` makes a row the default and metadata of a
`Settings` dataclass field, so the dataclass *is* the table.

Kept free of imports beyond the standard library: `version` and the TUI load this module.
"""

from __future__ import annotations

import base64
import ipaddress
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
KNOWN_PERMISSIONS = frozenset({"scaicore:view", "scaicore:manage"})
# The `Settings` field metadata key under which a field's `Setting` is kept.
SETTING = "scaiflow_setting"


class Invalid(Exception):
    """The text is not a value of the kind; each problem is one line, without the name."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class Kind(Generic[T]):
    """How text becomes a value of one type, and back."""

    def parse(self, text: str) -> T:
        raise NotImplementedError

    def render(self, value: T) -> str:
        return str(value)

    def masked(self, text: str) -> str:
        """The text as given, as `config` may show it when it is invalid (a kind whose text
        can hold a secret, such as a password in a URL, masks it)."""
        return text


class Text(Kind[str]):
    def parse(self, text: str) -> str:
        return text


class Choice(Kind[str]):
    def __init__(self, *options: str) -> None:
        self.options = options

    def parse(self, text: str) -> str:
        if text not in self.options:
            expected = ", ".join(self.options[:-1]) + f" or {self.options[-1]}"
            raise Invalid(f"expected {expected}, got {text!r}")
        return text


class Integer(Kind[int]):
    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def parse(self, text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise Invalid(f"expected a whole number, got {text!r}") from None
        if not self.low <= number <= self.high:
            raise Invalid(f"must be between {self.low} and {self.high}, got {number}")
        return number


class Seconds(Kind[float]):
    """A duration in seconds, above 0 and at most `high`."""

    def __init__(self, high: float) -> None:
        self.high = high

    def parse(self, text: str) -> float:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not 0 < number <= self.high:  # NaN fails too
            raise Invalid(f"expected seconds in (0, {self.high:g}], got {text!r}")
        return number

    def render(self, value: float) -> str:
        return f"{value:g}"


class Flag(Kind[bool]):
    def parse(self, text: str) -> bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise Invalid(f"expected true or false, got {text!r}")

    def render(self, value: bool) -> str:
        return "true" if value else "false"


def is_http_url(value: str) -> bool:
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


class HttpUrl(Kind[str]):
    """An http(s) URL with a host; a trailing `/` is dropped (paths are appended to it).
    Hosts no upstream call may reach (link-local, metadata, reserved) and IPv4 addresses in
    a legacy spelling (`127.1`, `2130706433`) are refused here, not at each call."""

    def parse(self, text: str) -> str:
        from scaiflow_box.upstream.destinations import (
            NEVER_ALLOWED,
            is_legacy_ipv4_spelling,
            is_never_allowed_host,
        )

        if not is_http_url(text):
            raise Invalid(f"must be an http(s) URL with a host, got {text!r}")
        host = urlparse(text).hostname or ""
        if is_never_allowed_host(host):
            raise Invalid(f"{NEVER_ALLOWED}, got {text!r}")
        if is_legacy_ipv4_spelling(host):
            raise Invalid(f"write the IPv4 address as four decimal numbers (a.b.c.d), "
                          f"got {text!r}")
        return text.rstrip("/")

    def render(self, value: str) -> str:
        return without_userinfo(value)


def without_userinfo(url: str) -> str:
    """The URL with any `user:password@` replaced by `***@` (for output and logs)."""
    parsed = urlparse(url)
    if parsed.username is None and parsed.password is None:
        return url
    host = parsed.netloc.rpartition("@")[2]
    return parsed._replace(netloc=f"***@{host}").geturl()


class RedirectUri(Kind[str]):
    """The canvas's OAuth redirect URI, kept exactly as given (ScaiKey compares it as a
    string): an absolute http(s) URL with a host, printable ASCII, no fragment, no user
    (RFC 6749 §3.1.2)."""

    def parse(self, text: str) -> str:
        problem = _redirect_uri_problem(text)
        if problem is not None:
            raise Invalid(f"{problem}, got {text!r}")
        return text


def _redirect_uri_problem(value: str) -> str | None:
    if not all("!" <= c <= "~" for c in value):
        return "must be printable ASCII without spaces"
    try:
        parsed = urlparse(value)
        _ = parsed.port  # raises ValueError for a bad port
    except ValueError:
        return "is not a valid URL"
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "must be an http(s) URL with a host"
    if parsed.username is not None or parsed.password is not None:
        return "must not carry a user or password"
    if parsed.fragment or "#" in value:
        return "must not have a fragment"
    return None


class ExistingFile(Kind[Path]):
    def parse(self, text: str) -> Path:
        if not Path(text).is_file():
            raise Invalid(f"file not found: {text}")
        return Path(text)


class FilePath(Kind[Path]):
    def parse(self, text: str) -> Path:
        return Path(text)


def _items(text: str, separators: str = ",") -> list[str]:
    for separator in separators[1:]:
        text = text.replace(separator, separators[0])
    return [item.strip() for item in text.split(separators[0]) if item.strip()]


class Names(Kind[tuple[str, ...]]):
    """Comma-separated names or ids."""

    def parse(self, text: str) -> tuple[str, ...]:
        return tuple(_items(text))

    def render(self, value: tuple[str, ...]) -> str:
        return ",".join(value)


class Algorithms(Kind[tuple[str, ...]]):
    """Comma-separated JWT algorithms; only asymmetric ones (never HS*)."""

    def parse(self, text: str) -> tuple[str, ...]:
        algorithms = tuple(_items(text))
        bad = [a for a in algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad or not algorithms:
            raise Invalid("only asymmetric algorithms are accepted "
                          f"({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}), got "
                          f"{', '.join(bad) or 'none'}")
        return algorithms

    def render(self, value: tuple[str, ...]) -> str:
        return ",".join(value)


class Permissions(Kind[frozenset[str]]):
    def parse(self, text: str) -> frozenset[str]:
        requested = frozenset(_items(text, ", "))
        unknown = requested - KNOWN_PERMISSIONS
        if unknown:
            raise Invalid(f"unknown permission(s) {', '.join(sorted(unknown))}; "
                          "known: scaicore:view scaicore:manage")
        return requested

    def render(self, value: frozenset[str]) -> str:
        return " ".join(sorted(value, key=lambda p: (p != "scaicore:view", p)))


class Origins(Kind[tuple[str, ...]]):
    """Comma-separated browser origins; never a wildcard."""

    def parse(self, text: str) -> tuple[str, ...]:
        origins = tuple(o.rstrip("/") for o in _items(text))
        problems = []
        for origin in origins:
            if origin == "*":
                problems.append("a wildcard origin is never allowed; list the canvas origins")
            elif not is_http_url(origin):
                problems.append(f"not an http(s) origin: {origin!r}")
        if problems:
            raise Invalid(*problems)
        return origins

    def render(self, value: tuple[str, ...]) -> str:
        return ",".join(value)


class Networks(Kind[tuple[Network, ...]]):
    """Comma-separated addresses or CIDR networks (`10.0.0.5`, `10.0.0.0/24`, `::1`)."""

    def parse(self, text: str) -> tuple[Network, ...]:
        networks: list[Network] = []
        problems = []
        for item in _items(text):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                problems.append(f"not an IP address or network: {item!r}")
        if problems:
            raise Invalid(*problems)
        return tuple(networks)

    def render(self, value: tuple[Network, ...]) -> str:
        return ",".join(str(n.network_address) if n.num_addresses == 1 else str(n)
                        for n in value)


class Destinations(Kind[tuple[Any, ...]]):
    """Comma-separated upstream destinations: host names, `*.domain`, IP addresses or CIDR
    networks, each optionally with `:port` (`upstream.destinations.AllowedDestination`)."""

    def parse(self, text: str) -> tuple[Any, ...]:
        from scaiflow_box.upstream.destinations import parse_allowed_destination

        found: list[Any] = []
        problems = []
        for item in _items(text):
            try:
                found.append(parse_allowed_destination(item))
            except ValueError as exc:
                problems.append(f"{item!r}: {exc}")
        if problems:
            raise Invalid(*problems)
        return tuple(found)

    def render(self, value: tuple[Any, ...]) -> str:
        return ",".join(item.text for item in value)


class DatabaseUrlText(Kind[Any]):
    """`mariadb://user@host[:port]/database` or `mariadb://user@/database?unix_socket=/path`
    (a `store.engine.DatabaseUrl`). Every problem of the URL at once; the password (if the URL
    holds one) is masked wherever the URL is shown, even when it is invalid."""

    def parse(self, text: str) -> Any:
        from scaiflow_box.store.engine import BadDatabaseUrl, DatabaseUrl

        try:
            return DatabaseUrl.parse(text)
        except BadDatabaseUrl as exc:
            raise Invalid(str(exc)) from None

    def render(self, value: Any) -> str:
        rendered: str = value.render(mask=True)
        return rendered

    def masked(self, text: str) -> str:
        return mask_url_password(text)


def mask_url_password(text: str) -> str:
    """`text` with the password of its `user:password@` (if any) replaced by `********`."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return text
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:********@{host}{slash}{tail}"


class MasterKeyText(Kind[str]):
    """The base64 of 32 bytes. A problem never echoes the value: it may be a real key with a
    typo."""

    def parse(self, text: str) -> str:
        try:
            if len(base64.b64decode(text, validate=True)) == 32:
                return text
        except ValueError:
            pass
        raise Invalid("must be the base64 encoding of 32 bytes "
                      "(e.g. the output of `head -c 32 /dev/urandom | base64`)")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One row of the settings table."""

    env: str  # the variable's name
    kind: Kind[T]
    default: str | None  # as an operator would write it; None: unset
    help: str  # one line of Markdown: the docs' "meaning" column
    secret: bool = False  # masked in every output, kept out of reprs
    doc_default: str | None = None  # what the docs say when the default is not a plain value
    field_name: str = ""  # the `Settings` attribute (filled in by `settings_table()`)

    def default_value(self) -> T | None:
        return None if self.default is None else self.kind.parse(self.default)

    def render(self, value: Any) -> str:
        """The value as text for output; secrets masked, unset as `-`."""
        if value is None:
            return "-"
        if self.secret:
            return "********"
        rendered: str = self.kind.render(value)
        return rendered

    def docs_default(self) -> str:
        if self.doc_default is not None:
            return self.doc_default
        return f"`{self.default}`" if self.default else "—"


def setting(env: str, kind: Kind[Any], default: str | None, help: str, *,
            secret: bool = False, doc_default: str | None = None) -> Any:
    """A `Settings` field from one row of the table: its default is the parsed `default`."""
    row: Setting[Any] = Setting(env, kind, default, help, secret, doc_default)
    return field(default=row.default_value(), repr=not secret, metadata={SETTING: row})

