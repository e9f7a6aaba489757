"""One M-Lab test as a ``measurements`` row, from either of the two forms M-Lab publishes:

* a row of the BigQuery unified views ``measurement-lab.ndt.unified_downloads`` /
  ``unified_uploads`` (``id``, ``a`` {UUID, TestTime, MeanThroughputMbps, MinRTT, LossRate,
  CongestionControl}, ``client`` {IP, Geo {Latitude, Longitude, AccuracyRadiusKm,
  CountryCode}, Network {ASNumber, ASName}}, ``metadata`` {ClientMetadata}); the direction is
  the view's, given by a ``direction`` column (our BigQuery query adds one), ``a.Direction``
  when present, or the file name;
* an ndt-server result file (``Download`` or ``Upload`` with ``ServerMeasurements``): its
  figures come from :func:`netatlas.broadband.ndt7.summary.summarize`, exactly as for tests
  run against this server and as M-Lab's parser computes them, and the client's network and
  location from the configured ASN and GeoIP databases.

Imported rows have ``source = "import"``. A row whose test id is already stored is skipped,
so importing the same data again changes nothing (and a visitor's ``mlab`` test keeps its
row and survey link when M-Lab's copy of it is imported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from netatlas.broadband.measurements import client_network, measurement_row
from netatlas.broadband.ndt7.summary import summarize
from netatlas.geo.asn import AsnLookup
from netatlas.geo.geoip import GeoIP

__all__ = [
    "SOURCE",
    "BadRow",
    "UnifiedRow",
    "direction_hint",
    "parse_time",
    "result_row",
    "unified_row",
]

SOURCE = "import"
MAX_UUID = 128


class BadRow(Exception):
    """A row that cannot be imported; ``reason`` is the short label it is counted under."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Geo(msgspec.Struct):
    Latitude: float | None = None
    Longitude: float | None = None
    AccuracyRadiusKm: float | None = None
    CountryCode: str | None = None


class Network(msgspec.Struct):
    ASNumber: int | None = None
    ASName: str | None = None


class Client(msgspec.Struct):
    IP: str | None = None
    Geo: Geo | None = None
    Network: Network | None = None


class Summary_(msgspec.Struct):
    UUID: str | None = None
    TestTime: Any = None  # a timestamp string, a datetime or epoch seconds
    Direction: str | None = None
    CongestionControl: str | None = None
    MeanThroughputMbps: float | None = None
    MinRTT: float | None = None
    LossRate: float | None = None


class NameValue(msgspec.Struct):
    Name: str | None = None
    Value: str | None = None


class Metadata(msgspec.Struct):
    ClientMetadata: list[NameValue] | None = None


class UnifiedRow(msgspec.Struct):
    """The unified-view columns the import uses; others are ignored."""

    id: str | None = None
    a: Summary_ | None = None
    client: Client | None = None
    metadata: Metadata | None = None
    direction: str | None = None


def direction_hint(name: str) -> str | None:
    """The direction a file name implies (``unified_downloads…``, ``ndt7-upload-…``)."""
    lowered = name.lower()
    has_down, has_up = "download" in lowered, "upload" in lowered
    if has_down != has_up:
        return "download" if has_down else "upload"
    return None


