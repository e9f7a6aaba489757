"""The long-lived objects one process needs, built once from settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from netatlas.db.engine import engine_from_settings
from netatlas.location.keys import KeyCache
from netatlas.queue import Queue, make_queue
from netatlas.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: Engine
    queue: Queue
    keys: KeyCache

    @classmethod
    def build(cls, settings: Settings) -> Services:
        engine = engine_from_settings(settings)
        return cls(settings, engine, make_queue(settings, engine), KeyCache(engine))
