"""The long-lived objects one process needs, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from netatlas.db.engine import engine_from_settings
from netatlas.geo.geoip import GeoIP, MaxMindGeoIP
from netatlas.location.fallback import FallbackClient, fallback_client_from_settings
from netatlas.location.keys import KeyCache
from netatlas.location.limits import Limiter, limiter_from_settings
from netatlas.queue import Queue, make_queue
from netatlas.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: Engine
    queue: Queue
    keys: KeyCache
    limiter: Limiter
    fallback: FallbackClient
    geoip: GeoIP | None  # None when no GeoIP database is configured

    @classmethod
    def build(cls, settings: Settings) -> Services:
        engine = engine_from_settings(settings)
        limiter = limiter_from_settings(settings, engine)
        geoip = MaxMindGeoIP(settings.geoip_city_path) if settings.geoip_city_path else None
        return cls(
            settings=settings,
            engine=engine,
            queue=make_queue(settings, engine),
            keys=KeyCache(engine),
            limiter=limiter,
            fallback=fallback_client_from_settings(settings, limiter),
            geoip=geoip,
        )

    def close(self) -> None:
        self.fallback.close()
        if self.geoip is not None:
            self.geoip.close()
        self.engine.dispose()
