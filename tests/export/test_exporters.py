"""Exporters on their own: path templates, grouping, object names, the geosubmit body."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from netatlas.export.exporters import (
    ArchiveExporter,
    Envelope,
    ExportFailed,
    GeosubmitExporter,
    envelope,
    split_template,
    template_fields,
)
from netatlas.location.submit.report import Position, Report, Submission
from netatlas.storage.files import DirectoryStore
from tests.export.conftest import Receiver

DAY = 1_795_000_000_000  # 2026-11-18, ms


def sub(key: str | None, sources: list[str], received: int = DAY) -> Envelope:
    reports = [
        Report(timestamp=DAY, position=Position(latitude=1.0, longitude=2.0, source=s))
        for s in sources
    ]
    return envelope(Submission(reports=reports, api_key=key, received=received))


@pytest.mark.parametrize(
    ("url", "root", "template"),
    [
        ("archive/{year}/{month}/{day}", "archive/", "{year}/{month}/{day}"),
        ("s3://b/raw/{source}/x", "s3://b/raw/", "{source}/x"),
        ("archive", "archive", ""),
        ("{api_key}", "", "{api_key}"),
    ],
)
def test_split_template(url: str, root: str, template: str) -> None:
    assert split_template(url) == (root, template)


def test_template_fields() -> None:
    assert template_fields("{source}/{api_key}/{year}-{month}-{day}") == [
        "source", "api_key", "year", "month", "day",
    ]  # fmt: skip
    for bad in ("{hour}", "{year:04d}", "{source!r}", "{"):
        with pytest.raises(ValueError):
            template_fields(bad)


def test_archive_groups_by_the_templates_fields(tmp_path: Path) -> None:
    exporter = ArchiveExporter(DirectoryStore(tmp_path), "{source}/{api_key}/{year}/{month}/{day}")
    subs = [
        sub("key-1", ["gnss", "query"]),
        sub(None, ["gnss"]),
        sub("../../etc", ["gnss"], received=DAY + 86_400_000),
    ]
    assert exporter.send("b1", subs) == 4
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.gz"))
    assert files == [
        "gnss/______etc/2026/11/19/b1-0.json.gz",
        "gnss/key-1/2026/11/18/b1-1.json.gz",
        "gnss/no_key/2026/11/18/b1-2.json.gz",
        "query/key-1/2026/11/18/b1-3.json.gz",
    ]
    items = json.loads(gzip.decompress((tmp_path / files[1]).read_bytes()))["items"]
    assert items == [
        {"timestamp": DAY, "position": {"latitude": 1.0, "longitude": 2.0, "source": "gnss"}}
    ]


def test_archive_without_fields_writes_one_object(tmp_path: Path) -> None:
    exporter = ArchiveExporter(DirectoryStore(tmp_path), "")
    exporter.send("b2", [sub("k", ["gnss"]), sub(None, ["query"])])
    assert [p.name for p in tmp_path.iterdir()] == ["b2-0.json.gz"]


def test_archive_store_errors_are_export_failures(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    exporter = ArchiveExporter(DirectoryStore(tmp_path / "file"), "")
    with pytest.raises(ExportFailed):
        exporter.send("b3", [sub(None, ["gnss"])])


def test_geosubmit_splits_big_batches(receiver: Receiver) -> None:
    exporter = GeosubmitExporter(receiver.url, allow_private=True)
    try:
        assert exporter.send("b", [sub(None, ["gnss"] * 1500)]) == 1500
    finally:
        exporter.close()
    assert len(receiver.requests) == 2 and len(receiver.items) == 1500
    assert receiver.requests[0]["Content-Type"] == "application/json"
