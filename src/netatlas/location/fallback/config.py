"""A key's provider settings: the ``fallback_*`` columns of ``api_key``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCHEMAS", "FallbackConfig"]

SCHEMAS = ("ichnaea/v1", "combain/v1", "googlemaps/v1", "unwiredlabs/v1")


@dataclass(frozen=True, slots=True)
class FallbackConfig:
    """A key's provider settings (the ``fallback_*`` columns of ``api_key``)."""

    name: str
    schema: str
    url: str
    ratelimit: int
    ratelimit_interval: int
    cache_expire: int = 0

    def __post_init__(self) -> None:
        if self.schema not in SCHEMAS:
            raise ValueError(f"unknown fallback schema {self.schema!r}")

    @classmethod
    def from_key(cls, key: object) -> FallbackConfig | None:
        """The config of a key row (any object with the ``api_key`` column names as
        attributes), or None when the key may not fall back: ``allow_fallback`` off, or a
        name, URL, rate limit or interval missing, or a schema we do not speak. A missing
        schema means ``ichnaea/v1``."""
        if not getattr(key, "allow_fallback", False):
            return None
        name = getattr(key, "fallback_name", None)
        url = getattr(key, "fallback_url", None)
        ratelimit = getattr(key, "fallback_ratelimit", None)
        interval = getattr(key, "fallback_ratelimit_interval", None)
        schema = getattr(key, "fallback_schema", None) or "ichnaea/v1"
        if not name or not url or ratelimit is None or not interval or schema not in SCHEMAS:
            return None
        return cls(
            name=str(name),
            schema=str(schema),
            url=str(url),
            ratelimit=int(ratelimit),
            ratelimit_interval=int(interval),
            cache_expire=int(getattr(key, "fallback_cache_expire", None) or 0),
        )
