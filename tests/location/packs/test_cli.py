"""``netatlas packs build`` and ``netatlas packs list``."""

from __future__ import annotations

import pytest

from netatlas.cli import main
from netatlas.db.engine import engine_from_settings
from netatlas.location.packs.build import current
from netatlas.location.packs.service import pack_store
from netatlas.settings import Settings
from tests.location.packs._seed import add_cell, add_wifi


def use(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NETATLAS_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("NETATLAS_LOG_LEVEL", "warning")


def test_build_and_list(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, settings)
    engine = engine_from_settings(settings)
    add_cell(engine, "lte", 1)
    add_wifi(engine, "0a1b2c3d4e5f")
    engine.dispose()
    assert main(["packs", "build", "DE", "bbox:52,13,53,14", "--wifi"]) == 0
    out = capsys.readouterr().out
    assert "DE: 1 cells, 1 WiFi access points" in out
    store = pack_store(settings)
    de = current(store, "DE")
    assert de is not None and de.counts == {"cells": 1, "wifi": 1}
    assert current(store, "bbox-52_13_53_14") is not None
    assert main(["packs", "list"]) == 0
    assert "DE\t" in capsys.readouterr().out

    monkeypatch.setenv("NETATLAS_PACKS_REGIONS", "mcc:262")
    assert main(["packs", "build"]) == 0  # the configured regions; WiFi off by default
    mcc = current(store, "mcc-262")
    assert mcc is not None and mcc.counts == {"cells": 1, "wifi": 0}


def test_bad_or_missing_regions(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, settings)
    assert main(["packs", "build", "XX"]) == 2
    assert "unknown country code" in capsys.readouterr().err
    assert main(["packs", "build"]) == 2
    assert "NETATLAS_PACKS_REGIONS is empty" in capsys.readouterr().err
