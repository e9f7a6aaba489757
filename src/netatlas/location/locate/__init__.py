"""Position and region lookups from the crowd-sourced station tables (/v1/geolocate, /v1/country).

``parse_query`` turns a request body into a :class:`Query`; :func:`locate` and :func:`region`
return the internal candidates (plus a GeoIP one when given and allowed) as a result list whose
``best()`` is the answer. See ``query``, ``service``, ``estimate`` and ``result`` for the rules.
"""

from netatlas.location.locate.query import LocateRequest, Query, build_query, parse_query
from netatlas.location.locate.result import (
    HIGH,
    LOW,
    MEDIUM,
    NONE,
    RegionResult,
    RegionResultList,
    Result,
    ResultList,
    accuracy_class,
)
from netatlas.location.locate.service import locate, region, search_internal

__all__ = [
    "HIGH",
    "LOW",
    "MEDIUM",
    "NONE",
    "LocateRequest",
    "Query",
    "RegionResult",
    "RegionResultList",
    "Result",
    "ResultList",
    "accuracy_class",
    "build_query",
    "locate",
    "parse_query",
    "region",
    "search_internal",
]
