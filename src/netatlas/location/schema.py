"""Wire shapes of the MLS-compatible API as msgspec Structs, for the OpenAPI document.

Request bodies are the Structs the parsers decode into (``_submit_types``,
``locate.query``); the Structs here name the bodies around them and the responses the views
write, including Ichnaea's error envelope.
"""

from __future__ import annotations

import msgspec

from netatlas.location.submit.schema import FlatReportIn, FlatReportInV0, ReportV2In

__all__ = [
    "CountryResponse",
    "GeolocateResponse",
    "SubmitResponse",
    "SubmitV0",
    "SubmitV1",
    "SubmitV2",
]


class SubmitV2(msgspec.Struct):
    """/v2/geosubmit: reports with a nested position."""

    items: list[ReportV2In]


class SubmitV1(msgspec.Struct):
    """/v1/geosubmit: reports with the position members on the report."""

    items: list[FlatReportIn]


class SubmitV0(msgspec.Struct):
    """/v1/submit: the legacy MozStumbler format."""

    items: list[FlatReportInV0]


class SubmitResponse(msgspec.Struct):
    """An empty object: the reports are queued durably."""


class LatLng(msgspec.Struct):
    lat: float
    lng: float


class GeolocateResponse(msgspec.Struct, omit_defaults=True):
    location: LatLng
    accuracy: float  # metres
    fallback: str | None = None  # "ipf" or "lacf" when the answer came from a fallback


class CountryResponse(msgspec.Struct, omit_defaults=True):
    country_code: str
    country_name: str
    fallback: str | None = None
