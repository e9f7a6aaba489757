"""``measurements`` rows: one per ndt7 subtest, with the client's network and IP location."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from netatlas.broadband.models import measurements
from netatlas.broadband.ndt7.archive import Ndt7Result
from netatlas.broadband.ndt7.summary import Summary, summarize
from netatlas.geo.asn import AsnLookup
from netatlas.geo.geoip import GeoIP

__all__ = ["ClientNetwork", "client_network", "measurement_row", "record_local_test"]


@dataclass(frozen=True, slots=True)
class ClientNetwork:
    asn: int | None = None
    isp: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy: float | None = None
    region: str | None = None


def client_network(ip: str | None, asn: AsnLookup, geoip: GeoIP | None) -> ClientNetwork:
    """The AS and the IP location of a client address (each None when unknown)."""
    if not ip:
        return ClientNetwork()
    as_info = asn.lookup(ip)
    place = geoip.lookup(ip) if geoip is not None else None
    return ClientNetwork(
        asn=as_info.asn if as_info else None,
        isp=as_info.name[:255] if as_info and as_info.name else None,
        lat=place.lat if place else None,
        lon=place.lon if place else None,
        accuracy=place.accuracy if place else None,
        region=place.region if place else None,
    )


def measurement_row(
    *,
    uuid: str,
    source: str,
    direction: str,
    test_time: datetime,
    summary: Summary,
    client_ip: str | None,
    network: ClientNetwork,
    num_bytes: int | None = None,
    congestion_control: str | None = None,
    client_name: str | None = None,
    archive: str | None = None,
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "source": source,
        "direction": direction,
        "test_time": test_time.astimezone(UTC).replace(tzinfo=None),
        "mean_mbps": summary.mean_mbps,
        "min_rtt_ms": summary.min_rtt_ms,
        "loss_rate": summary.loss_rate,
        "num_bytes": num_bytes,
        "elapsed_s": summary.elapsed_s,
        "congestion_control": congestion_control,
        "client_ip": client_ip,
        "asn": network.asn,
        "isp": network.isp,
        "lat": network.lat,
        "lon": network.lon,
        "accuracy": network.accuracy,
        "region": network.region,
        "client_name": client_name[:64] if client_name else None,
        "archive": archive,
    }


def insert_measurement(conn: Connection, row: Mapping[str, Any]) -> int:
    result = conn.execute(insert(measurements).values(**row).returning(measurements.c.id))
    return int(result.scalar_one())


def record_local_test(
    engine: Engine,
    result: Ndt7Result,
    archive: str,
    asn: AsnLookup,
    geoip: GeoIP | None,
) -> int:
    """Store the row of a subtest run against this server; returns its id."""
    summary = summarize(result.direction, result.server_measurements)
    network = client_network(result.client_ip, asn, geoip)
    row = measurement_row(
        uuid=result.uuid,
        source="local",
        direction=result.direction,
        test_time=datetime.fromtimestamp(result.test_start_ns / 1e9, UTC),
        summary=summary,
        client_ip=result.client_ip,
        network=network,
        num_bytes=result.num_bytes,
        congestion_control=result.congestion_control,
        client_name=dict(result.client_metadata).get("client_name"),
        archive=archive,
    )
    with engine.begin() as conn:
        return insert_measurement(conn, row)


def get_measurement(engine: Engine, uuid: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(measurements).where(measurements.c.uuid == uuid)).first()
    return dict(row._mapping) if row is not None else None
