"""Kernel statistics of a real loopback connection, named as M-Lab names them."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from netatlas.broadband.ndt7 import tcpinfo
from tests.conftest import DATA


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket, socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    yield listener, client, server
    for s in (client, server, listener):
        s.close()


def test_tcp_info_has_mlabs_fields_and_counts_bytes(pair: tuple[socket.socket, ...]) -> None:
    _, client, server = pair
    server.sendall(b"x" * 100_000)
    got = 0
    while got < 100_000:
        got += len(client.recv(65536))
    info = tcpinfo.tcp_info(server)
    assert info is not None
    real = json.loads(next((DATA / "mlab" / "ndt7").glob("ndt7-download-2020*.json")).read_text())
    real_keys = set(real["Download"]["ServerMeasurements"][0]["TCPInfo"]) - {"ElapsedTime"}
    assert real_keys <= set(info)
    assert info["State"] == 1  # established
    assert info["BytesAcked"] >= 100_000
    assert info["BytesSent"] >= 100_000
    assert info["MaxPacingRate"] == -1  # unset: M-Lab's files say -1 too
    assert info["MinRTT"] >= 0


def test_find_socket_finds_the_connection_by_its_addresses(
    pair: tuple[socket.socket, ...],
) -> None:
    _, _client, server = pair
    local, peer = server.getsockname(), server.getpeername()
    found = tcpinfo.find_socket((local[0], local[1]), (peer[0], peer[1]))
    assert found is not None
    try:
        assert found.fileno() != server.fileno()  # a duplicate, closed by the caller
        assert found.getpeername() == peer
        cookie = tcpinfo.socket_cookie(found)
        assert cookie is not None and cookie == tcpinfo.socket_cookie(server)
    finally:
        found.close()
    server.getpeername()  # the original is still open


def test_find_socket_answers_none_for_unknown_addresses() -> None:
    assert tcpinfo.find_socket(("127.0.0.1", 1), ("127.0.0.1", 2)) is None
    assert tcpinfo.find_socket(("testserver", 80), ("testclient", 50000)) is None


def test_congestion_control_and_bbr(pair: tuple[socket.socket, ...]) -> None:
    _, _, server = pair
    cc = tcpinfo.congestion_control(server)
    assert cc
    bbr = tcpinfo.bbr_info(server)
    if cc == "bbr":
        assert bbr is not None and set(bbr) == {"BW", "MinRTT", "PacingGain", "CwndGain"}


def test_closed_socket_gives_none() -> None:
    s = socket.socket()
    s.close()
    assert tcpinfo.tcp_info(s) is None
    assert tcpinfo.socket_cookie(s) is None
