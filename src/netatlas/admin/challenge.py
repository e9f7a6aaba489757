"""``/admin/challenge``: build a challenge package (zip) for an area and a period.

Admin only: the package holds each consented test's precise location. The form is a POST
(with the session's CSRF token); the package is written to a temporary file in the data
directory, streamed back and deleted. Each package made is written to the audit log.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from netatlas.admin.audit import record_now
from netatlas.admin.guard import NO_STORE, Admin, admin_view, engine_of, render
from netatlas.broadband.areas import layer_names
from netatlas.broadband.challenge.cli import parse_day
from netatlas.broadband.challenge.package import Request as PackageRequest
from netatlas.broadband.challenge.package import write_package
from netatlas.broadband.challenge.select import SelectionError, parse_bbox, resolve_area
from netatlas.http.state import core_of

__all__ = ["routes"]


def _request(request: Request, form: dict[str, str]) -> PackageRequest:
    """The package the form asks for. Raises SelectionError."""
    engine = engine_of(request)
    try:
        since = parse_day(form.get("since", ""))
        until = parse_day(form.get("until", "")) + timedelta(days=1)  # the last day included
    except ValueError:
        raise SelectionError("since and until are dates (YYYY-MM-DD)") from None
    layer, key, bbox = (form.get(k, "").strip() for k in ("layer", "key", "bbox"))
    if bool(bbox) == bool(layer and key):
        raise SelectionError("give either a layer and an area key, or a box")
    area = parse_bbox(bbox) if bbox else resolve_area(engine, layer, key)
    try:
        metres = float(form.get("place_metres", "100") or "100")
    except ValueError:
        raise SelectionError("the place size is a number of metres") from None
    zone = form.get("timezone", "").strip() or core_of(request).settings.challenge_timezone
    req = PackageRequest(area, since, until, zone, metres)
    req.check()
    return req


def _build(request: Request, admin: Admin, req: PackageRequest) -> Path:
    settings = core_of(request).settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=settings.data_dir, prefix=".challenge-", suffix=".zip")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            result = write_package(engine_of(request), req, out, settings.data_dir)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    detail = {
        "area": req.area.label,
        "since": req.since.isoformat(),
        "until": req.until.isoformat(),
        "timezone": req.timezone,
        "tests": result.tests,
    }
    record_now(engine_of(request), admin.actor, "challenge.export", req.area.label, detail)
    return path


async def _page(request: Request, admin: Admin, status: int = 200, **extra: Any) -> Response:
    layers = await run_in_threadpool(layer_names, engine_of(request))
    return render(
        request,
        "admin/challenge.html",
        status=status,
        admin=admin,
        section="challenge",
        layers=["countries", *layers],
        timezone=core_of(request).settings.challenge_timezone,
        **extra,
    )


@admin_view
async def challenge(request: Request, admin: Admin) -> Response:
    if admin.form is None:
        return await _page(request, admin, values={})
    form = admin.form
    try:
        req = await run_in_threadpool(_request, request, form)
        path = await run_in_threadpool(_build, request, admin, req)
    except SelectionError as exc:
        return await _page(request, admin, 400, error=str(exc), values=form)
    name = f"netatlas-challenge-{req.since:%Y%m%d}-{req.until:%Y%m%d}.zip"
    return FileResponse(
        path,
        media_type="application/zip",
        filename=name,
        headers=NO_STORE,
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


routes = [Route("/admin/challenge", challenge, methods=["GET", "POST"])]
