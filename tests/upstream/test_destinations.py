"""The destination policy (`upstream/destinations.py`): allow-list entries and what they match,
and the addresses no call may reach whatever the allow-list says."""

from __future__ import annotations

import pytest

from scaiflow_box.config import Settings
from scaiflow_box.upstream.client import scaigrid_allow_list, url_destination
from scaiflow_box.upstream.destinations import (
    UpstreamAllowList,
    is_legacy_ipv4_spelling,
    parse_allowed_destination,
)


def allow(*entries: str) -> UpstreamAllowList:
    return UpstreamAllowList(tuple(parse_allowed_destination(e) for e in entries))


def permits(allowed: UpstreamAllowList, url: str) -> bool:
    return allowed.permits(*url_destination(url))


@pytest.mark.parametrize(("entry", "url", "expected"), [
    ("grid.lan", "http://grid.lan", True),
    ("grid.lan", "https://GRID.lan.:8443/x", True),
    ("grid.lan", "http://a.grid.lan", False),
    ("grid.lan", "http://grid.lan.evil.example", False),
    ("grid.lan:8080", "http://grid.lan:8080", True),
    ("grid.lan:8080", "http://grid.lan", False),
    ("grid.lan:443", "https://grid.lan", True),  # the scheme's port counts
    ("*.grid.example", "https://acme.grid.example", True),
    ("*.grid.example", "https://a.b.grid.example", True),
    ("*.grid.example", "https://grid.example", False),
    ("*.grid.example", "https://evilgrid.example", False),
    ("10.0.0.0/24", "http://10.0.0.200:1234", True),
    ("10.0.0.0/24", "http://10.0.1.1", False),
    ("10.0.0.0/24", "http://[::ffff:10.0.0.9]", True),  # the IPv4 address it carries
    ("10.0.0.0/24", "http://10.0.0.1.nip.io", False),  # names never match networks
    ("10.0.0.0/24", "http://167772161", False),  # nor legacy spellings of addresses
    ("10.0.0.5", "http://10.0.0.5", True),
    ("10.0.0.5:80", "http://10.0.0.5:81", False),
    ("[fd00::5]:8443", "https://[fd00::5]:8443", True),
    ("fd00::/16", "https://[fd00::5]", True),
    ("127.0.0.1", "http://localhost", False),  # no DNS decides it
    ("localhost", "http://127.0.0.1", False),
    ("bücher.example", "http://xn--bcher-kva.example", True),
    ("bücher.example", "http://bücher.example", True),
])
def test_what_an_entry_permits(entry: str, url: str, expected: bool) -> None:
    assert permits(allow(entry), url) is expected


@pytest.mark.parametrize("entry", [
    "127.1", "0x7f.0.0.1", "2130706433", "169.254.169.254", "[fe80::1]", "::169.254.169.254",
    "0.0.0.0", "::", "2001::1", "metadata", "instance-data", "grid.lan:99999", "grid.lan:x",
    "http://grid.lan", "grid lan", "[fd00::5", "10.0.0.0/40", "-grid.lan", "fe80::1%eth0", "",
])
def test_bad_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_allowed_destination(entry)


def test_scaigrid_base_url_is_always_in_the_allow_list() -> None:
    empty = scaigrid_allow_list(Settings())
    assert empty.entries == () and not permits(empty, "https://grid.example")
    own = scaigrid_allow_list(Settings(scaigrid_base_url="http://127.0.0.1:8080/grid",
                                       upstream_allow=(parse_allowed_destination("grid.lan"),)))
    assert permits(own, "http://127.0.0.1:8080") and permits(own, "https://grid.lan")
    assert not permits(own, "http://127.0.0.1:8081") and not permits(own, "http://127.0.0.2:8080")
    named = scaigrid_allow_list(Settings(scaigrid_base_url="https://Grid.Example"))
    assert permits(named, "https://grid.example/v1") and not permits(named, "http://grid.example")


def test_legacy_ipv4_spellings() -> None:
    for host in ("127.1", "0", "2130706433", "0x7f.0.0.1", "017700000001", "10.1"):
        assert is_legacy_ipv4_spelling(host), host
    for host in ("127.0.0.1", "::1", "grid.lan", "1e100.net", "deadbeef"):
        assert not is_legacy_ipv4_spelling(host), host
