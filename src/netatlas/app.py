"""The ASGI application factory."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from netatlas.jobs.context import Context
from netatlas.jobs.run import Scheduler
from netatlas.location import locate_views
from netatlas.location import views as location_views
from netatlas.monitor import views as monitor_views
from netatlas.services import Services
from netatlas.settings import Settings
from netatlas.web.middleware import SecurityHeaders

log = logging.getLogger(__name__)


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


async def home(request: Request) -> Response:
    return HTMLResponse(
        "<!doctype html><title>NetAtlas</title><h1>NetAtlas</h1>"
        "<p>A crowd-sourced location service and community broadband observatory.</p>"
    )


def create_app(settings: Settings | None = None, *, run_jobs: bool | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    services = Services.build(settings)
    if run_jobs is None:
        run_jobs = settings.embedded_jobs and not settings.scale_out

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        scheduler: Scheduler | None = None
        lock = _scheduler_lock(settings.data_dir) if run_jobs else None
        if lock is not None:
            scheduler = Scheduler(Context(settings, services.engine, services.queue))
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
            Route("/", home),
            *location_views.routes,
            *locate_views.routes,
            *monitor_views.routes,
        ],
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.services = services
    return app
