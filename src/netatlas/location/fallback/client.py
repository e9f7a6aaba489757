"""The HTTP client that asks a key's provider, with the cache and the rate limit in front.

* **Outbound**: one JSON POST (the bodies of :mod:`.schema`), ``User-Agent: NetAtlas``, 5 s
  timeout (per connect / read / write phase), one retry of a failed connection, at most 20
  pooled connections, only to public addresses (:mod:`netatlas.http.outbound`), an answer of
  at most 64 KiB.
* **Answer**: HTTP 404 (or Unwired Labs' "No matches found") is "not found" and is cached;
  any other non-2xx status, a timeout or a malformed body is an error: no result, nothing
  cached. A position scores 10, or 5 when the provider says it is a cell-area estimate
  (``fallback: "lacf"``, the only fallback value kept).
* **Cache** first (:mod:`.cache`): cached answers do not count against the rate limit.
* **Rate limit**: each call out is counted by the limiter (see :mod:`netatlas.location.
  limits`); over the key's limit, or with the counter store down, nothing is asked.

The client is synchronous (``httpx.Client``, thread-safe): the locate code runs in a worker
thread, like the database look-ups before it.
"""

from __future__ import annotations

import logging
import zlib
from typing import Protocol

import httpx
import msgspec

from netatlas.http.outbound import GuardedTransport
from netatlas.http.ratelimit import redis_client
from netatlas.location.fallback.cache import (
    FallbackCache,
    MemoryFallbackCache,
    RedisFallbackCache,
    cache_keys,
    cache_value,
    from_cache,
)
from netatlas.location.fallback.config import FallbackConfig
from netatlas.location.fallback.query import FallbackQuery
from netatlas.location.fallback.result import FallbackOutcome, FallbackResult
from netatlas.location.fallback.schema import Body, ProviderError, build_body, parse_answer
from netatlas.settings import Settings

__all__ = [
    "MAX_ANSWER",
    "FallbackClient",
    "FallbackRateLimit",
    "fallback_client_from_settings",
]

log = logging.getLogger(__name__)

TIMEOUT = 5.0
USER_AGENT = "NetAtlas"
#: Longest answer read from a provider (a position is a few hundred bytes).
MAX_ANSWER = 64 * 1024

_encode = msgspec.json.Encoder()
# Answers come uncompressed if the provider honours Accept-Encoding (they are small).
_JSON = {"Content-Type": "application/json", "Accept-Encoding": "identity"}


class FallbackRateLimit(Protocol):
    def fallback_allowed(self, name: str, limit: int, interval: int) -> bool:
        """Count one call for ``name``; False when over the limit (or unknown)."""


class FallbackClient:
    """Asks external providers, with the cache and the rate limit in front.

    ``transport`` replaces the default one (one connection retry, 20 pooled connections,
    public addresses only unless ``allow_private``: see :mod:`netatlas.http.outbound`); proxies
    named in the environment are not used. An answer longer than :data:`MAX_ANSWER` bytes is
    an error, read no further.
    """

    def __init__(
        self,
        cache: FallbackCache,
        limiter: FallbackRateLimit,
        *,
        timeout: float = TIMEOUT,
        user_agent: str = USER_AGENT,
        transport: httpx.BaseTransport | None = None,
        allow_private: bool = False,
    ) -> None:
        self.cache = cache
        self.limiter = limiter
        if transport is None:
            transport = GuardedTransport(
                allow_private=allow_private,
                retries=1,
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
            )
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": user_agent},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def locate(self, config: FallbackConfig, query: FallbackQuery) -> FallbackResult | None:
        """The provider's position for ``query``, or None (not found, error, limited)."""
        return self.lookup(config, query).result

    def lookup(self, config: FallbackConfig, query: FallbackQuery) -> FallbackOutcome:
        """Cache, then rate limit, then the provider; see the module docs for the rules."""
        if query.empty:
            return FallbackOutcome("skipped")
        url, body = build_body(config.schema, config.url, query)
        if body is None:
            return FallbackOutcome("skipped")
        keys = cache_keys(config, query)
        if keys is not None:
            cached = from_cache(self.cache.get_many(keys))
            if cached is not None:
                return cached
        if not self.limiter.fallback_allowed(
            config.name, config.ratelimit, config.ratelimit_interval
        ):
            return FallbackOutcome("rate_limited")
        try:
            result = self._call(config.schema, url, body)
        except ProviderError as exc:
            log.warning("fallback %s failed: %s", config.name, exc)
            return FallbackOutcome("error")
        if keys is not None:
            self.cache.set_many(keys, cache_value(result), config.cache_expire)
        if result is None:
            return FallbackOutcome("not_found")
        return FallbackOutcome("ok", result)

    def _call(self, schema: str, url: str, body: Body) -> FallbackResult | None:
        try:
            with self._http.stream(
                "POST", url, content=_encode.encode(body), headers=_JSON
            ) as response:
                if response.status_code == 404:
                    return None
                if not 200 <= response.status_code < 300:
                    raise ProviderError(f"HTTP {response.status_code}")
                content = _read_capped(response)
        except httpx.HTTPError as exc:
            raise ProviderError(f"{type(exc).__name__}: {exc}") from exc
        try:
            data = msgspec.json.decode(content)
        except msgspec.DecodeError as exc:
            raise ProviderError(f"answer is not JSON: {exc}") from exc
        return parse_answer(schema, data)


def _read_capped(response: httpx.Response) -> bytes:
    """The body, or ProviderError once it (or what it decompresses to) passes
    :data:`MAX_ANSWER` bytes. Raw bytes are read and decompressed here, with a bound: a small
    compressed answer must not inflate into megabytes in one piece."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_ANSWER:
        raise ProviderError(f"answer of {declared} bytes, over the {MAX_ANSWER} byte limit")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > MAX_ANSWER:
            raise ProviderError(f"answer over the {MAX_ANSWER} byte limit")
        chunks.append(chunk)
    raw = b"".join(chunks)
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ProviderError(f"answer in an encoding not asked for: {encoding[:20]!r}")
    inflate = zlib.decompressobj(zlib.MAX_WBITS | (16 if "gzip" in encoding else 0))
    try:
        data = inflate.decompress(raw, MAX_ANSWER + 1)
    except zlib.error as exc:
        raise ProviderError(f"answer not {encoding}: {exc}") from exc
    if len(data) > MAX_ANSWER or inflate.unconsumed_tail:
        raise ProviderError(f"answer over the {MAX_ANSWER} byte limit once decompressed")
    return data


def fallback_client_from_settings(settings: Settings, limiter: FallbackRateLimit) -> FallbackClient:
    """A client caching in Redis in scale-out mode, in process memory in embedded mode."""
    cache: FallbackCache
    if settings.redis_url:
        cache = RedisFallbackCache(redis_client(settings.redis_url))
    else:
        cache = MemoryFallbackCache()
    return FallbackClient(cache, limiter, allow_private=settings.allow_private_targets)
