"""Backpressure: learning sampled down past the soft limit, submissions refused past the hard one,
nothing already queued dropped."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from netatlas.app import create_app
from netatlas.features import process_until_idle
from netatlas.jobs.context import Context
from netatlas.location.locate.answer import Caller, _learn
from netatlas.location.locate.query import parse_query
from netatlas.location.locate.result import Result
from netatlas.location.submit.backpressure import Backpressure, pipeline_backlog
from netatlas.location.submit.intake import INCOMING
from netatlas.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pressure(soft: int, hard: int, backlog: list[int], clock: Clock) -> Backpressure:
    calls = iter(backlog)
    return Backpressure(
        queue=None,  # type: ignore[arg-type]
        soft=soft,
        hard=hard,
        clock=clock,
        measure=lambda queue: next(calls),
    )


def test_learning_rate_falls_linearly_from_soft_to_hard() -> None:
    pressure = _pressure(100, 300, [], Clock())
    assert [pressure.learn_rate(n) for n in (0, 100, 150, 200, 299, 300, 10_000)] == [
        1.0,
        1.0,
        0.75,
        0.5,
        0.005,
        0.0,
        0.0,
    ]
    no_hard = _pressure(100, 0, [], Clock())
    assert no_hard.learn_rate(150) == 0.5
    assert no_hard.learn_rate(200) == 0.0
    off = _pressure(0, 0, [], Clock())
    assert off.learn_rate(10**9) == 1.0 and not off.enabled


def test_measurements_are_cached_for_the_refresh_period() -> None:
    clock = Clock()
    pressure = _pressure(100, 300, [10, 20], clock)
    assert pressure.refresh().backlog == 10
    clock.now += 1.0
    assert pressure.refresh().backlog == 10
    clock.now += 1.5
    assert pressure.refresh().backlog == 20


def test_refusing_starts_at_the_hard_limit_and_ends_below_ninety_percent() -> None:
    clock = Clock()
    pressure = _pressure(100, 300, [299, 300, 280, 269, 300], clock)
    states = []
    for _ in range(5):
        states.append(pressure.refresh(force=True).refusing)
        clock.now += 0.1
    assert states == [False, True, True, False, True]


def test_the_event_loop_check_trusts_only_a_fresh_measurement() -> None:
    clock = Clock()
    pressure = _pressure(100, 300, [500], clock)
    assert not pressure.refusing()  # never measured
    pressure.refresh()
    assert pressure.refusing()
    clock.now += 5
    assert not pressure.refusing()  # stale: the thread-pool path measures again


def test_a_failed_measurement_keeps_the_last_figure() -> None:
    clock = Clock()
    values = iter([500])

    def measure(queue: Any) -> int:
        try:
            return next(values)
        except StopIteration:
            raise ConnectionError("queue down") from None

    pressure = Backpressure(None, 100, 300, clock=clock, measure=measure)  # type: ignore[arg-type]
    assert pressure.refresh().backlog == 500
    clock.now += 5
    assert pressure.refresh().backlog == 500
    assert pressure.failures == 1


def test_learn_samples_by_the_rate() -> None:
    clock = Clock()
    pressure = _pressure(100, 300, [200], clock)
    rng = random.Random(1)
    learnt = sum(pressure.learn(rng.random) for _ in range(2000))
    assert 900 < learnt < 1100


def test_backlog_leaves_export_queues_out(ctx: Context) -> None:
    ctx.queue.push(INCOMING, [b"a", b"b"])
    ctx.queue.push("update_wifi_0", [b"c"])
    ctx.queue.push("export_partner", [b"d", b"e", b"f"])
    assert pipeline_backlog(ctx.queue) == 3


@pytest.fixture
def tight(settings: Settings) -> Iterator[tuple[Any, TestClient]]:
    """An app whose backlog limits are tiny: soft 2 items, hard 4."""
    app = create_app(
        dataclasses.replace(settings, backlog_soft_limit=2, backlog_hard_limit=4), run_jobs=False
    )
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield app, client
    app.state.services.engine.dispose()


def _report(i: int) -> dict[str, Any]:
    return {
        "items": [
            {
                "position": {"latitude": 51.5 + i * 1e-4, "longitude": -0.1, "accuracy": 10},
                "wifiAccessPoints": [
                    {"macAddress": f"00:1a:2b:3c:{i:02x}:5e"},
                    {"macAddress": f"00:1a:2b:3c:{i:02x}:5f"},
                ],
            }
        ]
    }


def test_past_the_hard_limit_submissions_get_503_and_nothing_queued_is_lost(
    tight: tuple[Any, TestClient], ctx: Context
) -> None:
    app, client = tight
    pressure = app.state.services.backpressure
    statuses = []
    for i in range(8):
        pressure.refresh(force=True)  # measure each time, as if seconds passed between
        res = client.post("/v2/geosubmit", json=_report(i))
        statuses.append(res.status_code)
        if res.status_code == 503:
            assert res.headers["retry-after"] == "60"
            assert res.json()["error"]["code"] == 503
    assert statuses == [200] * 4 + [503] * 4
    assert ctx.queue.size(INCOMING) == 4
    heartbeat = client.get("/__heartbeat__")
    assert heartbeat.status_code == 503
    assert heartbeat.json()["pipeline"]["refusing"] is True

    process_until_idle(ctx)
    pressure.refresh(force=True)
    assert client.post("/v2/geosubmit", json=_report(9)).status_code == 200
    assert client.get("/__heartbeat__").status_code == 200


def test_learning_from_queries_is_sampled_down(tight: tuple[Any, TestClient], ctx: Context) -> None:
    app, _ = tight
    services = app.state.services
    query = parse_query(
        '{"wifiAccessPoints": [{"macAddress": "00:1a:2b:3c:4d:5e"},'
        ' {"macAddress": "00:1a:2b:3c:4d:5f"}]}'
    )
    best = Result(51.5, -0.1, 20.0, 1.0, None, "internal")
    caller = Caller(key=None, ip="81.2.69.192", contribute=True)
    _learn(services, query, best, None, caller)
    assert ctx.queue.size(INCOMING) == 1  # under the soft limit: learnt
    ctx.queue.push(INCOMING, [b"x"] * 3)  # 4 items: at the hard limit, rate 0
    services.backpressure.refresh(force=True)
    for _ in range(20):
        _learn(services, query, best, None, caller)
    assert ctx.queue.size(INCOMING) == 4
