"""Traffic for the fault tests: submissions with unique networks, bounded calls, the checks."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine, select

from netatlas.http.openapi import app_document
from netatlas.location.models import wifi_shards

T = TypeVar("T")
CALL_TIMEOUT = 30.0  # no answer within this is a hang


def unique_mac(rng: random.Random) -> str:
    # Globally administered unicast: the two low bits of the first octet clear.
    return f"{rng.randrange(64) * 4:02x}" + "".join(f"{rng.randrange(256):02x}" for _ in range(5))


def submit_body(macs: list[str], lat: float) -> dict[str, Any]:
    return {
        "items": [
            {
                "timestamp": int(time.time() * 1000),
                "position": {"latitude": lat, "longitude": 13.4, "accuracy": 10.0},
                "wifiAccessPoints": [
                    {"macAddress": mac, "signalStrength": -60 - i} for i, mac in enumerate(macs)
                ],
            }
        ]
    }


_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="fault-call")


def bounded(call: Callable[[], T], timeout: float = CALL_TIMEOUT) -> T:
    """Run ``call`` and fail the test if it does not return in time (a hang)."""
    future = _pool.submit(call)
    try:
        return future.result(timeout)
    except FutureTimeout:
        raise AssertionError(f"no answer within {timeout} s: the API hung") from None


def documented(app: Any, method: str, path: str) -> set[int]:
    """The status codes /openapi.json documents for an operation."""
    operation = app_document(app.routes)["paths"][path][method.lower()]
    return {int(code) for code in operation["responses"] if code.isdigit()}


@dataclass
class Traffic:
    """Submissions sent through the API and what came back."""

    client: Any
    app: Any
    rng: random.Random = field(default_factory=lambda: random.Random(17))
    accepted: list[str] = field(default_factory=list)  # MACs in 2xx submissions
    refused: list[str] = field(default_factory=list)  # MACs in 503 submissions
    statuses: list[tuple[str, int]] = field(default_factory=list)

    def submit(self) -> int:
        macs = [unique_mac(self.rng), unique_mac(self.rng)]
        body = submit_body(macs, 52.5 + self.rng.random() * 0.1)
        res = bounded(lambda: self.client.post("/v2/geosubmit", json=body))
        self.statuses.append(("/v2/geosubmit", res.status_code))
        assert res.status_code in documented(self.app, "post", "/v2/geosubmit"), res.text
        if res.status_code == 200:
            self.accepted += macs
        else:
            assert res.status_code == 503, res.text
            assert "retry-after" in res.headers
            self.refused += macs
        return int(res.status_code)

    def probe(self) -> None:
        """Locate and the heartbeats: documented codes, never a hang or a 500."""
        wifis = [{"macAddress": unique_mac(self.rng)} for _ in range(2)]
        for method, path, kwargs in (
            ("post", "/v1/geolocate", {"json": {"wifiAccessPoints": wifis}}),
            ("get", "/__heartbeat__", {}),
            ("get", "/__lbheartbeat__", {}),
        ):
            res = bounded(lambda m=method, p=path, k=kwargs: self.client.request(m, p, **k))
            self.statuses.append((path, res.status_code))
            assert res.status_code in documented(self.app, method, path), (path, res.text)
            assert res.status_code < 500 or res.status_code == 503, (path, res.text)


def wifi_samples(engine: Engine) -> dict[str, int]:
    """MAC -> samples of every WiFi station."""
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for table in wifi_shards.values():
            for mac, samples in conn.execute(select(table.c.mac, table.c.samples)):
                found[bytes(mac).hex()] = int(samples)
    return found


def assert_applied_once(engine: Engine, traffic: Traffic) -> None:
    """Every accepted network became a station seen exactly once; nothing else appeared.

    A submission answered 503 was not accepted, but may still have reached the queue (the
    backend died between storing it and answering): such networks may appear, once.
    """
    samples = wifi_samples(engine)
    missing = [mac for mac in traffic.accepted if mac not in samples]
    assert not missing, f"{len(missing)} accepted networks were lost"
    assert set(samples) <= set(traffic.accepted) | set(traffic.refused)
    twice = {mac: n for mac, n in samples.items() if n != 1}
    assert not twice, f"applied more than once: {twice}"
