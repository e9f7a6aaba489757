"""How long speed-test data is kept: client addresses are erased, result files pruned.

* **Client addresses** (``NETATLAS_CLIENT_IP_RETENTION_DAYS``, default 30): ``client_ip`` of
  ``measurements`` and ``survey_response`` is set to NULL once the test (or response) is that
  many whole UTC days old. What was derived from the address stays: the network (ASN), the
  ISP name and the IP location. A test's address is replaced by ``client_key``, a random
  value shared by the tests that one address ran on one UTC day (keyed with a secret drawn
  for each run and never stored), so the statistics' per-client de-duplication and the
  client counts of a day stay what they were; nothing links two days or leads back to the
  address (so a rebuild of the statistics counts such a client once per day in longer bins).
* **Result files** (``NETATLAS_NDT7_RESULT_RETENTION_DAYS``, default 30): the day directories
  ``<data dir>/ndt7/YYYY/MM/DD`` older than that are emptied. Without
  ``NETATLAS_NDT7_RESULT_ARCHIVE`` the files are deleted; with it, each is written to that store
  (a directory or ``s3://bucket/prefix``) under the same name with the client address blanked
  (``ClientIP``, ``ClientPort`` and every measurement's ``ConnectionInfo.Client``), then
  deleted here. The tests' ``archive`` column is cleared. A file holds the client's address,
  so it is never kept here longer than the address itself: the shorter of the two periods
  applies to files.

Days are whole UTC days: with a period of N days, data of day D goes at the start of day
D + N + 1 (so it is kept between N and N + 1 days). 0 turns a period off (kept for good).

Runs hourly as the job ``speedtest_retention`` (embedded scheduler and Celery), and once with
``netatlas retention``. Every function takes ``now`` so that tests need no clock.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import secrets
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine, bindparam, select, update

from netatlas.broadband.models import measurements, survey_response
from netatlas.settings import Settings
from netatlas.storage.files import FileStore, StoreError, store_from_url

__all__ = [
    "RetentionReport",
    "cutoff_day",
    "erase_addresses",
    "file_days",
    "policy",
    "prune_results",
    "run_retention",
    "scrub_result",
]

log = logging.getLogger(__name__)

#: Rows erased per transaction.
BATCH = 5000
#: How far a test's start may be from the day of its file's name (its request's arrival).
_SLACK = timedelta(hours=1)
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass
class RetentionReport:
    addresses: int = 0  # measurements whose client address was erased
    survey_addresses: int = 0  # survey responses whose client address was erased
    files_deleted: int = 0  # result files deleted without a copy
    files_archived: int = 0  # result files moved to the archive store
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"client addresses erased: {self.addresses} tests, {self.survey_addresses} survey"
            f" responses; result files: {self.files_archived} archived,"
            f" {self.files_deleted} deleted"
        )


def cutoff_day(now: datetime, days: int) -> datetime:
    """The start (naive UTC) of the first day still kept with a period of ``days``."""
    today = now.astimezone(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def file_days(settings: Settings) -> int:
    """Days result files are kept: the shorter of the two periods that are on (0: kept)."""
    periods = (settings.ndt7_result_retention_days, settings.client_ip_retention_days)
    on = [d for d in periods if d > 0]
    return min(on) if on else 0


def policy(settings: Settings) -> dict[str, Any]:
    """What the privacy page says about retention."""
    return {
        "ip_days": max(0, settings.client_ip_retention_days),
        "file_days": file_days(settings),
        "archive": bool(settings.ndt7_result_archive),
        "mlab": settings.ndt7_mode == "mlab",
    }


def _stand_in(key: bytes, ip: str, test_time: datetime) -> str:
    digest = hashlib.blake2b(f"{ip}|{test_time:%Y-%m-%d}".encode(), key=key, digest_size=9)
    return "k" + digest.hexdigest()


def erase_addresses(
    engine: Engine, days: int, now: datetime, *, batch: int = BATCH
) -> tuple[int, int]:
    """Erase client addresses older than ``days`` whole UTC days; returns how many tests and
    survey responses lost theirs."""
    if days <= 0:
        return 0, 0
    cutoff = cutoff_day(now, days)
    key = secrets.token_bytes(32)  # this run's only: stand-ins cannot be recomputed later
    m = measurements.c
    erase = (
        update(measurements)
        .where(m.id == bindparam("row_id"))
        .values(client_ip=None, client_key=bindparam("stand_in"))
    )
    tests = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(m.id, m.client_ip, m.test_time)
                .where(m.client_ip.is_not(None), m.test_time < cutoff)
                .order_by(m.test_time, m.id)
                .limit(batch)
            ).all()
            if rows:
                params = [
                    {"row_id": r.id, "stand_in": _stand_in(key, r.client_ip, r.test_time)}
                    for r in rows
                ]
                conn.execute(erase, params)
        tests += len(rows)
        if len(rows) < batch:
            break
    s = survey_response.c
    with engine.begin() as conn:
        result = conn.execute(
            update(survey_response)
            .where(s.client_ip.is_not(None), s.created < cutoff)
            .values(client_ip=None)
        )
    return tests, int(result.rowcount or 0)


def scrub_result(raw: bytes) -> bytes:
    """A gzip result file's JSON with the client's address blanked (gzip again)."""
    doc: Any = _decode(gzip.decompress(raw))
    if not isinstance(doc, dict):
        raise ValueError("not a result document")
    if "ClientIP" in doc:
        doc["ClientIP"] = ""
    if "ClientPort" in doc:
        doc["ClientPort"] = 0
    for kind in ("Download", "Upload"):
        test = doc.get(kind)
        if not isinstance(test, dict):
            continue
        for key in ("ServerMeasurements", "ClientMeasurements"):
            for m in test.get(key) or ():
                info = m.get("ConnectionInfo") if isinstance(m, dict) else None
                if isinstance(info, dict) and "Client" in info:
                    info["Client"] = ""
    return gzip.compress(_encode(doc), compresslevel=6)


def _old_days(root: Path, cutoff: date) -> Iterator[tuple[date, Path]]:
    """``YYYY/MM/DD`` directories under ``root`` for days before ``cutoff``, oldest first."""
    for year in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        for month in sorted(p for p in year.iterdir() if p.is_dir() and p.name.isdigit()):
            for day in sorted(p for p in month.iterdir() if p.is_dir() and p.name.isdigit()):
                try:
                    when = date(int(year.name), int(month.name), int(day.name))
                except ValueError:
                    continue
                if when < cutoff:
                    yield when, day


def _remove_empty(path: Path, root: Path) -> None:
    while path != root:
        try:
            path.rmdir()
        except OSError:
            return  # not empty (or gone)
        path = path.parent


def prune_results(
    engine: Engine,
    data_dir: Path,
    days: int,
    now: datetime,
    archive: FileStore | None,
    report: RetentionReport,
) -> None:
    """Empty the result-file day directories older than ``days`` whole UTC days: into
    ``archive`` without the client address, or deleted when there is none."""
    root = data_dir / "ndt7"
    if days <= 0 or not root.is_dir():
        return
    cutoff = cutoff_day(now, days).date()
    m = measurements.c
    for day, folder in list(_old_days(root, cutoff)):
        prefix = f"ndt7/{day:%Y/%m/%d}/"
        for path in sorted(folder.iterdir()):
            if not path.is_file():
                continue
            if path.name.startswith("."):  # a write that never finished
                path.unlink(missing_ok=True)
                continue
            if archive is None:
                report.files_deleted += 1
            else:
                try:
                    raw = path.read_bytes()
                except OSError as exc:
                    report.errors.append(f"{path}: {exc}")
                    continue  # kept; tried again on the next run
                try:
                    clean = scrub_result(raw)
                except (OSError, EOFError, zlib.error, ValueError, RecursionError) as exc:
                    # Damaged: it cannot be archived without the address, nor kept.
                    log.warning("result file %s is damaged, deleted: %s", path, exc)
                    report.files_deleted += 1
                else:
                    try:
                        archive.put(prefix + path.name, clean)
                    except StoreError as exc:
                        report.errors.append(f"archive: {exc}")
                        return  # the store is down: the rest waits for the next run
                    report.files_archived += 1
            path.unlink(missing_ok=True)
        _remove_empty(folder, root)
        start = datetime(day.year, day.month, day.day)
        with engine.begin() as conn:
            conn.execute(
                update(measurements)
                .where(
                    m.test_time >= start - _SLACK,
                    m.test_time < start + timedelta(days=1) + _SLACK,
                    m.archive.like(prefix + "%"),
                )
                .values(archive=None)
            )


def run_retention(
    engine: Engine,
    settings: Settings,
    now: datetime | None = None,
    archive: FileStore | None = None,
) -> RetentionReport:
    """Apply both periods of ``settings`` as of ``now`` (default: the current time).
    ``archive`` defaults to the store ``NETATLAS_NDT7_RESULT_ARCHIVE`` names."""
    now = now or datetime.now(UTC)
    report = RetentionReport()
    report.addresses, report.survey_addresses = erase_addresses(
        engine, settings.client_ip_retention_days, now
    )
    if archive is None and settings.ndt7_result_archive:
        archive = store_from_url(
            settings.ndt7_result_archive, Path(settings.data_dir), settings.s3_endpoint_url
        )
    prune_results(engine, Path(settings.data_dir), file_days(settings), now, archive, report)
    return report
