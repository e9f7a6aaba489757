"""``/metrics``: process counters summed over live processes, shared state read at scrape."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from netatlas.db.stats import STAT_KEYS, stat_counter
from netatlas.export.models import export_state
from netatlas.http import metrics
from netatlas.http.metrics import HOST, REGISTRY, Registry, Snapshot, read_spool, spool_dir
from netatlas.http.observe import Observe
from netatlas.location.submit.intake import INCOMING
from netatlas.settings import Settings


def scrape(client: Any) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Sample name -> {sorted labels: value}, parsed by prometheus_client's own parser."""
    res = client.get("/metrics")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(res.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    return float(samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0))


def test_requests_are_counted_per_route_template_and_status(client: Any) -> None:
    before = scrape(client)
    client.get("/tiles/3/4/5.png")
    client.get("/tiles/3/4/6.png")
    client.get("/no/such/page")
    client.post("/v2/geosubmit", content=b"not json")
    after = scrape(client)
    template = "/tiles/{z}/{x}/{name}"
    tiles = [k for k in after["netatlas_http_requests_total"] if ("endpoint", template) in k]
    assert tiles, "tile requests are labelled by their route template"
    grown = sum(
        after["netatlas_http_requests_total"][k]
        - before.get("netatlas_http_requests_total", {}).get(k, 0.0)
        for k in tiles
    )
    assert grown == 2
    name = "netatlas_http_requests_total"
    for endpoint, status in (("unmatched", "404"), ("/v2/geosubmit", "400")):
        assert (
            value(after, name, endpoint=endpoint, status=status)
            - value(before, name, endpoint=endpoint, status=status)
            == 1
        )


def test_latency_histogram_is_cumulative(client: Any) -> None:
    for _ in range(3):
        client.get("/__lbheartbeat__")
    samples = scrape(client)
    labels = {"endpoint": "/__lbheartbeat__", "status": "200"}
    buckets = {
        dict(k)["le"]: v
        for k, v in samples["netatlas_http_request_duration_seconds_bucket"].items()
        if all(dict(k).get(n) == v2 for n, v2 in labels.items())
    }
    ordered = [buckets[le] for le in sorted(buckets, key=float)]
    assert ordered == sorted(ordered)
    assert buckets["+Inf"] == value(
        samples, "netatlas_http_request_duration_seconds_count", **labels
    )
    assert buckets["+Inf"] >= 3


def test_submissions_and_drop_reasons_are_exposed(client: Any) -> None:
    body = {
        "items": [
            {
                "position": {"latitude": 51.5, "longitude": -0.1},
                "wifiAccessPoints": [
                    {"macAddress": "00:1a:2b:3c:4d:5e"},
                    {"macAddress": "00:1a:2b:3c:4d:5f"},
                    {"macAddress": "not a mac"},
                ],
            }
        ]
    }
    before = scrape(client)
    assert client.post("/v2/geosubmit", json=body).status_code == 200
    after = scrape(client)
    for name in ("netatlas_submit_requests_total", "netatlas_submit_reports_total"):
        assert value(after, name) - value(before, name) == 1
    dropped = after["netatlas_submit_dropped_total"]
    grown = {
        dict(k)["reason"]: v - before.get("netatlas_submit_dropped_total", {}).get(k, 0.0)
        for k, v in dropped.items()
    }
    assert sum(grown.values()) >= 1
    assert value(after, "netatlas_queue_items", queue=INCOMING) == 1
    assert value(after, "netatlas_queue_oldest_age_seconds", queue=INCOMING) < 60
    assert value(after, "netatlas_pipeline_backlog") == 1


def test_locate_answers_by_source(client: Any) -> None:
    before = scrape(client)
    wifis = [{"macAddress": "00:1a:2b:3c:4d:5e"}, {"macAddress": "00:1a:2b:3c:4d:5f"}]
    assert client.post("/v1/geolocate", json={"wifiAccessPoints": wifis}).status_code == 404
    after = scrape(client)
    labels = {"endpoint": "geolocate", "result": "miss", "source": "none"}
    name = "netatlas_locate_answers_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_shared_state_exports_pipeline_and_backends(
    client: Any, app: Any, settings: Settings
) -> None:
    engine = app.state.services.engine
    now = time.time()
    with engine.begin() as conn:
        conn.execute(
            insert(export_state).values(
                name="partner", failures=3, reports=1234, last_success=now - 60, last_failure=now
            )
        )
        day = dt.date(2024, 5, 1)
        conn.execute(
            insert(stat_counter),
            [
                {"key": STAT_KEYS["wifi"], "day": day, "shard": "wifi_0", "value": 40},
                {"key": STAT_KEYS["wifi"], "day": day, "shard": "wifi_1", "value": 2},
                {"key": STAT_KEYS["unique_wifi"], "day": day, "shard": "wifi_0", "value": 7},
            ],
        )
    samples = scrape(client)
    assert value(samples, "netatlas_export_reports_total", target="partner") == 1234
    assert value(samples, "netatlas_export_consecutive_failures", target="partner") == 3
    assert value(samples, "netatlas_export_last_failure_timestamp_seconds", target="partner") > 0
    assert value(samples, "netatlas_pipeline_observations_total", kind="wifi") == 42
    assert value(samples, "netatlas_pipeline_stations_created_total", kind="wifi") == 7
    assert value(samples, "netatlas_backend_up", backend="database") == 1
    if settings.redis_url:
        assert value(samples, "netatlas_backend_up", backend="redis") == 1
    for collector in ("queues", "backlog", "pipeline", "exports", "backends"):
        assert value(samples, "netatlas_scrape_ok", collector=collector) == 1
    assert value(samples, "netatlas_query_learning_rate") == 1
    assert value(samples, "netatlas_process_resident_memory_bytes", pid=str(os.getpid())) > 0


