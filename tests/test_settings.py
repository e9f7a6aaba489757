from __future__ import annotations

from pathlib import Path

import pytest

from netatlas.settings import SETTINGS, Settings, describe, markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    assert markdown_table() in text, "README settings section is stale: run scripts/readme.py"


def test_every_setting_has_a_field_and_default() -> None:
    s = Settings.from_env({})
    for setting in SETTINGS:
        assert hasattr(s, setting.name)
        assert setting.env in describe()


def test_environment_is_read() -> None:
    s = Settings.from_env(
        {"NETATLAS_PORT": "9001", "NETATLAS_REQUIRE_API_KEY": "yes", "NETATLAS_DATA_DIR": "/x"}
    )
    assert s.port == 9001
    assert s.require_api_key is True
    assert str(s.data_dir) == "/x"
    assert s.sqlalchemy_url == "sqlite:////x/netatlas.db"


def test_bad_value_is_a_clear_error() -> None:
    with pytest.raises(SystemExit, match="NETATLAS_PORT"):
        Settings.from_env({"NETATLAS_PORT": "eighty"})
