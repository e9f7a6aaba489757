"""Packs from settings: where they are stored, how they are built, which are due today."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import Engine

from netatlas.location.packs.build import BuildOptions, Manifest, build_pack, current
from netatlas.location.packs.region import Region, RegionError, parse_regions
from netatlas.settings import Settings
from netatlas.storage.files import FileStore, store_from_url

__all__ = ["build_packs", "configured_regions", "due_regions", "options_from", "pack_store"]

log = logging.getLogger(__name__)


def pack_store(settings: Settings) -> FileStore:
    """The export store (``NETATLAS_EXPORT_STORE_URL``), where the cell exports live too."""
    return store_from_url(
        settings.export_store_url or "exports", settings.data_dir, settings.s3_endpoint_url
    )


def options_from(settings: Settings, wifi: bool | None = None) -> BuildOptions:
    return BuildOptions(
        wifi=settings.packs_wifi if wifi is None else wifi,
        licence=settings.packs_licence,
        attribution=settings.packs_attribution,
        origins=settings.cell_export_origins,
    )


def configured_regions(settings: Settings) -> list[Region]:
    """``NETATLAS_PACKS_REGIONS``; :class:`RegionError` when an entry cannot be read."""
    return parse_regions(settings.packs_regions)


def build_packs(
    engine: Engine,
    settings: Settings,
    regions: Sequence[Region],
    *,
    wifi: bool | None = None,
    now: dt.datetime | None = None,
) -> list[Manifest]:
    """Build and publish a pack for each region, one after the other."""
    store = pack_store(settings)
    options = options_from(settings, wifi)
    return [
        build_pack(engine, store, region, options, settings.data_dir, now) for region in regions
    ]


def due_regions(store: FileStore, regions: Sequence[Region], today: dt.date) -> list[Region]:
    """The regions whose newest pack was not built today (UTC)."""
    due = []
    for region in regions:
        manifest = current(store, region.id)
        if manifest is None or manifest.built[:10] != today.isoformat():
            due.append(region)
    return due


def daily(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> list[str]:
    """Build today's packs of the configured regions that lack one; returns their ids."""
    try:
        regions = configured_regions(settings)
    except RegionError as exc:
        log.error("NETATLAS_PACKS_REGIONS: %s", exc)
        return []
    if not regions:
        return []
    moment = now or dt.datetime.now(dt.UTC)
    due = due_regions(pack_store(settings), regions, moment.astimezone(dt.UTC).date())
    return [m.pack for m in build_packs(engine, settings, due, now=moment)]
