"""The application's long-lived objects, as the views reach them.

The entry point builds one object holding them all, once, and keeps it on ``app.state`` under
the one name :data:`NAME`; nothing else is ever put on ``app.state``. The object's type is
the entry point's: a view reaches it through an accessor of its own feature, typed by a
Protocol naming only the parts that feature uses (so that no feature imports the entry point,
nor another feature it must not). The parts that cost a database read, a file or a secret to
build are :class:`Lazy` slots: declared and typed up front, built on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar, cast

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from netatlas.geo.geoip import GeoIP
from netatlas.http.ratelimit import Limiter
from netatlas.settings import Settings

__all__ = ["NAME", "Core", "Lazy", "core_of", "state_of"]

NAME = "services"
T = TypeVar("T")


class Lazy(Generic[T]):
    """A part built by ``factory`` on first use (once, whatever the threads)."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._value: T | None = None
        self._built = False

    @classmethod
    def ready(cls, value: T) -> Lazy[T]:
        """A part built already."""
        lazy = cls(lambda: value)
        lazy.get()
        return lazy

    def get(self) -> T:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._value = self._factory()
                    self._built = True
        return cast(T, self._value)

    def peek(self) -> T | None:
        """The part if it has been built, else None (without building it)."""
        return self._value if self._built else None


class Core(Protocol):
    """The parts every feature may use."""

    settings: Settings
    engine: Engine
    read_engine: Engine  # the request hot path's reads
    geoip: GeoIP | None  # None when no GeoIP database is configured
    limiter: Limiter


def state_of(where: HTTPConnection | Starlette) -> Any:
    """The application's services object (its type is the entry point's; see above)."""
    app = where.app if isinstance(where, HTTPConnection) else where
    try:
        return getattr(app.state, NAME)
    except AttributeError:
        raise RuntimeError(f"the application keeps no app.state.{NAME}") from None


def core_of(where: HTTPConnection | Starlette) -> Core:
    core: Core = state_of(where)
    return core
