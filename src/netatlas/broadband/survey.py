"""Survey submissions: answers checked against the form, linked to the test's measurements.

A submission (``POST /api/v1/survey``) is a JSON object::

    {"answers": {"isp": "…", …}, "consent": true, "challenge_consent": false,
     "download": {"uuid": "…"}, "upload": {"uuid": "…"},
     "location": {"latitude": 51.5, "longitude": -0.1, "accuracy": 20}}

``download`` / ``upload`` name the subtests (at least one) by the UUID the server reported in
``ConnectionInfo``. Against this server (mode ``local``) they must be tests stored here, run
from the same address, not yet linked to another survey. In mode ``mlab`` the tests ran on
M-Lab's servers: each also carries ``tcpinfo``, the ``TCPInfo`` of the last measurement M-Lab's
server sent, and a ``measurements`` row is made from it (source ``mlab``), keeping M-Lab's UUID
so their own record can be joined later. Those figures are the browser's word: the row waits
for confirmation (``verification`` = ``pending``) and the statistics leave it out until an
administrator verifies the response or M-Lab's record of the test is imported (see
:mod:`.verification`).

The browser location is kept only when ``consent`` is true. ``challenge_consent`` (optional,
false unless given) is the separate yes to handing the test, location included, to a regulator
as evidence in a coverage challenge (:mod:`netatlas.broadband.challenge`). Every problem is
reported at once, by field path (``answers.isp``, ``download.uuid``, ``location.latitude``…).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, or_, select
from sqlalchemy.exc import IntegrityError

from netatlas.broadband.form import Form, validate
from netatlas.broadband.measurements import client_network, insert_measurement, measurement_row
from netatlas.broadband.models import measurements, survey_response
from netatlas.broadband.ndt7.summary import summarize_tcpinfo
from netatlas.broadband.verification import PENDING
from netatlas.geo.asn import AsnLookup
from netatlas.geo.geoip import GeoIP

__all__ = ["SurveyError", "SurveySaved", "SurveyService"]

DIRECTIONS = ("download", "upload")
_UUID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
# TCPInfo keys a reported M-Lab test may carry (what the figures are computed from).
_TCP_KEYS = ("BytesAcked", "BytesReceived", "BytesSent", "BytesRetrans", "ElapsedTime", "MinRTT")


class SurveyError(Exception):
    """The submission has errors: ``fields`` maps field paths to messages."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True, slots=True)
class SurveySaved:
    id: int
    download: int | None
    upload: int | None


def _location(raw: Any, errors: dict[str, str]) -> tuple[float, float, float | None] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        errors["location"] = "must be an object with latitude and longitude"
        return None
    values: dict[str, float | None] = {}
    for key, low, high in (("latitude", -90, 90), ("longitude", -180, 180), ("accuracy", 0, 1e7)):
        value = raw.get(key)
        if value is None and key == "accuracy":
            values[key] = None
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            errors[f"location.{key}"] = "must be a number"
        elif not low <= value <= high:
            errors[f"location.{key}"] = f"must be between {low:g} and {high:g}"
        else:
            values[key] = float(value)
    if any(k.startswith("location") for k in errors):
        return None
    lat, lon = values["latitude"], values["longitude"]
    assert lat is not None and lon is not None
    return lat, lon, values["accuracy"]


def _reported_tcpinfo(raw: Any, where: str, errors: dict[str, str]) -> dict[str, int] | None:
    if not isinstance(raw, Mapping):
        errors[where] = "the TCPInfo of M-Lab's last measurement is needed"
        return None
    out: dict[str, int] = {}
    for key in _TCP_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            errors[f"{where}.{key}"] = "must be a non-negative number"
            continue
        out[key] = int(value)
    if "ElapsedTime" not in out:
        errors.setdefault(f"{where}.ElapsedTime", "required")
    return out


