"""Where upstream calls may go (SPEC §17, §18): the destinations no call may ever reach, and the
operator's allow-list of hosts ScaiGrid calls may reach (`SCAIFLOW_UPSTREAM_ALLOW`).

Never allowed, whatever the settings say, as URLs and as DNS answers:
- link-local addresses (169.254.0.0/16, fe80::/10) and the cloud metadata services
  (169.254.169.254, fd00:ec2::254, Alibaba's 100.100.100.200, and the names
  `metadata.google.internal`, `metadata.goog`, `metadata`, `instance-data`,
  `instance-data.ec2.internal`): a tenant's `base_url` there would hand out the host's cloud
  credentials;
- "this network" 0.0.0.0/8 and `::` (connecting to 0.0.0.0 reaches the host itself);
- the reserved IPv6 block ::/8 other than `::1` and IPv4-mapped addresses, which covers the
  deprecated IPv4-compatible form `::a.b.c.d` (::/96) that would otherwise carry any IPv4
  address past the checks, and Teredo (2001::/32), whose embedded addresses are obfuscated.
IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96 and 64:ff9b:1::/48,
6to4 2002::/16) are judged by that IPv4 address.

The allow-list is made of host names (`grid.example.com`), subdomain wildcards
(`*.grid.example.com`: names below it, not itself), IP addresses (`10.0.0.5`, `fd00::5`) and
networks (`10.0.0.0/24`), a name or address optionally with a port (`grid.lan:8080`,
`[fd00::5]:8443`; without one any port). A name matches names only (no DNS lookup decides
it) and an address or network matches IP literals only.

Pure standard library: `config.py` parses the setting with it at start-up.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NEVER_ALLOWED = "link-local, cloud metadata and reserved destinations are never allowed"

METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata",
                            "instance-data", "instance-data.ec2.internal"})

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_RESERVED_V6 = ipaddress.IPv6Network("::/8")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")
_NUMERIC_HOST_CHARS = frozenset("0123456789abcdefx.")
_NAME = re.compile(r"(?=.{1,253}\Z)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)"
                   r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*")


# -- addresses ----------------------------------------------------------------------------
def parse_address(text: str) -> IPAddress | None:
    """The IP address `text` spells in standard notation (an IPv6 zone is dropped), else
    None."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and is delivered to (IPv4-mapped, NAT64,
    6to4), else None."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def effective_address(ip: IPAddress) -> IPAddress:
    """Where a connection to `ip` ends up: its embedded IPv4 address, else itself."""
    return embedded_ipv4(ip) or ip


def host_address(host: str) -> IPAddress | None:
    """The IP address `host` denotes: a literal address, or a legacy numeric spelling that
    `inet_aton` (and so the OS, which aiohttp hands digits-and-dots hosts to unresolved)
    accepts, such as `2852039166`, `0x7f.1`, `127.1` or `0`. None for a name."""
    ip = parse_address(host)
    if ip is not None or not host or not set(host) <= _NUMERIC_HOST_CHARS:
        return ip
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_legacy_ipv4_spelling(host: str) -> bool:
    """True for a host the OS reads as an IPv4 address but that is not written a.b.c.d
    (`127.1`, `0`, `2130706433`, `0x7f.0.0.1`): only ever used to slip past filters."""
    return parse_address(host) is None and host_address(host) is not None


def is_never_allowed_address(ip: IPAddress) -> bool:
    """True for an address no upstream call may reach (see the module's docstring)."""
    embedded = embedded_ipv4(ip)
    if embedded is not None:  # mapped, NAT64 (64:ff9b:: lies inside ::/8) or 6to4
        ip = embedded
    elif isinstance(ip, ipaddress.IPv6Address):
        if ip in _TEREDO:
            return True
        if ip in _RESERVED_V6 and ip != _LOOPBACK_V6:
            return True  # ::, IPv4-compatible ::a.b.c.d and the rest of the reserved block
    if ip.is_link_local or ip.is_unspecified or ip in METADATA_ADDRESSES:
        return True
    return isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK


def normalize_host(host: str) -> str:
    """Lower case, without a trailing dot or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.rstrip(".")


def is_never_allowed_host(host: str) -> bool:
    """True for a URL host (name or any spelling of an address) no call may reach."""
    host = normalize_host(host)
    if host in METADATA_HOSTS:
        return True
    address = host_address(host)
    return address is not None and is_never_allowed_address(address)


# -- the allow-list -----------------------------------------------------------------------
@dataclass(frozen=True)
class AllowedDestination:
    """One entry of `SCAIFLOW_UPSTREAM_ALLOW`: exactly one of `name`, `domain` (for
    `*.domain`) and `network` is set; `port` None means any port."""

    text: str
    name: str | None = None
    domain: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    def permits(self, host: str, port: int) -> bool:
        """Whether a URL with this (normalized) host and (effective) port falls inside."""
        if self.port is not None and port != self.port:
            return False
        address = parse_address(host)
        if self.network is not None:
            if address is None:
                return False
            return address in self.network or effective_address(address) in self.network
        if address is not None or host_address(host) is not None:
            return False
        if self.name is not None:
            return host == self.name
        return self.domain is not None and host.endswith("." + self.domain)


def _name(text: str) -> str:
    try:
        name = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        raise ValueError("not a host name") from None
    if not _NAME.fullmatch(name):
        raise ValueError("not a host name, IP address or network")
    if name in METADATA_HOSTS:
        raise ValueError(NEVER_ALLOWED)
    return name


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"not a port: {text!r}")
    return int(text)


def parse_allowed_destination(text: str) -> AllowedDestination:
    """One allow-list entry; ValueError says what is wrong with it."""
    entry = text.strip().lower().rstrip(".")
    if not entry:
        raise ValueError("empty entry")
    port: int | None = None
    if entry.startswith("["):  # [v6] or [v6]:port
        inner, bracket, rest = entry[1:].partition("]")
        if not bracket or parse_address(inner) is None:
            raise ValueError("not an IP address")
        if rest:
            if not rest.startswith(":"):
                raise ValueError("not an IP address")
            port = _port(rest[1:])
        entry = inner
    elif "/" not in entry and entry.count(":") == 1:  # name:port or a.b.c.d:port
        entry, _, port_text = entry.partition(":")
        port = _port(port_text)
    if "/" in entry:
        try:
            network: IPNetwork = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError("not an IP network") from None
        return AllowedDestination(text.strip(), network=network)
    address = parse_address(entry)
    if address is not None:
        if "%" in entry:
            raise ValueError("an address with a zone cannot be allowed")
        if is_never_allowed_address(address):
            raise ValueError(NEVER_ALLOWED)
        return AllowedDestination(text.strip(), network=ipaddress.ip_network(address),
                                  port=port)
    if host_address(entry) is not None:
        raise ValueError("write the IPv4 address as four decimal numbers (a.b.c.d)")
    if entry.startswith("*."):
        return AllowedDestination(text.strip(), domain=_name(entry[2:]), port=port)
    return AllowedDestination(text.strip(), name=_name(entry), port=port)


@dataclass(frozen=True)
class UpstreamAllowList:
    """The destinations ScaiGrid calls may reach (empty: none)."""

    entries: tuple[AllowedDestination, ...] = ()

    def permits(self, host: str, port: int) -> bool:
        host = normalize_host(host)
        return any(entry.permits(host, port) for entry in self.entries)
