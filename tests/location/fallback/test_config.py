"""A key's provider settings, read from its row."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from netatlas.location.fallback import FallbackConfig


@dataclass
class KeyRow:
    allow_fallback: bool = True
    fallback_name: str | None = "fb"
    fallback_schema: str | None = "combain/v1"
    fallback_url: str | None = "https://example.test/v1/geolocate"
    fallback_ratelimit: int | None = 10
    fallback_ratelimit_interval: int | None = 60
    fallback_cache_expire: int | None = None


def test_config_from_key() -> None:
    cfg = FallbackConfig.from_key(KeyRow())
    assert cfg == FallbackConfig(
        "fb", "combain/v1", "https://example.test/v1/geolocate", 10, 60, cache_expire=0
    )
    default = FallbackConfig.from_key(KeyRow(fallback_schema=None))
    assert default is not None and default.schema == "ichnaea/v1"
    for broken in (
        KeyRow(allow_fallback=False),
        KeyRow(fallback_name=None),
        KeyRow(fallback_url=""),
        KeyRow(fallback_ratelimit=None),
        KeyRow(fallback_ratelimit_interval=0),
        KeyRow(fallback_schema="acme/v9"),
    ):
        assert FallbackConfig.from_key(broken) is None
    assert FallbackConfig.from_key(object()) is None
    with pytest.raises(ValueError):
        FallbackConfig("fb", "acme/v9", "https://example.test/", 10, 60)
