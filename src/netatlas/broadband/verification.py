"""Which tests the statistics may count: results a browser reported stay out until confirmed.

In mode ``mlab`` the figures of a test come from the visitor's browser (the ``TCPInfo`` it
says M-Lab's server sent), so anyone can post any figures. Such a row is stored with
``measurements.verification`` = ``pending`` and the published statistics leave it out until
one of two things confirms it:

* an administrator marks its survey response verified (``admin``); marking it not verified
  again (``rejected``) takes it back out;
* M-Lab's own record of the same test id arrives through ``netatlas mlab import`` or the
  BigQuery import (``mlab``): M-Lab's figures then replace the reported ones, and an
  administrator's later verdict no longer changes the row (the figures are M-Lab's).

Tests this server measured itself, and imported M-Lab rows, have no verification to wait for
(``NULL``) and always count.

The statistics are kept incrementally by ``measurements.id``, so a test whose standing
changes after its aggregation has gone past it cannot just be added or removed: the
aggregations that already read it are marked for a rebuild, which the next statistics run
does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update
from sqlalchemy.sql import ColumnElement

from netatlas.broadband.aggregate.models import stats_state
from netatlas.broadband.models import measurements, survey_response

__all__ = [
    "BY_ADMIN",
    "BY_MLAB",
    "PENDING",
    "REJECTED",
    "confirm_from_mlab",
    "counted",
    "review_survey_tests",
]

PENDING = "pending"  # reported by the browser, not confirmed yet
REJECTED = "rejected"  # an administrator marked its survey response not verified
BY_ADMIN = "admin"  # an administrator marked its survey response verified
BY_MLAB = "mlab"  # M-Lab's own record of the test was imported
CONFIRMED = (BY_ADMIN, BY_MLAB)
#: What a fingerprint is set to when an aggregation must be rebuilt.
STALE = "stale"
#: Figures M-Lab's record replaces in a confirmed row.
_FIGURES = ("test_time", "mean_mbps", "min_rtt_ms", "loss_rate", "num_bytes", "elapsed_s")
_CHUNK = 500


def counted(table: Any = measurements) -> ColumnElement[bool]:
    """True for rows the statistics count (nothing to verify, or confirmed)."""
    column = table.c.verification
    return or_(column.is_(None), column.in_(CONFIRMED))


def _rebuild_from(conn: Connection, lowest_id: int) -> None:
    """Aggregations that have read the test ``lowest_id`` are rebuilt on their next run. The
    version moves on too, so that an update running meanwhile (which may have read the test
    before this change) fails its claim instead of storing what it read as current."""
    state = stats_state.c
    conn.execute(
        update(stats_state)
        .where(state.watermark >= lowest_id)
        .values(fingerprint=STALE, version=state.version + 1)
    )


def review_survey_tests(conn: Connection, survey_id: int, verified: bool) -> int:
    """Carry an administrator's verdict on a survey response over to its reported tests;
    returns how many rows changed. Tests measured here, imported ones and those M-Lab's
    record confirmed are left alone."""
    s = survey_response.c
    ids = [
        i
        for row in conn.execute(select(s.download_id, s.upload_id).where(s.id == survey_id))
        for i in row
        if i is not None
    ]
    if not ids:
        return 0
    m = measurements.c
    new = BY_ADMIN if verified else REJECTED
    changed = conn.execute(
        select(m.id).where(
            m.id.in_(ids), m.verification.in_((PENDING, REJECTED, BY_ADMIN)), m.verification != new
        )
    ).scalars()
    found = [int(i) for i in changed]
    if not found:
        return 0
    conn.execute(update(measurements).where(m.id.in_(found)).values(verification=new))
    _rebuild_from(conn, min(found))
    return len(found)


def confirm_from_mlab(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Rows imported from M-Lab whose test id matches a reported test of the same direction
    confirm it, with M-Lab's figures; returns how many tests were confirmed."""
    by_uuid = {row["uuid"]: row for row in rows}
    if not by_uuid:
        return 0
    m = measurements.c
    found: list[tuple[int, Mapping[str, Any]]] = []
    uuids: Sequence[str] = list(by_uuid)
    for i in range(0, len(uuids), _CHUNK):
        waiting = conn.execute(
            select(m.id, m.uuid, m.direction).where(
                m.uuid.in_(uuids[i : i + _CHUNK]),
                m.source == "mlab",
                and_(m.verification.is_not(None), m.verification != BY_MLAB),
            )
        ).all()
        for row in waiting:
            imported = by_uuid[row.uuid]
            if imported.get("direction") == row.direction:
                found.append((int(row.id), imported))
    if not found:
        return 0
    params = [
        {"row_id": row_id, "v": BY_MLAB, **{f"new_{k}": imported.get(k) for k in _FIGURES}}
        for row_id, imported in found
    ]
    # M-Lab's figures where it has them, the reported ones otherwise.
    values: dict[str, Any] = {"verification": bindparam("v")}
    for k in _FIGURES:
        values[k] = func.coalesce(bindparam(f"new_{k}", type_=m[k].type), m[k])
    conn.execute(update(measurements).where(m.id == bindparam("row_id")).values(values), params)
    _rebuild_from(conn, min(row_id for row_id, _ in found))
    return len(found)
