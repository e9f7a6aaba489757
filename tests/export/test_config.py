"""Export targets as rows: checks, one internal export, create/update/delete."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from netatlas.export.config import (
    ConfigError,
    ExportConfig,
    create_config,
    delete_config,
    get_config,
    load_configs,
    update_config,
    validate,
)


def test_the_defaults_after_migration(engine: Engine) -> None:
    configs = {c.name: c for c in load_configs(engine)}
    assert set(configs) == {"archive", "internal"}
    archive = configs["archive"]
    assert (archive.schema, archive.url, archive.batch, archive.max_age) == (
        "file", "archive/{year}/{month}/{day}", 1000, 3600,
    )  # fmt: skip
    assert archive.queued and not configs["internal"].queued


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (ExportConfig("a b", "dummy"), "a name is"),
        (ExportConfig("x" * 41, "dummy"), "a name is"),
        (ExportConfig("a", "kafka"), "schema must be"),
        (ExportConfig("a", "dummy", batch=0), "batch"),
        (ExportConfig("a", "dummy", max_age=-1), "max age"),
        (ExportConfig("a", "geosubmit"), "http(s) URL"),
        (ExportConfig("a", "geosubmit", "ftp://x"), "http(s) URL"),
        (ExportConfig("a", "s3", "bucket/x"), "s3://bucket"),
        (ExportConfig("a", "s3", "s3://b/{hour}"), "unknown path field"),
        (ExportConfig("a", "file"), "needs a directory"),
        (ExportConfig("a", "file", "../up/{year}"), "'..'"),
        (ExportConfig("a", "dummy", skip_sources=frozenset({"gps"})), "unknown sources"),
    ],
)
def test_bad_configs_say_why(config: ExportConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(config)


def test_create_update_delete(engine: Engine) -> None:
    create_config(engine, ExportConfig("partner", "geosubmit", "https://example.test/v2/geosubmit"))
    with pytest.raises(ConfigError, match="exists"):
        create_config(engine, ExportConfig("partner", "dummy"))
    with pytest.raises(ConfigError, match="only one internal"):
        create_config(engine, ExportConfig("second", "internal"))
    updated = update_config(
        engine, "partner", batch=50, skip_sources=frozenset({"query"}), url=None
    )
    assert updated.batch == 50 and updated.url == "https://example.test/v2/geosubmit"
    assert get_config(engine, "partner") == updated
    with pytest.raises(ConfigError, match="http"):
        update_config(engine, "partner", url="not a url")
    with pytest.raises(ConfigError, match="only one internal"):
        update_config(engine, "partner", schema="internal")
    with pytest.raises(ConfigError, match="no export"):
        update_config(engine, "nobody", batch=1)
    delete_config(engine, "partner")
    assert get_config(engine, "partner") is None
    with pytest.raises(ConfigError, match="no export"):
        delete_config(engine, "partner")
