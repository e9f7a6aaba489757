"""``netatlas exports …`` and ``netatlas cells …``; the MLS-format round trip between instances."""

from __future__ import annotations

import dataclasses
import gzip
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from netatlas.cli import main
from netatlas.db.engine import make_engine
from netatlas.export.cli import guess_origin
from netatlas.export.delivery import dead_queue
from netatlas.export.tasks import update_exports, update_incoming
from netatlas.features import process_until_idle
from netatlas.jobs.context import Context
from netatlas.location.models import cell_tables
from netatlas.settings import Settings
from tests.conftest import PG_URL, _pg_url
from tests.export.conftest import Receiver


def use(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Point the CLI (which reads the environment) at these settings."""
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NETATLAS_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("NETATLAS_LOG_LEVEL", "warning")
    monkeypatch.setenv("NETATLAS_EXPORT_MAX_ATTEMPTS", str(settings.export_max_attempts))
    monkeypatch.setenv("NETATLAS_ALLOW_PRIVATE_TARGETS", str(settings.allow_private_targets))


def test_exports_commands(
    xctx: Context,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    use(monkeypatch, xctx.settings)
    assert main(["exports", "create", "partner", "--schema", "geosubmit", "--url", receiver.url,
                 "--batch", "5", "--skip-sources", "query"]) == 0  # fmt: skip
    assert main(["exports", "create", "partner", "--schema", "dummy"]) == 1
    assert "exists" in capsys.readouterr().out
    assert main(["exports", "create", "bad"]) == 2
    assert main(["exports", "create", "bad", "--schema", "s3", "--url", "x"]) == 1
    assert "s3://bucket" in capsys.readouterr().out
    assert main(["exports", "update", "partner", "--max-age", "60"]) == 0
    capsys.readouterr()
    assert main(["exports", "list"]) == 0
    out = capsys.readouterr().out
    assert f"partner: schema=geosubmit url={receiver.url} batch=5 max_age=60" in out
    assert "skip_sources=query" in out and "archive: schema=file" in out

    # A target that stays down: its batch ends as a dead letter an operator can see and replay.
    receiver.down = True
    flush = dataclasses.replace(xctx, flush=True)
    xctx.queue.push("incoming", [_submission()])
    update_incoming(xctx)
    for _ in range(xctx.settings.export_max_attempts):
        update_exports(flush)
    assert xctx.queue.size(dead_queue("partner")) == 1
    capsys.readouterr()
    assert main(["exports", "list"]) == 0
    out = capsys.readouterr().out
    assert "dead=1" in out and "last error: HTTP 503" in out
    assert main(["exports", "show", "partner"]) == 0
    assert "3 attempts, 1 submissions, 1 reports" in capsys.readouterr().out
    receiver.down = False
    assert main(["exports", "retry", "partner"]) == 0
    assert "1 dead batches" in capsys.readouterr().out
    update_exports(flush)
    assert len(receiver.items) == 1

    xctx.queue.push("incoming", [_submission()])
    update_incoming(xctx)
    assert main(["exports", "delete", "partner"]) == 0
    assert "dropped 1 queued" in capsys.readouterr().out
    assert main(["exports", "delete", "partner"]) == 1
    assert main(["exports", "retry"]) == 2


def _submission() -> bytes:
    from netatlas.location.submit.report import Position, Report, Submission, encode_submission

    now = int(time.time() * 1000)
    report = Report(timestamp=now, position=Position(latitude=1.0, longitude=1.0, source="gnss"))
    return encode_submission(Submission(reports=[report], received=now))


def _cells_report(i: int) -> dict[str, Any]:
    def tower(radio: str, lac: int, cid: int, psc: int | None = None) -> dict[str, Any]:
        return {
            "radioType": radio,
            "mobileCountryCode": 262,
            "mobileNetworkCode": 1,
            "locationAreaCode": lac,
            "cellId": cid,
            **({"primaryScramblingCode": psc} if psc is not None else {}),
        }

    return {
        "timestamp": int(time.time() * 1000),
        "position": {"latitude": 52.52 + i * 0.01, "longitude": 13.40, "accuracy": 10.0},
        "cellTowers": [
            tower("gsm", 100, 1000 + i),
            tower("wcdma", 100, 100_000 + i, 200),
            tower("lte", 100, 10_000_000 + i, 300),
            tower("nr", 4_000_000, 60_000_000_000 + i, 900),
        ],
    }


@pytest.fixture
def other_instance(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a second, empty instance on the same backend (migrated by the CLI)."""
    if not settings.database_url:
        yield Settings(data_dir=tmp_path / "other", demo=False, embedded_jobs=False)
        return
    schema = f"o_{uuid.uuid4().hex[:10]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield dataclasses.replace(settings, data_dir=tmp_path / "other", database_url=_pg_url(schema))
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _cells(settings: Settings) -> list[tuple[Any, ...]]:
    engine = make_engine(settings.sqlalchemy_url)
    rows = []
    with engine.connect() as conn:
        for table in cell_tables.values():
            c = table.c
            for r in conn.execute(
                select(c.cellid, c.radio, c.mcc, c.mnc, c.lac, c.cid, c.psc, c.lat, c.lon,
                       c.radius, c.samples, c.created, c.modified).order_by(c.cellid)
            ):  # fmt: skip
                created = r.created.replace(microsecond=0)
                modified = r.modified.replace(microsecond=0)
                lat, lon = round(r.lat, 7), round(r.lon, 7)
                rows.append((*r[:7], lat, lon, r.radius, r.samples, created, modified))
    engine.dispose()
    return rows


def test_mls_format_round_trip(
    client: Any,
    ctx: Context,
    other_instance: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = gzip.compress(json.dumps({"items": [_cells_report(i) for i in range(3)]}).encode())
    assert client.post(
        "/v2/geosubmit", content=body, headers={"Content-Encoding": "gzip"}
    ).is_success
    process_until_idle(ctx)
    source = _cells(ctx.settings)
    assert len(source) == 12 and {r[1] for r in source} == {0, 2, 3, 4}

    path = tmp_path / "MLS-full-cell-export-2026-11-27T000000.csv.gz"
    use(monkeypatch, ctx.settings)
    assert main(["cells", "export", str(path)]) == 0
    assert "wrote 12 cells" in capsys.readouterr().out

    use(monkeypatch, other_instance)
    assert main(["cells", "import", str(path)]) == 0
    out = capsys.readouterr().out
    assert "12 rows: 12 cells written, 0 kept" in out and "origin mls" in out
    assert _cells(other_instance) == source
    assert main(["cells", "import", str(path)]) == 0  # again: nothing changes
    assert _cells(other_instance) == source
    assert main(["cells", "import", str(tmp_path / "missing.csv"), "--origin", "x"]) == 2
    assert main(["cells", "import", str(path), "--origin", "no spaces"]) == 2


@pytest.mark.parametrize(
    ("name", "origin"),
    [
        ("MLS-full-cell-export-2024-03-12T000000.csv.gz", "mls"),
        ("cell_towers.csv.gz", "ocid"),
        ("cell_towers_diff-2024031203.csv.gz", "ocid"),
        ("cells.csv", None),
    ],
)
def test_guess_origin(name: str, origin: str | None) -> None:
    assert guess_origin(Path(name)) == origin
