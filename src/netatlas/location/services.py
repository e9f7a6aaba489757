"""The long-lived objects one process needs, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from netatlas.db.documents import Configured
from netatlas.db.engine import engine_from_settings, make_read_engine
from netatlas.geo.geoip import GeoIP, MaxMindGeoIP
from netatlas.geo.regions import get_regions
from netatlas.http.ratelimit import Limiter, limiter_from_settings
from netatlas.http.secret import derive, site_secret
from netatlas.http.state import state_of
from netatlas.location.fallback import FallbackClient, fallback_client_from_settings
from netatlas.location.keys import KeyCache
from netatlas.location.signup import Policy, signup_policy
from netatlas.location.submit.backpressure import Backpressure
from netatlas.queue import Queue, make_queue
from netatlas.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: Engine
    read_engine: Engine  # the request hot path's reads (see db.engine.make_read_engine)
    queue: Queue
    keys: KeyCache
    limiter: Limiter
    fallback: FallbackClient
    geoip: GeoIP | None  # None when no GeoIP database is configured
    backpressure: Backpressure  # backlog limits for submissions and query learning
    signup: Configured[Policy]  # who may sign up for a key (settings or /admin/keys)
    contributor_key: bytes  # keys submit.intake.contributor_id; empty: ids unknown

    @classmethod
    def build(cls, settings: Settings) -> Services:
        # The region polygons serve every locate and pipeline batch: load them before the
        # first request rather than during it (about half a second, once per process).
        get_regions()
        engine = engine_from_settings(settings)
        read_engine = (
            engine if not settings.database_url else make_read_engine(settings.database_url)
        )
        limiter = limiter_from_settings(settings, engine)
        geoip = MaxMindGeoIP(settings.geoip_city_path) if settings.geoip_city_path else None
        queue = make_queue(settings, engine)
        return cls(
            settings=settings,
            engine=engine,
            read_engine=read_engine,
            queue=queue,
            keys=KeyCache(read_engine),
            limiter=limiter,
            fallback=fallback_client_from_settings(settings, limiter),
            geoip=geoip,
            backpressure=Backpressure(
                queue, settings.backlog_soft_limit, settings.backlog_hard_limit
            ),
            signup=signup_policy(settings, engine),
            contributor_key=derive(
                site_secret(settings.secret_key, settings.data_dir), "contributor"
            ),
        )

    def close(self) -> None:
        self.fallback.close()
        if self.geoip is not None:
            self.geoip.close()
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()


def services_of(where: HTTPConnection | Starlette) -> Services:
    """The app's services (the entry point's object holds these parts and more)."""
    services = state_of(where)
    if not isinstance(services, Services):
        raise RuntimeError(f"app.state.services is a {type(services).__name__}, not Services")
    return services
