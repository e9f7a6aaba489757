from __future__ import annotations

import pytest

from netatlas.http.clientip import client_ip, parse_trusted

LOOPBACK = ("127.0.0.1", "::1")


def test_untrusted_peer_is_the_client() -> None:
    assert client_ip("81.2.69.192", None, LOOPBACK) == "81.2.69.192"


def test_spoofing_an_untrusted_peer_is_ignored() -> None:
    # A client talking to us directly cannot choose its address with the header.
    assert client_ip("81.2.69.192", "1.2.3.4", LOOPBACK) == "81.2.69.192"
    assert client_ip("2001:db8::5", "1.2.3.4, 127.0.0.1", LOOPBACK) == "2001:db8::5"


def test_trusted_peer_forwards() -> None:
    assert client_ip("127.0.0.1", "81.2.69.192", LOOPBACK) == "81.2.69.192"
    assert client_ip("::1", "2001:218::1", LOOPBACK) == "2001:218::1"


def test_trusted_peer_without_header_is_the_client() -> None:
    assert client_ip("127.0.0.1", None, LOOPBACK) == "127.0.0.1"
    assert client_ip("127.0.0.1", "", LOOPBACK) == "127.0.0.1"


def test_right_most_untrusted_hop_wins() -> None:
    # The client wrote "6.6.6.6" itself; our proxy appended the address it saw.
    assert client_ip("127.0.0.1", "6.6.6.6, 81.2.69.192", LOOPBACK) == "81.2.69.192"


def test_trusted_hops_are_skipped() -> None:
    trusted = ("127.0.0.1", "10.0.0.0/8", "2001:db8:1::/48")
    chain = "6.6.6.6, 81.2.69.192, 10.1.2.3, 2001:db8:1::7, 10.9.9.9"
    assert client_ip("127.0.0.1", chain, trusted) == "81.2.69.192"


def test_all_hops_trusted_gives_the_left_most() -> None:
    trusted = ("127.0.0.1", "10.0.0.0/8")
    assert client_ip("127.0.0.1", "10.0.0.5, 10.0.0.6", trusted) == "10.0.0.5"


def test_ipv6_proxies_and_clients() -> None:
    trusted = ("fd00::/8",)
    assert client_ip("fd00::1", "2001:218::1", trusted) == "2001:218::1"
    assert client_ip("fd00::1", "[2001:218::1]:4711", trusted) == "2001:218::1"
    assert client_ip("fd00::1", '"[2001:218::1]"', trusted) == "2001:218::1"
    # An IPv4 proxy rule does not match IPv6 peers and the other way round.
    assert client_ip("::1", "81.2.69.192", ("127.0.0.1",)) == "::1"


def test_ipv4_mapped_addresses() -> None:
    assert client_ip("::ffff:127.0.0.1", "81.2.69.192", LOOPBACK) == "81.2.69.192"
    assert client_ip("::ffff:81.2.69.192", None, LOOPBACK) == "81.2.69.192"
    assert client_ip("127.0.0.1", "::ffff:81.2.69.192", LOOPBACK) == "81.2.69.192"


def test_ports_are_dropped() -> None:
    assert client_ip("127.0.0.1", "81.2.69.192:5555", LOOPBACK) == "81.2.69.192"


@pytest.mark.parametrize(
    "header",
    ["unknown", "garbage, ", "81.2.69.192, not-an-ip", "[2001:218::1", "999.1.2.3", "\x00"],
)
def test_garbage_falls_back_to_the_peer(header: str) -> None:
    assert client_ip("127.0.0.1", header, LOOPBACK) == "127.0.0.1"


def test_garbage_left_of_the_client_does_not_matter() -> None:
    assert client_ip("127.0.0.1", "unknown, 81.2.69.192", LOOPBACK) == "81.2.69.192"


def test_blank_hops_are_skipped() -> None:
    assert client_ip("127.0.0.1", "81.2.69.192, , ", LOOPBACK) == "81.2.69.192"


def test_no_peer_address_counts_as_local() -> None:
    # ASGI servers on a Unix socket give no client address; only a local proxy can connect.
    assert client_ip(None, "81.2.69.192", LOOPBACK) == "81.2.69.192"
    assert client_ip("testclient", "81.2.69.192", LOOPBACK) == "81.2.69.192"
    assert client_ip(None, None, LOOPBACK) is None
    assert client_ip("testclient", "garbage", LOOPBACK) is None


def test_bad_trusted_entries_are_ignored() -> None:
    trusted = ("127.0.0.1", "not-a-network", "", "10.0.0.0/33")
    assert len(parse_trusted(trusted)) == 1
    assert client_ip("127.0.0.1", "81.2.69.192", trusted) == "81.2.69.192"
    assert client_ip("10.0.0.1", "81.2.69.192", trusted) == "10.0.0.1"


def test_no_trusted_proxies() -> None:
    assert client_ip("127.0.0.1", "81.2.69.192", ()) == "127.0.0.1"


def test_long_chains_are_cut() -> None:
    chain = ", ".join(["81.2.69.192"] + ["127.0.0.1"] * 100)
    assert client_ip("127.0.0.1", chain, LOOPBACK) == "127.0.0.1"
    short = ", ".join(["81.2.69.192"] + ["127.0.0.1"] * 10)
    assert client_ip("127.0.0.1", short, LOOPBACK) == "81.2.69.192"
