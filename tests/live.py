"""Helpers for tests that run real servers: ports without races, and waiting for events.

Ports: a port found free and then released can be taken by anyone (another xdist worker's
server, or any outgoing connection's local end) before our server binds it. So

* in-process servers listen on a socket bound to port 0 here (:func:`listening_socket`);
* our own processes are started with ``--port 0`` and the kernel's choice is read back from
  ``/proc`` (:func:`listening_port`);
* servers that need their port up front (redis-server, PostgreSQL) get :func:`free_port` and
  their fixture retries the start on a new port when the bind fails, and checks that whatever
  answers on the port is its own process.

Waiting: :func:`wait_until` polls a condition; its timeout only ends a hang (a generous bound,
never a figure under test).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

#: How long a wait may take before the test gives up: long enough for a loaded 2-core machine.
PATIENCE = 60.0


def wait_until(
    condition: Callable[[], T | None],
    what: str,
    timeout: float = PATIENCE,
    pause: float = 0.05,
) -> T:
    """Call ``condition`` until it returns something true, and return that.

    Fails with ``what`` in the message when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(pause)


def listening_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a port the kernel picks, already listening: hand it to the server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def free_port() -> int:
    """A port that was free a moment ago. Racy by nature: only for servers that cannot listen
    on port 0 and report it; their start must retry on a bind failure."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except FileNotFoundError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def process_ports(pid: int) -> set[int]:
    """TCP ports (IPv4 and IPv6) that process ``pid`` listens on, from ``/proc``."""
    inodes = _socket_inodes(pid)
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is field 9.
            if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def listening_port(pid: int, alive: Callable[[], bool], timeout: float = PATIENCE) -> int:
    """The port a process started with port 0 listens on, once it listens.

    ``alive`` tells whether the process still runs, so that a crash at start fails at once.
    """

    def port() -> int | None:
        assert alive(), f"process {pid} exited before it listened"
        found = process_ports(pid)
        return min(found) if found else None

    return wait_until(port, f"process {pid} to listen", timeout)
