"""API keys: the format rule and a small in-process cache of key rows."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from netatlas.location.models import api_key

# Ichnaea compatibility: 4–40 letters, digits or hyphens; anything else counts as no key.
_KEY_RE = re.compile(r"^[A-Za-z0-9-]{4,40}$")
CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class ApiKey:
    valid_key: str
    maxreq: int | None = None
    allow_fallback: bool = False
    allow_locate: bool = True
    allow_region: bool = True
    store_sample_locate: int = 100
    store_sample_submit: int = 100
    fallback_name: str | None = None
    fallback_schema: str | None = None
    fallback_url: str | None = None
    fallback_ratelimit: int | None = None
    fallback_ratelimit_interval: int | None = None
    fallback_cache_expire: int | None = None


def well_formed(key: str | None) -> str | None:
    if key and _KEY_RE.match(key):
        return key
    return None


class KeyCache:
    """Key rows cached for five minutes; unknown keys are cached too."""

    def __init__(self, engine: Engine, ttl: float = CACHE_SECONDS) -> None:
        self.engine = engine
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    def get(self, key: str | None) -> ApiKey | None:
        name = well_formed(key)
        if name is None:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            with self.engine.connect() as conn:
                row = conn.execute(select(api_key).where(api_key.c.valid_key == name)).first()
        except SQLAlchemyError:
            return None
        value = None
        if row is not None:
            value = ApiKey(
                valid_key=row.valid_key,
                maxreq=row.maxreq,
                allow_fallback=bool(row.allow_fallback),
                allow_locate=bool(row.allow_locate),
                allow_region=bool(row.allow_region),
                store_sample_locate=row.store_sample_locate,
                store_sample_submit=row.store_sample_submit,
                fallback_name=row.fallback_name,
                fallback_schema=row.fallback_schema,
                fallback_url=row.fallback_url,
                fallback_ratelimit=row.fallback_ratelimit,
                fallback_ratelimit_interval=row.fallback_ratelimit_interval,
                fallback_cache_expire=row.fallback_cache_expire,
            )
        with self._lock:
            if len(self._cache) > 5000:
                self._cache.clear()
            self._cache[name] = (now + self.ttl, value)
        return value
