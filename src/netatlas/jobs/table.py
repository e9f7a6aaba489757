"""What a job is, and a table of them. The table itself is built by the composition root
(:mod:`netatlas.features`), which alone knows the features; the embedded scheduler, ``netatlas
process --until-idle`` and Celery beat all run the table they are handed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from netatlas.jobs.context import Context


@dataclass(frozen=True)
class Job:
    """A plain function ``(ctx) -> result`` and the seconds between its runs."""

    name: str
    func: Callable[[Context], Any]
    period: float  # seconds between runs
    pipeline: bool = True  # part of the submission pipeline (drained by process --until-idle)


def _nothing_parked(ctx: Context) -> set[str]:
    return set()


class JobTable:
    """Jobs in flow order; ``parked(ctx)`` names the queues that may stay non-empty when the
    pipeline is idle (export targets in back-off, dead letters)."""

    def __init__(
        self, jobs: Sequence[Job], parked: Callable[[Context], set[str]] = _nothing_parked
    ) -> None:
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            raise ValueError("job names must be unique")
        self._jobs = tuple(jobs)
        self._by_name = {j.name: j for j in jobs}
        self.parked = parked

    def __iter__(self) -> Iterator[Job]:
        return iter(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)

    def job(self, name: str) -> Job:
        return self._by_name[name]

    @property
    def pipeline(self) -> list[Job]:
        return [j for j in self._jobs if j.pipeline]
