"""``netatlas tiles render`` against the test database, into a directory and into S3."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from netatlas.cli import main
from netatlas.settings import Settings
from tests.datamap.factories import add_cells


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch, engine: Any) -> Settings:
    """The process environment of a command run beside the test server, with some cells."""
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NETATLAS_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("NETATLAS_LOG_LEVEL", "warning")
    today = dt.datetime.now(dt.UTC).date()  # when the test runs, not when it was imported
    old = today - dt.timedelta(days=30)
    add_cells(engine, [(52.52 + i * 0.001, 13.40, old, today) for i in range(20)])
    return settings


def test_render_into_a_directory(
    env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["tiles", "render", "--out", "public", "--zoom", "0-5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("full render of file://") and "7 tiles" in out
    tiles = sorted(p.relative_to(tmp_path / "public").as_posix() for p in tmp_path.rglob("*.png"))
    assert tiles == [
        "0/0/0.png",
        "0/0/0@2x.png",
        "1/1/0.png",
        "2/2/1.png",
        "3/4/2.png",
        "4/8/5.png",
        "5/17/10.png",
    ]
    assert main(["tiles", "render", "--out", "public", "--zoom", "0-5"]) == 0
    assert capsys.readouterr().out.startswith("incremental render")


def test_the_default_store_is_the_served_one(env: Settings, capsys: Any) -> None:
    assert main(["tiles", "render", "--full"]) == 0
    data = json.loads((env.data_dir / "tiles" / "data.json").read_text())
    assert data["mode"] == "full" and data["tiles"] == 13


def test_bad_zooms_are_refused(env: Settings, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["tiles", "render", "--zoom", "3-1"])
    assert exit_.value.code == 2
    assert "zoom levels must satisfy" in capsys.readouterr().err


def test_render_into_s3(
    env: Settings,
    bucket: tuple[str, Any],
    moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
) -> None:
    name, client = bucket
    monkeypatch.setenv("NETATLAS_S3_ENDPOINT_URL", moto_server)
    assert main(["tiles", "render", "--out", f"s3://{name}/coverage"]) == 0
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]]
    assert "coverage/data.json" in keys and "coverage/0/0/0@2x.png" in keys
    assert len(keys) == 14
    assert main(["tiles", "render", "--out", "s3://no-such-bucket/x"]) == 1
    assert "tiles: s3://no-such-bucket/x/" in capsys.readouterr().err


def test_pngquant_missing_is_a_warning(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setattr("netatlas.datamap.png.shutil.which", lambda name: None)
    assert main(["tiles", "render", "--pngquant", "--zoom", "0-3"]) == 0
    assert "pngquant is not installed" in capsys.readouterr().err