class SurveyService:
    """Checks and stores survey submissions for one form and one mode."""

    def __init__(
        self,
        engine: Engine,
        form: Form | Callable[[], Form],
        mode: str,
        asn: AsnLookup,
        geoip: GeoIP | None,
    ) -> None:
        self.engine = engine
        self._form = form
        self.mode = mode
        self.asn = asn
        self.geoip = geoip

    @property
    def form(self) -> Form:
        """The form in force (one given, or the current one of a source)."""
        return self._form if isinstance(self._form, Form) else self._form()

    def submit(self, body: Any, client_ip: str | None) -> SurveySaved:
        """Store one submission; :class:`SurveyError` with every problem otherwise."""
        form = self.form
        errors: dict[str, str] = {}
        if not isinstance(body, Mapping):
            raise SurveyError({"body": "must be a JSON object"})
        unknown = set(body) - {"answers", "consent", "challenge_consent", "location", *DIRECTIONS}
        for key in sorted(unknown):
            errors[str(key)[:64]] = "unknown field"
        answers, answer_errors = validate(form, body.get("answers", {}))
        for name, message in answer_errors.items():
            errors[name if name == "answers" else f"answers.{name}"] = message
        consent = body.get("consent", False)
        if not isinstance(consent, bool):
            errors["consent"] = "must be true or false"
            consent = False
        elif form.consent_required and not consent:
            errors["consent"] = "required: tick the box to agree"
        challenge = body.get("challenge_consent", False)
        if not isinstance(challenge, bool):
            errors["challenge_consent"] = "must be true or false"
            challenge = False
        location = _location(body.get("location"), errors)
        refs = self._refs(body, errors)
        if errors:
            raise SurveyError(errors)
        try:
            with self.engine.begin() as conn:
                ids = self._link(conn, refs, client_ip, errors)
                if errors:
                    raise SurveyError(errors)
                keep = location if consent else None  # the location only with consent
                result = conn.execute(
                    insert(survey_response)
                    .values(
                        created=datetime.now(UTC).replace(tzinfo=None),
                        form=form.name,
                        answers=answers,
                        consent=consent,
                        challenge_consent=challenge,
                        lat=keep[0] if keep else None,
                        lon=keep[1] if keep else None,
                        accuracy=keep[2] if keep else None,
                        client_ip=client_ip,
                        download_id=ids.get("download"),
                        upload_id=ids.get("upload"),
                    )
                    .returning(survey_response.c.id)
                )
                survey_id = int(result.scalar_one())
        except IntegrityError:
            # Another submission linked the same test in the meantime.
            raise SurveyError({"download": "this test already has a survey"}) from None
        return SurveySaved(survey_id, ids.get("download"), ids.get("upload"))

    def _refs(self, body: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
        refs: dict[str, Any] = {}
        for direction in DIRECTIONS:
            raw = body.get(direction)
            if raw is None:
                continue
            if not isinstance(raw, Mapping):
                errors[direction] = "must be an object with the test's uuid"
                continue
            uuid = raw.get("uuid")
            if not isinstance(uuid, str) or not _UUID.match(uuid):
                errors[f"{direction}.uuid"] = "the test's UUID (from ConnectionInfo) is needed"
                continue
            tcp = None
            if self.mode == "mlab":
                tcp = _reported_tcpinfo(raw.get("tcpinfo"), f"{direction}.tcpinfo", errors)
            refs[direction] = (uuid, tcp)
        if not refs and not any(k.startswith(DIRECTIONS) for k in errors):
            errors["download"] = "run the speed test first: no test is named"
        return refs

    def _link(
        self, conn: Connection, refs: dict[str, Any], client_ip: str | None, errors: dict[str, str]
    ) -> dict[str, int]:
        if self.mode == "mlab":
            return self._record_mlab(conn, refs, client_ip, errors)
        ids: dict[str, int] = {}
        for direction, (uuid, _) in refs.items():
            row = conn.execute(
                select(measurements.c.id, measurements.c.direction, measurements.c.client_ip).where(
                    measurements.c.uuid == uuid, measurements.c.source == "local"
                )
            ).first()
            where = f"{direction}.uuid"
            if row is None:
                errors[where] = "no test with this UUID was run on this server"
            elif row.direction != direction:
                errors[where] = f"this UUID is an {row.direction} test"
            elif client_ip and row.client_ip and row.client_ip != client_ip:
                errors[where] = "this test was run from another address"
            elif self._linked(conn, row.id):
                errors[where] = "this test already has a survey"
            else:
                ids[direction] = int(row.id)
        return ids

    @staticmethod
    def _linked(conn: Connection, measurement_id: int) -> bool:
        found = conn.execute(
            select(survey_response.c.id).where(
                or_(
                    survey_response.c.download_id == measurement_id,
                    survey_response.c.upload_id == measurement_id,
                )
            )
        ).first()
        return found is not None

    def _record_mlab(
        self, conn: Connection, refs: dict[str, Any], client_ip: str | None, errors: dict[str, str]
    ) -> dict[str, int]:
        network = client_network(client_ip, self.asn, self.geoip)
        ids: dict[str, int] = {}
        now = datetime.now(UTC)
        for direction, (uuid, tcp) in refs.items():
            exists = conn.execute(select(measurements.c.id).where(measurements.c.uuid == uuid))
            if exists.first() is not None:
                errors[f"{direction}.uuid"] = "this test is already recorded"
                continue
            row = measurement_row(
                uuid=uuid,
                source="mlab",
                direction=direction,
                test_time=now,
                summary=summarize_tcpinfo(direction, tcp),
                client_ip=client_ip,
                network=network,
                num_bytes=tcp.get("BytesAcked" if direction == "download" else "BytesReceived"),
                congestion_control="bbr",
                client_name="netatlas-speedtest",
            )
            row["verification"] = PENDING  # reported by the browser: not counted yet
            ids[direction] = insert_measurement(conn, row)
        return ids
