"""The broadband feature's long-lived parts, as its views reach them (see
:mod:`netatlas.http.state`): the speed-test service and the statistics service."""

from __future__ import annotations

from typing import Protocol

from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from netatlas.broadband.aggregate.service import StatsService
from netatlas.broadband.service import Broadband
from netatlas.http.secret import derive, site_secret
from netatlas.http.state import Core, Lazy, state_of

__all__ = [
    "BroadbandParts",
    "StatsParts",
    "broadband_of",
    "build_broadband",
    "build_stats",
    "reread_documents",
    "stats_of",
]


class BroadbandParts(Protocol):
    broadband: Lazy[Broadband]


class StatsParts(Protocol):
    stats: Lazy[StatsService]


def build_broadband(core: Core) -> Broadband:
    return Broadband.from_settings(core.settings, core.engine, core.geoip, core.limiter)


def build_stats(core: Core) -> StatsService:
    settings = core.settings
    secret = derive(site_secret(settings.secret_key, settings.data_dir), "broadband-stats")
    return StatsService(core.read_engine, settings.aggregations_path, secret)


def broadband_of(where: HTTPConnection | Starlette) -> Broadband:
    """The app's speed-test service (built on first use)."""
    parts: BroadbandParts = state_of(where)
    return parts.broadband.get()


def stats_of(where: HTTPConnection | Starlette) -> StatsService:
    """The app's statistics service (built on first use)."""
    parts: StatsParts = state_of(where)
    return parts.stats.get()


def reread_documents(where: HTTPConnection | Starlette) -> None:
    """Let the parts built already read the survey form and the aggregations again (after
    an admin edit), without building the others."""
    stats: StatsParts = state_of(where)
    service = stats.stats.peek()
    if service is not None:
        service.reload()
    speed: BroadbandParts = state_of(where)
    broadband = speed.broadband.peek()
    if broadband is not None:
        broadband.forms.forget()
