"""Helpers for the benchmark scripts: synthetic reports, a server subprocess, wrk."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NETATLAS = str(Path(sys.executable).with_name("netatlas"))
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/netatlas_bench"
REDIS_URL = "redis://127.0.0.1:6379/9"  # the tests use databases 15 and 14


def random_mac(rng: random.Random) -> str:
    # Globally administered unicast: clear the two low bits of the first octet.
    first = rng.randrange(256) & 0xFC
    rest = [rng.randrange(256) for _ in range(5)]
    return ":".join(f"{b:02x}" for b in [first, *rest])


def wifi_report(rng: random.Random, lat: float, lon: float, macs: list[str]) -> dict[str, object]:
    return {
        "timestamp": int(time.time() * 1000),
        "position": {
            "latitude": lat,
            "longitude": lon,
            "accuracy": rng.uniform(3, 30),
            "age": rng.randrange(0, 2000),
            "source": "gps",
        },
        "wifiAccessPoints": [
            {
                "macAddress": mac,
                "signalStrength": rng.randrange(-95, -40),
                "frequency": rng.choice([2412, 2437, 5180, 5745]),
                "age": rng.randrange(0, 3000),
            }
            for mac in macs
        ],
    }


def gzip_batch(reports: list[dict[str, object]]) -> bytes:
    return gzip.compress(json.dumps({"items": reports}).encode(), 5)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as res:
                if res.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def server(env: dict[str, str], port: int, workers: int = 2) -> Iterator[subprocess.Popen[bytes]]:
    full_env = {**os.environ, **env}
    proc = subprocess.Popen(
        [NETATLAS, "serve", "--port", str(port), "--workers", str(workers)],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/__lbheartbeat__")
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _seconds(value: str) -> float:
    number = float(re.match(r"[\d.]+", value).group(0))  # type: ignore[union-attr]
    unit = value[len(re.match(r"[\d.]+", value).group(0)) :]  # type: ignore[union-attr]
    return number * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def run_wrk(
    url: str, lua: Path, seconds: int, threads: int = 1, conns: int = 16
) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": _seconds(lat["50"]) * 1000,
        "p99_ms": _seconds(lat["99"]) * 1000,
        "non2xx": float(errors.group(1)) if errors else 0.0,
    }
