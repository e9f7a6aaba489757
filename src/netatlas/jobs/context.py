"""What a job function gets: settings, the engine, the queue and the region lookup."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine

from netatlas.clock import Clock, system_clock
from netatlas.db.engine import engine_from_settings
from netatlas.geo.protocols import RegionLookup
from netatlas.queue import Queue, make_queue
from netatlas.settings import Settings


@dataclass
class Context:
    settings: Settings
    engine: Engine
    queue: Queue
    _regions: RegionLookup | None = field(default=None, repr=False)
    # Set by ``process --until-idle``: send partial export batches now instead of letting
    # them wait for their target's max age.
    flush: bool = False

    @classmethod
    def from_settings(
        cls, settings: Settings, engine: Engine | None = None, clock: Clock = system_clock
    ) -> Context:
        engine = engine or engine_from_settings(settings)
        return cls(settings=settings, engine=engine, queue=make_queue(settings, engine, clock))

    @cached_property
    def regions(self) -> RegionLookup:
        if self._regions is not None:
            return self._regions
        from netatlas.geo.regions import get_regions

        return get_regions()
