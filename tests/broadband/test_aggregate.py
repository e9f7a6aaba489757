"""Aggregation: the stored bins' known contents, incremental = rebuild, de-duplication,
survey locations, ISP rewrites."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, insert, select

from netatlas.broadband.aggregate.models import stats_bin, stats_state
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.areas import QuadkeyLayer
from netatlas.broadband.mlab.files import convert_row
from netatlas.broadband.mlab.importer import import_items
from netatlas.broadband.models import measurements, survey_response

T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOME = (51.48, -0.005)  # one quadkey-16 tile
AWAY = (51.50, -0.10)


def row(
    uuid: str,
    mbps: float,
    *,
    direction: str = "download",
    when: datetime = T0,
    where: tuple[float, float] = HOME,
    asn: int = 2856,
    isp: str = "British Telecommunications PLC",
    ip: str = "192.0.2.1",
    rtt: float = 10.0,
) -> dict[str, Any]:
    return {
        "id": uuid,
        "direction": direction,
        "a": {
            "TestTime": when.isoformat(),
            "MeanThroughputMbps": mbps,
            "MinRTT": rtt,
            "LossRate": 0.01 if direction == "download" else 0.0,
        },
        "client": {
            "IP": ip,
            "Geo": {"Latitude": where[0], "Longitude": where[1]},
            "Network": {"ASNumber": asn, "ASName": isp},
        },
    }


def load(engine: Engine, rows: list[dict[str, Any]]) -> None:
    report = import_items(engine, (convert_row(r) for r in rows))
    assert not report.bad, report.summary()


def config(tmp_path: Path, **overrides: Any) -> str:
    agg = {
        "name": "q",
        "area": "quadkey:16",
        "time": "month",
        "isp": True,
        "min_tests": 3,
        "isp_rewrites": {"BT": ["british telecom"], "Virgin": ["/^AS5089 /"]},
    }
    agg.update(overrides)
    path = tmp_path / "aggregations.json"
    path.write_text(json.dumps({"aggregation": [agg]}))
    return str(path)


def known_rows(rng: np.random.Generator, n: int = 200) -> tuple[list[dict[str, Any]], np.ndarray]:
    speeds = rng.lognormal(3.5, 1.0, n)
    rows = [
        row(f"k{i}", float(s), when=T0 + timedelta(hours=i), ip=f"192.0.2.{i % 50}")
        for i, s in enumerate(speeds)
    ]
    return rows, speeds


def bins(engine: Engine) -> list[dict[str, Any]]:
    """Stored bins: their key columns, and the partial statistics unpacked (scalars, histograms,
    sketch records, client hashes)."""
    from netatlas.broadband.aggregate import frame as fr

    with engine.connect() as conn:
        rows = conn.execute(select(stats_bin).order_by(*stats_bin.primary_key.columns)).all()
    frame = fr.from_blobs([r.partial for r in rows])
    out = []
    for i, r in enumerate(rows):
        b: dict[str, Any] = dict(r._mapping)
        for name, v in frame.values.items():
            b[name] = v[i].tolist() if v.ndim == 2 else float(v[i])
        for name, sk in frame.sketches.items():
            mine = sk.owner == i
            b[f"{name}_sketch"] = list(
                zip(sk.index[mine].tolist(), sk.count[mine].tolist(), strict=True)
            )
        b["client_set"] = frame.client_hash[frame.client_owner == i].tolist()
        out.append(b)
    return out


def test_known_answers(engine: Engine, tmp_path: Path) -> None:
    """The stored partial statistics (never published as they are: see test_stats_views and
    test_stats_privacy) hold what the tests were."""
    from netatlas.broadband.aggregate import frame as fr
    from netatlas.broadband.aggregate.sketch import quantiles

    rows, speeds = known_rows(np.random.default_rng(5))
    rows += [row("v1", 100.0, asn=5089, isp="Virgin Media Limited", ip="192.0.2.200")]
    rows += [row("u1", 5.0, direction="upload")]
    load(engine, rows)
    (report,) = update_statistics(engine, config(tmp_path))
    assert report.rebuilt and report.tests == len(rows) and not report.error
    stored = bins(engine)
    assert [(b["isp"], b["tests"]) for b in stored] == [("BT", 201), ("Virgin", 1)]
    tile = QuadkeyLayer(16)
    assert stored[0]["area"] == tile.keys(tile.assign(np.array([HOME[0]]), np.array([HOME[1]])))[0]
    assert stored[0]["period"] == int(T0.timestamp())
    frame = fr.from_blobs([b["partial"] for b in stored])
    v = frame.values
    sk = frame.sketches["dl"]
    qs = [0.1, 0.25, 0.5, 0.75, 0.9]
    table = quantiles(sk.starts(frame.size), sk.index, sk.count, v["dl_n"], v["dl_min"],
                      v["dl_max"], qs)  # fmt: skip
    for k, q in enumerate(qs):
        assert table[0, k] == pytest.approx(np.quantile(speeds, q), rel=0.0101)
    assert v["dl_n"].tolist() == [200, 1] and v["ul_n"].tolist() == [1, 0]
    assert len(stored[0]["client_set"]) == 50
    assert v["dl_sum"][0] / 200 == pytest.approx(speeds.mean(), abs=1e-3)
    assert np.exp(v["dl_logsum"][0] / 200) == pytest.approx(np.exp(np.log(speeds).mean()))
    assert v["dl_min"][0] == pytest.approx(speeds.min()) and v["dl_max"][1] == 100.0
    edges = [10 ** (x / 2 + 0.25) for x in range(7)]
    assert (
        stored[0]["dl_hist"]
        == np.bincount(np.searchsorted(edges, speeds, side="right"), minlength=8).tolist()
    )
    assert v["loss_sum"][0] / v["loss_n"][0] == pytest.approx(0.01)
    assert v["rtt_sum"][0] / v["rtt_n"][0] == pytest.approx(10.0)


def test_incremental_equals_rebuild(engine: Engine, tmp_path: Path) -> None:
    path = config(tmp_path, tests_per_client_day=2, time="day")
    rows, _ = known_rows(np.random.default_rng(9), 300)
    load(engine, rows[:120])
    update_statistics(engine, path)
    with engine.connect() as conn:
        first = conn.execute(select(stats_state.c.version, stats_state.c.watermark)).one()
    assert update_statistics(engine, path) == []  # nothing new: nothing written
    load(engine, rows[120:250])
    (inc,) = update_statistics(engine, path)
    assert not inc.rebuilt and inc.tests > 0
    load(engine, rows[250:])
    update_statistics(engine, path)
    incremental = bins(engine)
    (full,) = update_statistics(engine, path, rebuild=True)
    assert full.rebuilt
    rebuilt = bins(engine)
    assert len(incremental) == len(rebuilt)
    # The published noise is keyed by a digest of each bin's content: the same either way.
    from netatlas.broadband.aggregate.frame import digests

    assert (
        digests([b["partial"] for b in incremental]).tolist()
        == digests([b["partial"] for b in rebuilt]).tolist()
    )
    for a, b in zip(incremental, rebuilt, strict=True):
        for key, value in a.items():
            if key == "partial":
                continue  # float sums in another order: compared unpacked, approximately
            if isinstance(value, float):
                assert value == pytest.approx(b[key], rel=1e-9), key
            else:
                assert value == b[key], key
    with engine.connect() as conn:
        last = conn.execute(select(stats_state.c.version, stats_state.c.watermark)).one()
    assert last.version > first.version


def test_tests_per_client_day(engine: Engine, tmp_path: Path) -> None:
    rows = [row(f"d{i}", 10.0 + i, when=T0 + timedelta(minutes=i)) for i in range(5)]
    rows += [row("next-day", 50.0, when=T0 + timedelta(days=1))]
    rows += [row("other", 60.0, ip="192.0.2.99")]
    load(engine, rows[:3])
    path = config(tmp_path, tests_per_client_day=2)
    update_statistics(engine, path)
    load(engine, rows[3:])
    update_statistics(engine, path)
    (b,) = bins(engine)
    assert b["tests"] == 4  # two on the first day, one the next, one from another client
    assert b["dl_max"] == 60.0 and b["dl_min"] == 10.0


def test_survey_location_replaces_ip_location(engine: Engine, tmp_path: Path) -> None:
    load(engine, [row("s1", 20.0), row("s2", 30.0), row("s3", 40.0)])
    with engine.begin() as conn:
        ids = dict(conn.execute(select(measurements.c.uuid, measurements.c.id)).all())
        for uuid, consent in (("s1", True), ("s2", False)):
            conn.execute(
                insert(survey_response).values(
                    created=datetime(2024, 3, 1),
                    form="default",
                    answers={},
                    consent=consent,
                    lat=AWAY[0],
                    lon=AWAY[1],
                    download_id=ids[uuid],
                )
            )
    update_statistics(engine, config(tmp_path, location="survey", isp=False))
    by_tests = sorted((b["tests"], b["dl_max"]) for b in bins(engine))
    assert by_tests == [(1, 20.0), (2, 40.0)]  # only the consented survey moved its test
    update_statistics(engine, config(tmp_path, location="ip", isp=False))
    assert [b["tests"] for b in bins(engine)] == [3]


def test_survey_grace_holds_back_fresh_local_tests(engine: Engine, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    load(engine, [row("i1", 10.0)])
    with engine.begin() as conn:
        conn.execute(
            insert(measurements).values(
                uuid="local1",
                source="local",
                direction="download",
                test_time=now.replace(tzinfo=None),
                mean_mbps=5.0,
                lat=HOME[0],
                lon=HOME[1],
            )
        )
    path = config(tmp_path, location="survey", isp=False, time="all")
    update_statistics(engine, path, now=now.timestamp())  # the test is fresh at this moment
    assert [b["tests"] for b in bins(engine)] == [1]
    update_statistics(engine, path, now=now.timestamp() + 3600)
    assert [b["tests"] for b in bins(engine)] == [2]


def test_unknown_layer_is_reported(engine: Engine, tmp_path: Path) -> None:
    load(engine, [row("x", 1.0)])
    (report,) = update_statistics(engine, config(tmp_path, area="counties"))
    assert report.error and "counties" in report.error


def test_config_errors(tmp_path: Path) -> None:
    from netatlas.broadband.aggregate.config import ConfigError, load_aggregations

    for bad in (
        {"aggregation": [{"name": "a b"}]},
        {"aggregation": [{"name": "a", "time": "fortnight"}]},
        {"aggregation": [{"name": "a", "timezone": "Mars/Olympus"}]},
        {"aggregation": [{"name": "a", "colour": "red"}]},
        {"aggregation": [{"name": "a"}, {"name": "a"}]},
        {"aggregation": [{"name": "a", "isp_rewrites": [["/(/", "x"]]}]},
    ):
        path = tmp_path / "a.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(ConfigError):
            load_aggregations(str(path))
    toml = tmp_path / "a.toml"
    toml.write_text('[[aggregation]]\nname = "x"\narea = "h3:7"\nhour_of_day = true\n')
    (agg,) = load_aggregations(str(toml))
    assert agg.bins == ["area", "time", "hour"]
