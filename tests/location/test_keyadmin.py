"""API keys as ``netatlas keys`` changes them: the same rules as the admin pages."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from netatlas.cli import main
from netatlas.location import keyadmin
from netatlas.location.models import api_key
from netatlas.settings import Settings


@pytest.fixture
def keys(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    monkeypatch.setenv("NETATLAS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NETATLAS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NETATLAS_REDIS_URL", settings.redis_url)

    def run(*argv: str) -> tuple[int, str]:
        code = main(["keys", *argv])
        return code, capsys.readouterr().out

    return run


def _rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(api_key))]


def test_the_cli_creates_updates_and_deletes_a_key(keys: Any, engine: Engine) -> None:
    assert keys("create", "city-app", "--maxreq", "5") == (0, "created key city-app\n")
    (row,) = _rows(engine)
    assert row["maxreq"] == 5 and row["allow_locate"] and row["store_sample_submit"] == 100
    assert keys("create", "city-app") == (1, "the key city-app exists\n")
    assert keys("update", "city-app", "--store-sample-locate", "40") == (
        0,
        "updated key city-app\n",
    )
    assert _rows(engine)[0]["store_sample_locate"] == 40
    assert _rows(engine)[0]["maxreq"] == 5  # the options not given are kept
    assert keys("update", "city-app") == (0, "updated key city-app\n")
    assert keys("delete", "city-app") == (0, "deleted key city-app\n")
    assert keys("delete", "city-app") == (1, "no key city-app\n")
    assert keys("update", "nobody") == (1, "no key nobody\n")
    assert keys("create", "a b") == (2, "a key is 4–40 letters, digits or hyphens\n")
    assert keys("delete") == (2, "a key is 4–40 letters, digits or hyphens\n")
    assert _rows(engine) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--store-sample-locate", "500"], "--store-sample-locate: 0 to 100"),
        (["--maxreq", "-1"], "--maxreq: a whole number ≥ 0"),
        (["--fallback-cache-expire", "10000000000"], "--fallback-cache-expire: a whole number ≥ 0"),
        (
            ["--fallback-ratelimit-interval", "0"],
            "--fallback-ratelimit-interval: at least 1 second",
        ),
        (["--fallback-schema", "nonsense/v9"], "--fallback-schema: one of ichnaea/v1"),
        (["--fallback-name", "n" * 41], "--fallback-name: at most 40 characters"),
        (["--fallback-url", "ftp://8.8.8.8/"], "--fallback-url: an http(s) URL"),
        (["--allow-fallback", "1"], "--allow-fallback: a fallback needs a provider name and URL"),
    ],
)
def test_the_cli_refuses_what_the_admin_pages_refuse(
    keys: Any, engine: Engine, options: list[str], message: str
) -> None:
    code, out = keys("create", "city-app", *options)
    assert code == 2 and out.startswith(message)
    assert _rows(engine) == []
    assert keys("create", "city-app")[0] == 0
    code, out = keys("update", "city-app", *options)
    assert code == 2 and out.startswith(message)
    (row,) = _rows(engine)
    assert row["store_sample_locate"] == 100 and row["maxreq"] is None
    assert not row["allow_fallback"]


def test_a_fallback_is_checked_on_the_row_after_the_change(keys: Any, engine: Engine) -> None:
    provider = ["--fallback-name", "p", "--fallback-url", "https://8.8.8.8/v1/geolocate"]
    assert keys("create", "city-app", *provider)[0] == 0
    assert keys("update", "city-app", "--allow-fallback", "1")[0] == 0
    assert _rows(engine)[0]["allow_fallback"]
    code, out = keys("update", "city-app", "--fallback-url", "")
    assert code == 2 and "a fallback needs a provider name and URL" in out
    assert _rows(engine)[0]["fallback_url"] == "https://8.8.8.8/v1/geolocate"


def test_every_problem_is_named_at_once(engine: Engine) -> None:
    with pytest.raises(keyadmin.BadKeyValues) as caught:
        keyadmin.create_key(
            engine,
            "x",
            {"maxreq": -3, "store_sample_submit": None, "allow_fallback": True},
            allow_private=False,
        )
    assert set(caught.value.errors) == {
        "valid_key",
        "maxreq",
        "store_sample_submit",
        "allow_fallback",
    }
    with pytest.raises(keyadmin.BadKeyValues) as caught:
        keyadmin.update_key(engine, "city-app", {"no_such_column": 1}, allow_private=False)
    assert caught.value.errors == {"no_such_column": "not a key setting"}
    assert _rows(engine) == []
