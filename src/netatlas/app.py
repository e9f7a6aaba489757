"""The ASGI application factory."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO

from starlette.applications import Starlette
from starlette.middleware import Middleware

from netatlas.admin import views as admin_views
from netatlas.admin.guard import AdminParts, build_signer
from netatlas.admin.security import Signer
from netatlas.broadband import stats_views
from netatlas.broadband import views as broadband_views
from netatlas.broadband.aggregate.service import StatsService
from netatlas.broadband.service import Broadband
from netatlas.broadband.state import BroadbandParts, StatsParts, build_broadband, build_stats
from netatlas.datamap import views as datamap_views
from netatlas.export.downloads import CachedListing
from netatlas.features import job_table
from netatlas.http.headers import page_headers
from netatlas.http.metrics import spool_dir
from netatlas.http.middleware import SecurityHeaders
from netatlas.http.observe import Observe
from netatlas.http.openapi import openapi_route
from netatlas.http.outage import outage_handlers
from netatlas.http.secret import WeakSecret, check_secret
from netatlas.http.state import NAME, Lazy
from netatlas.jobs.context import Context
from netatlas.jobs.run import Scheduler
from netatlas.location import keyviews
from netatlas.location.locate import views as locate_views
from netatlas.location.packs.listing import PackListing
from netatlas.location.services import Services
from netatlas.location.submit import views as location_views
from netatlas.monitor import scrape
from netatlas.monitor import views as monitor_views
from netatlas.settings import Settings
from netatlas.site import downloads as export_views
from netatlas.site import dumps as dump_views
from netatlas.site import errors as web_errors
from netatlas.site import keys as key_pages
from netatlas.site import packs as pack_views
from netatlas.site import pages as web_pages
from netatlas.site.apidoc import ApiDocumentCache, ApiDocumentParts
from netatlas.site.downloads import DownloadsParts, build_listing
from netatlas.site.packs import PacksParts, build_pack_listing

log = logging.getLogger(__name__)


@dataclass
class AppServices(Services):
    """Everything the app's views use, built once by :func:`create_app` and kept as
    ``app.state.services`` (see :mod:`netatlas.http.state`): the shared parts and the location
    service's (:class:`~netatlas.location.services.Services`), and each other feature's own,
    which are built on first use."""

    broadband: Lazy[Broadband]
    stats: Lazy[StatsService]
    downloads: Lazy[CachedListing]
    packs: Lazy[PackListing]
    admin_signer: Lazy[Signer]
    api_document: ApiDocumentCache

    @classmethod
    def for_settings(cls, settings: Settings) -> AppServices:
        shared = Services.build(settings)
        services: AppServices = cls(
            **{f.name: getattr(shared, f.name) for f in fields(Services)},
            broadband=Lazy(lambda: build_broadband(services)),
            stats=Lazy(lambda: build_stats(services)),
            downloads=Lazy(lambda: build_listing(services)),
            packs=Lazy(lambda: build_pack_listing(services)),
            admin_signer=Lazy(lambda: build_signer(services)),
            api_document=ApiDocumentCache(),
        )
        return services


def _holds_every_part(services: AppServices) -> None:
    """Type-checked only: the object gives each feature the parts its accessor expects."""
    parts: tuple[
        BroadbandParts, StatsParts, DownloadsParts, PacksParts, AdminParts, ApiDocumentParts
    ]
    parts = (services, services, services, services, services, services)
    del parts


def _scheduler_lock(data_dir: Path) -> IO[str] | None:
    """One embedded scheduler per data directory, however many server workers run."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / "scheduler.lock", "w")  # noqa: SIM115 - held for the app's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def create_app(settings: Settings | None = None, *, run_jobs: bool | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    try:
        check_secret(settings.secret_key)  # before anything starts: refuse to run at all
    except WeakSecret as exc:
        raise SystemExit(str(exc)) from None
    services = AppServices.for_settings(settings)
    if run_jobs is None:
        run_jobs = settings.embedded_jobs and not settings.scale_out

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        scheduler: Scheduler | None = None
        lock = _scheduler_lock(settings.data_dir) if run_jobs else None
        if lock is not None:
            scheduler = Scheduler(Context(settings, services.engine, services.queue), job_table())
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            if lock is not None:
                lock.close()
            services.close()

    app = Starlette(
        routes=[
            *web_pages.routes,
            *admin_views.routes,
            *location_views.routes,
            *locate_views.routes,
            *keyviews.routes,
            *key_pages.routes,
            *monitor_views.routes,
            *pack_views.routes,  # before /downloads/{name}
            *export_views.routes,
            *dump_views.routes,
            *broadband_views.routes,
            *stats_views.routes,
            *datamap_views.routes,
            *scrape.routes,
            openapi_route(),
        ],
        middleware=[
            Middleware(Observe, spool=spool_dir(settings.data_dir)),
            Middleware(SecurityHeaders, html=page_headers(settings)),
        ],
        exception_handlers={**web_errors.exception_handlers, **outage_handlers()},
        lifespan=lifespan,
    )
    setattr(app.state, NAME, services)  # the one name on app.state
    return app
