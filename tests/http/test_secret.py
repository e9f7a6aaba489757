"""``NETATLAS_SECRET_KEY``: a placeholder or too short a secret stops every long-running
command (and the app) with a clear message; empty still means a generated key."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path

import pytest

from netatlas.cli import main
from netatlas.http.secret import WeakSecret, check_secret, site_secret
from netatlas.settings import Settings

DEPLOY_ENV = Path(__file__).resolve().parents[2] / "deploy" / "netatlas.env"
WEAK = ["change-me", "changeme", "CHANGE_ME", "Change Me!", "secret", "password", "x" * 40]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("NETATLAS_REDIS_URL", "NETATLAS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NETATLAS_DEMO", "false")
    return monkeypatch


def _no_server(*args: object, **kwargs: object) -> None:
    raise AssertionError("the server was started")


@pytest.mark.parametrize("secret", [*WEAK, "fifteen-chars!!"])
@pytest.mark.parametrize(
    "argv", [["serve"], ["worker"], ["beat"], ["ndt7", "--port", "1"]], ids=lambda a: a[0]
)
def test_long_running_commands_refuse_a_weak_secret(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], secret: str
) -> None:
    import uvicorn

    env.setenv("NETATLAS_SECRET_KEY", secret)
    env.setattr(uvicorn, "run", _no_server)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "refusing to start" in err and "NETATLAS_SECRET_KEY" in err
    assert "token_urlsafe" in err  # says how to make a good one


@pytest.mark.parametrize("secret", WEAK)
def test_the_app_and_the_signers_refuse_a_weak_secret(settings: Settings, secret: str) -> None:
    from netatlas.app import create_app

    with pytest.raises(SystemExit, match="NETATLAS_SECRET_KEY"):
        create_app(replace(settings, secret_key=secret), run_jobs=False)
    with pytest.raises(WeakSecret):
        site_secret(secret, settings.data_dir)


def test_empty_or_random_secrets_work(settings: Settings) -> None:
    from netatlas.app import create_app

    for secret in ("", secrets.token_urlsafe(48), "correct horse battery staple"):
        check_secret(secret)
        app = create_app(replace(settings, secret_key=secret), run_jobs=False)
        app.state.services.engine.dispose()
    assert len(site_secret("", settings.data_dir)) == 32


def test_the_shipped_env_file_leaves_the_secret_empty() -> None:
    lines = DEPLOY_ENV.read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert values["NETATLAS_SECRET_KEY"] == ""
    check_secret(values["NETATLAS_SECRET_KEY"])
    text = DEPLOY_ENV.read_text()
    assert "token_urlsafe" in text  # how to generate one
