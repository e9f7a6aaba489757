"""ndt7 on loopback: one download and one upload with their server CPU, then four concurrent
tests while /v1/geolocate is under load.

Starts `netatlas serve` (uvicorn, one worker, as `make run` does; SQLite in a temporary data
dir) and drives it with the project's Python ndt7 client (netatlas.broadband.ndt7.client):

1. ``--runs`` rounds of one 10 s download then one 10 s upload, alone: client-side and
   M-Lab-style server-side Mbit/s, and the server process's CPU (user + system time over the
   subtest's wall time; 100 % = one core);
2. wrk against /v1/geolocate (IP-only queries answered from the GeoIP City test database,
   4 connections, one thread) for 12 s alone, then for 8 s while four ndt7 subtests (two
   downloads, two uploads) run at once, first against the same process, then against a
   separate `netatlas ndt7` process: the locate p50 and p99 of each.

The machine has 2 cores, shared by the server, the clients and wrk (and other work): quote
medians.

    .venv/bin/python -m bench.ndt7 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._common import NETATLAS, run_wrk, server, wait_http
from netatlas.broadband.ndt7.client import ClientResult, run_test

MAXMIND = Path(__file__).resolve().parents[1] / "tests" / "data" / "maxmind"
LUA = """
request = function()
  return wrk.format("POST", "/v1/geolocate",
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = "81.2.69.192"}, "{}")
end
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def one(base: str, direction: str, pid: int) -> tuple[ClientResult, float]:
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    result = asyncio.run(run_test(base, direction))
    cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    return result, cpu


async def four(base: str) -> list[ClientResult]:
    return await asyncio.gather(
        run_test(base, "download"),
        run_test(base, "upload"),
        run_test(base, "download"),
        run_test(base, "upload"),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--locate-seconds", type=int, default=12)
    args = parser.parse_args()
    port = free_port()
    base = f"ws://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        env = {
            "NETATLAS_DATA_DIR": data,
            "NETATLAS_DEMO": "false",
            "NETATLAS_EMBEDDED_JOBS": "false",
            "NETATLAS_GEOIP_CITY_PATH": str(MAXMIND / "GeoIP2-City-Test.mmdb"),
            "NETATLAS_GEOIP_ASN_PATH": str(MAXMIND / "GeoLite2-ASN-Test.mmdb"),
            "NETATLAS_KEYLESS_RATE_PER_MINUTE": "0",
            "NETATLAS_NDT7_IP_CONCURRENT": "0",
            "NETATLAS_NDT7_IP_PER_HOUR": "0",
            "NETATLAS_LOG_LEVEL": "warning",
        }
        with server(env, port, workers=1) as proc:
            figures: dict[str, list[tuple[float, float, float]]] = {"download": [], "upload": []}
            for _ in range(args.runs):
                for direction in ("download", "upload"):
                    r, cpu = one(base, direction, proc.pid)
                    figures[direction].append((r.client_mbps, r.server.mean_mbps or 0.0, cpu))
            report: dict[str, object] = {}
            for direction, rows in figures.items():
                report[direction] = {
                    "client_mbps_median": round(statistics.median(r[0] for r in rows)),
                    "server_mbps_median": round(statistics.median(r[1] for r in rows)),
                    "server_cpu_median_pct": round(100 * statistics.median(r[2] for r in rows)),
                    "runs": [[round(x, 2) for x in r] for r in rows],
                }
            print(json.dumps(report, indent=2), flush=True)

            url = f"http://127.0.0.1:{port}"
            report2 = {"locate_alone": locate(url, None, args.locate_seconds)}
            report2["same_process"] = locate(url, base, args.locate_seconds)
            port2 = free_port()
            with ndt7_process(env, port2):
                report2["separate_process"] = locate(url, f"ws://127.0.0.1:{port2}", 0)
            print(json.dumps(report2, indent=2))


def locate(url: str, ndt7: str | None, seconds: int) -> dict[str, object]:
    """wrk on /v1/geolocate for ``seconds`` alone, or for 8 s during four ndt7 tests."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(LUA)
    try:
        run_wrk(url, Path(lua.name), 2, threads=1, conns=4)  # warm-up
        if ndt7 is None:
            return run_wrk(url, Path(lua.name), seconds, threads=1, conns=4)
        results: list[ClientResult] = []
        thread = threading.Thread(target=lambda: results.extend(asyncio.run(four(ndt7))))
        thread.start()
        time.sleep(1.0)  # the four tests are past their handshakes and ramping up
        loaded: dict[str, object] = dict(run_wrk(url, Path(lua.name), 8, threads=1, conns=4))
        thread.join()
        loaded["ndt7_client_mbps"] = [f"{r.direction} {r.client_mbps:.0f}" for r in results]
        return loaded
    finally:
        os.unlink(lua.name)


@contextmanager
def ndt7_process(env: dict[str, str], port: int) -> Iterator[None]:
    """`netatlas ndt7 --port PORT`: the speed test in a process of its own."""
    proc = subprocess.Popen(
        [NETATLAS, "ndt7", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/__lbheartbeat__")
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


if __name__ == "__main__":
    main()
