"""Celery over the same job table: one task per job, beat entries from the job periods.

``netatlas worker`` and ``netatlas beat`` start Celery with this app; the broker is
``NETATLAS_REDIS_URL``. Each task builds its context once per worker process.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from celery import Celery

from netatlas.jobs.context import Context
from netatlas.jobs.table import Job, JobTable
from netatlas.settings import Settings


@cache
def _context() -> Context:
    return Context.from_settings(Settings.from_env())


def make_celery(table: JobTable, settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    app = Celery("netatlas", broker=settings.redis_url, backend=None)
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        beat_schedule={
            job.name: {"task": f"netatlas.{job.name}", "schedule": job.period} for job in table
        },
        # A job that is still running when its next beat comes must not pile up copies.
        task_default_expires=60,
    )
    for job in table:
        _register(app, job)
    return app


def _register(app: Celery, job: Job) -> None:
    def task() -> Any:
        result = job.func(_context())
        return None if result is None else repr(result)

    task.__name__ = job.name
    app.task(name=f"netatlas.{job.name}")(task)
