"""Survey responses for review: pages of responses with their tests, verifying, unverifying
and deleting them (each change audited), and CSV exports of surveys and tests."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, case, delete, func, select
from sqlalchemy.orm import aliased

from netatlas.admin.audit import Actor, ChangeError, record
from netatlas.admin.auth import utcnow
from netatlas.admin.models import survey_review
from netatlas.broadband.models import measurements, survey_response
from netatlas.broadband.verification import review_survey_tests
from netatlas.db.upsert import insert_for
from netatlas.http.csvsafe import csv_cell

__all__ = [
    "PER_PAGE",
    "SORTS",
    "STATUSES",
    "Page",
    "delete_response",
    "measurements_csv",
    "responses",
    "review",
    "surveys_csv",
]

PER_PAGE = 50
STATUSES = ("all", "new", "verified", "unverified")
_CHUNK = 1000

down = aliased(measurements, name="down")
up = aliased(measurements, name="up")
s = survey_response.c
_status = case(
    (survey_review.c.verified.is_(None), "new"),
    (survey_review.c.verified.is_(True), "verified"),
    else_="unverified",
)
#: Sortable columns of the review table.
SORTS: dict[str, Any] = {
    "id": s.id,
    "created": s.created,
    "download": down.c.mean_mbps,
    "upload": up.c.mean_mbps,
    "latency": down.c.min_rtt_ms,
    "isp": func.coalesce(down.c.isp, up.c.isp),
    "status": _status,
}


def _base() -> Select[Any]:
    return (
        select(
            s.id,
            s.created,
            s.form,
            s.answers,
            s.consent,
            s.lat,
            s.lon,
            down.c.mean_mbps.label("download"),
            up.c.mean_mbps.label("upload"),
            down.c.min_rtt_ms.label("latency"),
            down.c.loss_rate.label("loss_rate"),
            func.coalesce(down.c.isp, up.c.isp).label("isp"),
            func.coalesce(down.c.asn, up.c.asn).label("asn"),
            func.coalesce(down.c.test_time, up.c.test_time).label("test_time"),
            func.coalesce(down.c.source, up.c.source).label("source"),
            down.c.uuid.label("download_uuid"),
            up.c.uuid.label("upload_uuid"),
            _status.label("status"),
            survey_review.c.reviewer,
            survey_review.c.reviewed,
        )
        .select_from(survey_response)
        .outerjoin(down, down.c.id == s.download_id)
        .outerjoin(up, up.c.id == s.upload_id)
        .outerjoin(survey_review, survey_review.c.survey_id == s.id)
    )


def _answers(value: Any) -> dict[str, Any]:
    if isinstance(value, str):  # some drivers hand JSON back as text
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int  # responses matching the filter
    page: int
    pages: int
    counts: dict[str, int]  # responses per status


def responses(
    engine: Engine, page: int = 1, sort: str = "created", order: str = "desc", status: str = "all"
) -> Page:
    """One page of responses; unknown sort keys, orders or statuses fall back to defaults."""
    column = SORTS.get(sort, SORTS["created"])
    direction = column.asc() if order == "asc" else column.desc()
    query = _base()
    if status in STATUSES and status != "all":
        query = query.where(_status == status)
    with engine.connect() as conn:
        counted = conn.execute(
            select(_status, func.count())
            .select_from(survey_response)
            .outerjoin(survey_review, survey_review.c.survey_id == s.id)
            .group_by(_status)
        ).all()
        counts = {name: 0 for name in STATUSES}
        for name, number in counted:
            counts[str(name)] = int(number)
        counts["all"] = sum(counts[n] for n in STATUSES[1:])
        total = counts.get(status, counts["all"])
        pages = max(1, -(-total // PER_PAGE))
        page = min(max(1, page), pages)
        rows = conn.execute(
            query.order_by(direction.nulls_last(), s.id.desc())
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
        ).all()
    out = []
    for row in rows:
        item = dict(row._mapping)
        item["answers"] = _answers(item["answers"])
        out.append(item)
    return Page(out, total, page, pages, counts)


def review(engine: Engine, actor: Actor, survey_id: int, verified: bool) -> None:
    """Mark a response verified (or not). The verdict also decides whether the statistics
    count the figures its browser reported (mode mlab): see
    :mod:`netatlas.broadband.verification`."""
    with engine.begin() as conn:
        if conn.execute(select(s.id).where(s.id == survey_id)).first() is None:
            raise ChangeError({"survey": f"no survey response {survey_id}"})
        values = {"verified": verified, "reviewed": utcnow(), "reviewer": actor.user}
        stmt = insert_for(conn, survey_review).values(survey_id=survey_id, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["survey_id"], set_=values))
        review_survey_tests(conn, survey_id, verified)
        action = "survey.verify" if verified else "survey.unverify"
        record(conn, actor, action, str(survey_id), None)


def delete_response(engine: Engine, actor: Actor, survey_id: int) -> None:
    """Delete a response (its tests stay: they are measurements in their own right)."""
    with engine.begin() as conn:
        row = conn.execute(select(survey_response).where(s.id == survey_id)).first()
        if row is None:
            raise ChangeError({"survey": f"no survey response {survey_id}"})
        conn.execute(delete(survey_review).where(survey_review.c.survey_id == survey_id))
        conn.execute(delete(survey_response).where(s.id == survey_id))
        detail = {k: v for k, v in row._mapping.items() if k not in ("client_ip", "lat", "lon")}
        detail["answers"] = _answers(detail.get("answers"))
        record(conn, actor, "survey.delete", str(survey_id), detail)


def _csv_lines(header: Sequence[str], rows: Iterator[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    # CRLF (RFC 4180): a cell holding a lone CR is then quoted too.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for number, row in enumerate(rows, 1):
        writer.writerow([csv_cell(v) for v in row])  # text that looks like a formula: '…
        if number % _CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


_SURVEY_COLUMNS = (
    "id", "created", "form", "status", "consent", "lat", "lon", "download_mbps", "upload_mbps",
    "min_rtt_ms", "loss_rate", "isp", "asn", "test_time", "source", "download_uuid", "upload_uuid",
)  # fmt: skip


def surveys_csv(engine: Engine, fields: Sequence[str]) -> Iterator[str]:
    """Every response with its tests, one ``answer_<field>`` column per question (client
    addresses are left out). Multi-select answers are joined with ``|``."""
    header = [*_SURVEY_COLUMNS, *(f"answer_{f}" for f in fields)]

    def rows() -> Iterator[list[Any]]:
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=_CHUNK).execute(_base().order_by(s.id))
            for row in result:
                m = row._mapping
                answers = _answers(m["answers"])
                yield [
                    m["id"], m["created"], m["form"], m["status"], m["consent"], m["lat"], m["lon"],
                    m["download"], m["upload"], m["latency"], m["loss_rate"], m["isp"], m["asn"],
                    m["test_time"], m["source"], m["download_uuid"], m["upload_uuid"],
                    *(_cell(answers.get(f)) for f in fields),
                ]  # fmt: skip

    return _csv_lines(header, rows())


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "|".join(map(str, value))
    return value


_TEST_COLUMNS = (
    "id", "uuid", "source", "direction", "test_time", "mean_mbps", "min_rtt_ms", "loss_rate",
    "num_bytes", "elapsed_s", "asn", "isp", "lat", "lon", "region",
)  # fmt: skip


def measurements_csv(engine: Engine) -> Iterator[str]:
    """Every speed test (IP locations only; client addresses are left out)."""
    columns = [measurements.c[name] for name in _TEST_COLUMNS]

    def rows() -> Iterator[Sequence[Any]]:
        with engine.connect() as conn:
            query = select(*columns).order_by(measurements.c.id)
            yield from conn.execution_options(yield_per=_CHUNK).execute(query)

    return _csv_lines(_TEST_COLUMNS, rows())
