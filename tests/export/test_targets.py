"""Export targets an administrator sets: geosubmit URLs reach public hosts only (checked when
saved, on the admin pages and in the CLI, and again when connecting), and ``file`` targets
stay inside the data directory (no absolute path, no ``..``, no symbolic link out)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert
from starlette.testclient import TestClient

from netatlas.cli import main
from netatlas.export.config import ConfigError, ExportConfig, create_config, update_config
from netatlas.export.delivery import load_state
from netatlas.export.models import export_config
from netatlas.export.tasks import update_exports
from netatlas.jobs.context import Context
from netatlas.settings import Settings
from tests.admin import test_admin
from tests.export.conftest import Receiver
from tests.export.test_cli import use
from tests.export.test_delivery import only, queue_incoming

admin = test_admin.admin  # the fixture: a client logged in as an administrator

METADATA = "http://169.254.169.254/latest/meta-data/"


@pytest.fixture
def strict(xsettings: Settings) -> Iterator[Context]:
    """The export test context with private targets refused, as in production."""
    context = Context.from_settings(dataclasses.replace(xsettings, allow_private_targets=False))
    yield context
    context.engine.dispose()


# ---- when saved --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [METADATA, "http://127.0.0.1:8000/v2/geosubmit", "http://[::1]/", "http://10.1.2.3/"]
)
def test_private_geosubmit_urls_are_refused_when_saved(strict: Context, url: str) -> None:
    with pytest.raises(ConfigError, match="public"):
        create_config(strict.engine, ExportConfig("t", "geosubmit", url))
    create_config(strict.engine, ExportConfig("t", "geosubmit", "https://8.8.8.8/v2/geosubmit"))
    with pytest.raises(ConfigError, match="public"):
        update_config(strict.engine, "t", url=url)
    create_config(strict.engine, ExportConfig("u", "geosubmit", url), allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "/etc/cron.d",
        "/var/lib/netatlas/../../etc/{year}",
        "file:///tmp/archive",
        "~/archive",
        "../outside/{year}",
        "archive/../../outside",
    ],
)
def test_file_targets_outside_the_data_dir_are_refused(strict: Context, url: str) -> None:
    with pytest.raises(ConfigError, match=r"relative to the data dir|'\.\.'"):
        create_config(strict.engine, ExportConfig("f", "file", url), allow_private=True)
    create_config(strict.engine, ExportConfig("f", "file", "file://archive/{year}"))


def test_the_admin_pages_refuse_private_and_outside_targets(admin: TestClient) -> None:
    token = test_admin._csrf(admin, "/admin/exports")
    form = {"csrf": token, "name": "up", "schema": "geosubmit", "batch": "5", "max_age": "60"}
    res = admin.post("/admin/exports", data={**form, "url": METADATA})
    assert res.status_code == 400 and "169.254.169.254" in res.text and "public" in res.text
    res = admin.post("/admin/exports", data={**form, "schema": "file", "url": "/etc"})
    assert res.status_code == 400 and "relative to the data dir" in res.text
    res = admin.post("/admin/exports", data={**form, "url": "https://8.8.8.8/v2/geosubmit"})
    assert "The export target was created." in res.text
    res = admin.post("/admin/exports/up", data={**form, "url": "http://192.168.0.10/"})
    assert res.status_code == 400 and "public" in res.text


def test_the_cli_refuses_private_targets(
    strict: Context, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, strict.settings)
    argv = ["exports", "create", "up", "--schema", "geosubmit", "--url", METADATA]
    assert main(argv) == 1
    assert "public" in capsys.readouterr().out
    assert main(["exports", "create", "raw", "--schema", "file", "--url", "/tmp/x"]) == 1
    assert "relative to the data dir" in capsys.readouterr().out
    monkeypatch.setenv("NETATLAS_ALLOW_PRIVATE_TARGETS", "true")
    assert main(argv) == 0


# ---- when used ---------------------------------------------------------------------------------


def _stored(ctx: Context, config: ExportConfig) -> None:
    """A row written before these checks existed (or whose name resolves elsewhere now)."""
    only(ctx, ExportConfig("placeholder", "dummy"))
    with ctx.engine.begin() as conn:
        conn.execute(insert(export_config).values(**config.row()))


def test_a_stored_private_url_is_refused_when_connecting(
    strict: Context, receiver: Receiver
) -> None:
    _stored(strict, ExportConfig("t", "geosubmit", receiver.url, batch=1))
    queue_incoming(strict, 0, 1)
    runs = update_exports(dataclasses.replace(strict, flush=True))
    failed = [r for r in runs if r.failed]
    assert failed and "not a public address" in (failed[0].failed or "")
    assert receiver.requests == []  # nothing reached the private address
    with strict.engine.connect() as conn:
        assert "not a public address" in (load_state(conn, "t").last_error or "")


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink"])
def test_file_targets_never_write_outside_the_data_dir(
    strict: Context, tmp_path_factory: pytest.TempPathFactory, kind: str
) -> None:
    outside = tmp_path_factory.mktemp("outside")
    data_dir = strict.settings.data_dir
    if kind == "absolute":
        url = f"{outside}/{{year}}"
    elif kind == "dotdot":
        url = os.path.relpath(outside, data_dir) + "/{year}"
    else:  # a link inside the data dir that leads out of it
        (data_dir / "out").symlink_to(outside, target_is_directory=True)
        url = "out/{year}"
    _stored(strict, ExportConfig("raw", "file", url, batch=1))
    queue_incoming(strict, 0, 2)
    runs = update_exports(dataclasses.replace(strict, flush=True))
    failed = [r for r in runs if r.failed]
    assert failed and "outside the data directory" in (failed[0].failed or "")
    assert list(outside.rglob("*")) == []


def test_file_targets_inside_the_data_dir_still_write(strict: Context) -> None:
    data_dir: Path = strict.settings.data_dir
    (data_dir / "real").mkdir()
    (data_dir / "linked").symlink_to(data_dir / "real", target_is_directory=True)
    only(strict, ExportConfig("raw", "file", "linked/{year}", batch=1))
    queue_incoming(strict, 0, 2)
    runs = update_exports(dataclasses.replace(strict, flush=True))
    assert not any(r.failed for r in runs)
    assert list((data_dir / "real").rglob("*.json.gz"))