def parse_time(value: Any) -> datetime:
    """A UTC datetime from BigQuery's and RFC 3339's text forms, a datetime, or epoch s."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise BadRow("bad test time")
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        text = value.strip()
        if text.endswith(" UTC"):
            text = text[:-4] + "+00:00"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise BadRow("bad test time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise BadRow("no test time")


def unified_row(row: UnifiedRow, hint: str | None = None) -> dict[str, Any]:
    """The ``measurements`` row of a unified-view row. Raises BadRow.

    Built directly rather than through :func:`~netatlas.broadband.measurements.measurement_row`
    (same keys, checked by the tests): this runs a million times per large import.
    """
    a = row.a or _NO_SUMMARY
    uuid = row.id or a.UUID
    if not uuid:
        raise BadRow("no test id")
    if len(uuid) > MAX_UUID:
        raise BadRow("test id too long")
    direction = row.direction or a.Direction or hint
    direction = direction.lower() if direction else None
    if direction != "download" and direction != "upload":
        raise BadRow("unknown direction")
    test_time = parse_time(a.TestTime).astimezone(UTC).replace(tzinfo=None)
    mbps = a.MeanThroughputMbps
    if mbps is None:
        raise BadRow("no throughput")
    if not 0 <= mbps < math.inf:
        raise BadRow("bad throughput")
    rtt, loss = a.MinRTT, a.LossRate
    if rtt is not None and not 0 <= rtt < math.inf:
        raise BadRow("bad MinRTT")
    if loss is not None and not 0 <= loss <= 1:
        raise BadRow("bad loss rate")
    client = row.client or _NO_CLIENT
    geo = client.Geo or _NO_GEO
    net = client.Network or _NO_NETWORK
    lat, lon = geo.Latitude, geo.Longitude
    if lat is None or lon is None:
        lat = lon = None
    elif not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise BadRow("bad location")
    radius = geo.AccuracyRadiusKm
    country = geo.CountryCode
    name = None
    if row.metadata is not None and row.metadata.ClientMetadata:
        for item in row.metadata.ClientMetadata:
            if item.Name == "client_name":
                name = item.Value
    cc = a.CongestionControl
    return {
        "uuid": uuid,
        "source": SOURCE,
        "direction": direction,
        "test_time": test_time,
        "mean_mbps": mbps,
        "min_rtt_ms": rtt,
        "loss_rate": loss,
        "num_bytes": None,
        "elapsed_s": None,
        "congestion_control": cc[:16] if cc else None,
        "client_ip": client.IP[:45] if client.IP else None,
        "asn": net.ASNumber if net.ASNumber and net.ASNumber > 0 else None,
        "isp": net.ASName[:255] if net.ASName else None,
        "lat": lat,
        "lon": lon,
        "accuracy": radius * 1000.0 if radius is not None and radius >= 0 else None,
        "region": country.upper() if country and len(country) == 2 else None,
        "client_name": name[:64] if name else None,
        "archive": None,
    }


_NO_SUMMARY = Summary_()
_NO_CLIENT = Client()
_NO_GEO = Geo()
_NO_NETWORK = Network()


def _pairs(value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, Mapping) and isinstance(item.get("Name"), str):
                out[item["Name"]] = str(item.get("Value", ""))
    return out


def result_row(doc: Any, asn: AsnLookup, geoip: GeoIP | None) -> dict[str, Any]:
    """The ``measurements`` row of an ndt-server result document. Raises BadRow."""
    if not isinstance(doc, Mapping):
        raise BadRow("not a result document")
    direction = "download" if isinstance(doc.get("Download"), Mapping) else None
    if direction is None and isinstance(doc.get("Upload"), Mapping):
        direction = "upload"
    if direction is None:
        raise BadRow("neither Download nor Upload")
    test = doc["Download" if direction == "download" else "Upload"]
    uuid = test.get("UUID")
    if not isinstance(uuid, str) or not uuid:
        raise BadRow("no test id")
    if len(uuid) > MAX_UUID:
        raise BadRow("test id too long")
    server = test.get("ServerMeasurements")
    server = [m for m in server if isinstance(m, Mapping)] if isinstance(server, list) else []
    summary = summarize(direction, server)
    if summary.mean_mbps is None:
        raise BadRow("no throughput")
    # M-Lab's a.TestTime is the subtest's StartTime.
    test_time = parse_time(test.get("StartTime") or doc.get("StartTime"))
    client_ip = doc.get("ClientIP") if isinstance(doc.get("ClientIP"), str) else None
    last_app = next(
        (m["AppInfo"] for m in reversed(server) if isinstance(m.get("AppInfo"), Mapping)), None
    )
    num_bytes = last_app.get("NumBytes") if last_app else None
    bbr = any(isinstance(m.get("BBRInfo"), Mapping) for m in server)
    return measurement_row(
        uuid=uuid,
        source=SOURCE,
        direction=direction,
        test_time=test_time,
        summary=summary,
        client_ip=client_ip[:45] if client_ip else None,
        network=client_network(client_ip, asn, geoip),
        num_bytes=num_bytes if isinstance(num_bytes, int) else None,
        congestion_control="bbr" if bbr else None,
        client_name=_pairs(test.get("ClientMetadata")).get("client_name"),
    )
