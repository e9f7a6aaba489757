"""The ndt-server result-file format, as M-Lab's real files show it (shared/data/mlab)."""

from __future__ import annotations

import gzip
import json
import re
import tarfile
from functools import cache
from typing import Any

from tests.conftest import DATA

MLAB = DATA / "mlab"
#: RFC 3339 with up to nine fractional digits, UTC (Go's RFC3339Nano).
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
#: A result file's path below the data directory's ndt7/ (and inside M-Lab's archives).
NAME = re.compile(
    r"^(?P<y>\d{4})/(?P<m>\d\d)/(?P<d>\d\d)/ndt7-(?P<dir>download|upload)-"
    r"(?P=y)(?P=m)(?P=d)T\d{6}\.\d{9}Z\.(?P<uuid>[A-Za-z0-9_-]+)\.json\.gz$"
)


@cache
def real_files() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((MLAB / "ndt7").glob("*.json"))]


@cache
def archive_names() -> list[str]:
    with tarfile.open(MLAB / "ndt7-archive-syd03-2020-03-18.tgz") as tar:
        return [m.name.lstrip("./") for m in tar.getmembers() if m.isfile()]


def read(path: Any) -> dict[str, Any]:
    with gzip.open(path) as f:
        doc: dict[str, Any] = json.load(f)
    return doc


def _type(value: Any) -> str:
    return (
        "number"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else (type(value).__name__)
    )


def check_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Assert ``doc`` has the real files' layout and types; return its test object."""
    real = real_files()[0]  # the 2020 download
    top = {k for k in real if k not in ("Download", "Upload")}
    assert top <= set(doc), top - set(doc)
    for key in top:
        assert _type(doc[key]) == _type(real[key]), key
    for key in ("StartTime", "EndTime"):
        assert TIME.match(doc[key]), doc[key]
    kinds = [k for k in ("Download", "Upload") if k in doc]
    assert len(kinds) == 1
    test: dict[str, Any] = doc[kinds[0]]
    real_test = real["Download"]
    assert set(real_test) <= set(test)
    assert isinstance(test["UUID"], str) and test["UUID"]
    assert TIME.match(test["StartTime"]) and TIME.match(test["EndTime"])
    assert test["ClientMeasurements"] is None or isinstance(test["ClientMeasurements"], list)
    for pair in test["ClientMetadata"] or []:
        assert set(pair) == {"Name", "Value"} and all(isinstance(v, str) for v in pair.values())
    assert "ServerMetadata" not in test or isinstance(test["ServerMetadata"], list)
    measurements = test["ServerMeasurements"]
    assert isinstance(measurements, list) and measurements
    real_tcp = real_test["ServerMeasurements"][-1]["TCPInfo"]
    bbr_keys = set(real_files()[1]["Download"]["ServerMeasurements"][-1]["BBRInfo"])
    conn_keys = set(real_files()[1]["Download"]["ServerMeasurements"][-1]["ConnectionInfo"])
    for m in measurements:
        if "TCPInfo" in m:
            assert set(real_tcp) <= set(m["TCPInfo"])
            assert all(_type(v) == "number" for v in m["TCPInfo"].values())
        if "BBRInfo" in m:  # ndt-server's current BBRInfo, or its 2020 form
            assert set(m["BBRInfo"]) in (bbr_keys, {"ElapsedTime", "MaxBandwidth", "MinRTT"})
        if "ConnectionInfo" in m:
            assert conn_keys <= set(m["ConnectionInfo"])
            assert m["ConnectionInfo"]["UUID"] == test["UUID"]
    return test
