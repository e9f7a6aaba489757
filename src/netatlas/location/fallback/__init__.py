"""The external fallback provider: another geolocation service asked on a key's behalf.

A key row may name a provider (``fallback_name``, ``fallback_schema``, ``fallback_url``,
``fallback_ratelimit`` per ``fallback_ratelimit_interval`` seconds, ``fallback_cache_expire``).
When our own data and GeoIP do not answer well enough, the locate code hands the query's
networks to :meth:`FallbackClient.lookup`, which follows Ichnaea's rules:

* :mod:`.query`, :mod:`.config`, :mod:`.result`: what is asked, a key's provider settings, and
  what comes back;
* :mod:`.schema`: the four providers' request bodies and how their answers are read;
* :mod:`.cache`: which queries are cached and when cached answers agree, in memory or Redis;
* :mod:`.client`: the HTTP client, its limits, the rate limit and the look-up itself.
"""

from netatlas.location.fallback.cache import (
    CACHE_MAX_NETWORKS,
    FallbackCache,
    MemoryFallbackCache,
    RedisFallbackCache,
    cache_keys,
)
from netatlas.location.fallback.client import (
    MAX_ANSWER,
    FallbackClient,
    FallbackRateLimit,
    fallback_client_from_settings,
)
from netatlas.location.fallback.config import SCHEMAS, FallbackConfig
from netatlas.location.fallback.query import BlueNetwork, CellNetwork, FallbackQuery, WifiNetwork
from netatlas.location.fallback.result import FallbackOutcome, FallbackResult
from netatlas.location.fallback.schema import build_body

__all__ = [
    "CACHE_MAX_NETWORKS",
    "MAX_ANSWER",
    "SCHEMAS",
    "BlueNetwork",
    "CellNetwork",
    "FallbackCache",
    "FallbackClient",
    "FallbackConfig",
    "FallbackOutcome",
    "FallbackQuery",
    "FallbackRateLimit",
    "FallbackResult",
    "MemoryFallbackCache",
    "RedisFallbackCache",
    "WifiNetwork",
    "build_body",
    "cache_keys",
    "fallback_client_from_settings",
]
