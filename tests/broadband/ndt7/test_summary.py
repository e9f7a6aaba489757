"""The headline figures, checked against M-Lab's own result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netatlas.broadband.ndt7.summary import summarize, summarize_tcpinfo
from tests.conftest import DATA

FILES = sorted((DATA / "mlab" / "ndt7").glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name[:40])
def test_figures_of_real_files_are_computed_as_mlab_does(path: Path) -> None:
    doc = json.loads(path.read_text())
    direction = "download" if "Download" in doc else "upload"
    test = doc["Download" if direction == "download" else "Upload"]
    last = test["ServerMeasurements"][-1]["TCPInfo"]
    s = summarize(direction, test["ServerMeasurements"])
    moved = last["BytesAcked"] if direction == "download" else last["BytesReceived"]
    assert s.mean_mbps == pytest.approx(8 * moved / last["ElapsedTime"])
    assert s.min_rtt_ms == last["MinRTT"] / 1000
    if direction == "download":
        assert s.loss_rate == pytest.approx(last["BytesRetrans"] / last["BytesSent"])
    else:
        assert s.loss_rate == 0.0


def test_known_values_of_the_2020_download() -> None:
    path = next(p for p in FILES if "download-2020" in p.name)
    test = json.loads(path.read_text())["Download"]
    s = summarize("download", test["ServerMeasurements"])
    # 8 × 48,396,999 B / 10,000,921 µs and 285,804 µs.
    assert round(s.mean_mbps or 0, 3) == 38.714
    assert s.min_rtt_ms == 285.804


def test_without_tcpinfo_the_app_byte_count_is_used() -> None:
    s = summarize("upload", [{"AppInfo": {"NumBytes": 1_250_000, "ElapsedTime": 1_000_000}}])
    assert s.mean_mbps == 10.0
    assert s.min_rtt_ms is None


def test_bad_snapshots_give_none_not_errors() -> None:
    s = summarize_tcpinfo("download", {"BytesAcked": "x", "ElapsedTime": 0, "MinRTT": True})
    assert s.mean_mbps is None
    assert s.min_rtt_ms is None
    assert summarize("download", []).mean_mbps is None