def test_a_backend_down_costs_its_figures_not_the_page(client: Any, app: Any) -> None:
    from netatlas.db.engine import make_engine

    services = app.state.services
    good = services.engine
    services.engine = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/none")
    try:
        samples = scrape(client)
    finally:
        services.engine.dispose()
        services.engine = good
    assert value(samples, "netatlas_scrape_ok", collector="exports") == 0
    assert value(samples, "netatlas_scrape_ok", collector="pipeline") == 0
    assert value(samples, "netatlas_backend_up", backend="database") == 0
    assert "netatlas_http_requests_total" in samples


def test_the_spool_sums_live_processes_and_forgets_ended_ones(tmp_path: Path) -> None:
    spool = tmp_path / "metrics"
    spool.mkdir()
    # A live process that is not this one (our parent) and one that has ended.
    live = os.getppid()
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    for pid in (live, int(ended)):
        snap = Snapshot(
            pid=pid,
            time=time.time(),
            rss_bytes=1000,
            requests=[("/v1/geolocate", 200, [1.0] + [0.0] * 11 + [0.004])],
            counters={"locate_answers": [(["geolocate", "hit", "internal"], 5.0)]},
            gauges={},
        )
        (spool / f"{HOST}-{pid}.msgpack").write_bytes(msgspec.msgpack.encode(snap))
    (spool / "otherhost-1.msgpack").write_bytes(b"ignored: another host's file")
    found = read_spool(spool)
    assert [s.pid for s in found] == [live]
    assert not (spool / f"{HOST}-{ended}.msgpack").exists()
    assert (spool / "otherhost-1.msgpack").exists()


def test_a_scrape_adds_other_processes_figures(client: Any, settings: Settings) -> None:
    before = scrape(client)
    spool = spool_dir(settings.data_dir)
    snap = Snapshot(
        pid=os.getppid(),
        time=time.time(),
        rss_bytes=1000,
        requests=[("/v1/geolocate", 200, [2.0] + [0.0] * 11 + [0.004])],
        counters={"locate_answers": [(["geolocate", "hit", "internal"], 5.0)]},
        gauges={},
        submit_reports=9,
    )
    (spool / f"{HOST}-{os.getppid()}.msgpack").write_bytes(msgspec.msgpack.encode(snap))
    try:
        after = scrape(client)
    finally:
        (spool / f"{HOST}-{os.getppid()}.msgpack").unlink()
    labels = {"endpoint": "/v1/geolocate", "status": "200"}
    name = "netatlas_http_requests_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 2
    hit = {"endpoint": "geolocate", "result": "hit", "source": "internal"}
    name = "netatlas_locate_answers_total"
    assert value(after, name, **hit) - value(before, name, **hit) == 5
    name = "netatlas_submit_reports_total"
    assert value(after, name) - value(before, name) == 9


def test_processes_flush_their_figures_to_the_spool(client: Any, settings: Settings) -> None:
    REGISTRY._next_flush = 0.0  # the next request is due to flush
    client.get("/__lbheartbeat__")
    own = spool_dir(settings.data_dir) / f"{HOST}-{os.getpid()}.msgpack"
    snap = msgspec.msgpack.decode(own.read_bytes(), type=Snapshot)
    assert snap.pid == os.getpid()
    assert any(e == "/__lbheartbeat__" for e, _, _ in snap.requests)


def _boom(request: Request) -> Response:
    raise RuntimeError("a bug")


def test_middleware_counts_exceptions_as_500_and_echoes_request_ids(tmp_path: Path) -> None:
    registry = Registry()
    app = Starlette(
        routes=[Route("/boom", _boom), Route("/ok", lambda r: Response("ok"))],
        middleware=[],
    )
    app.add_middleware(Observe, spool=None, registry=registry)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/boom").status_code == 500
        given = client.get("/ok", headers={"X-Request-ID": "abc-123"})
        made = client.get("/ok")
        bad = client.get("/ok", headers={"X-Request-ID": "x" * 500})
    assert given.headers["x-request-id"] == "abc-123"
    assert made.headers["x-request-id"] != bad.headers["x-request-id"]
    assert len(bad.headers["x-request-id"]) < 100
    counts = {k: int(sum(v[:-1])) for k, v in registry.requests.items()}
    assert counts == {("/boom", 500): 1, ("/ok", 200): 3}


def test_ndt7_handshakes_are_counted(client: Any) -> None:
    from starlette.testclient import WebSocketDenialResponse

    before = scrape(client)
    with pytest.raises(WebSocketDenialResponse), client.websocket_connect("/ndt/v7/download"):
        pass  # no ndt7 subprotocol: refused with 400 before the upgrade
    after = scrape(client)
    name = "netatlas_ndt7_tests_total"
    labels = {"direction": "download", "status": "400"}
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_hooks_count_locate_learning() -> None:
    before = dict(REGISTRY.counters["query_learning"])
    metrics.learning(True)
    metrics.learning(False)
    after = REGISTRY.counters["query_learning"]
    for outcome in ("learnt", "sampled_out"):
        assert after[(outcome,)] - before.get((outcome,), 0.0) == 1
