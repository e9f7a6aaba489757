"""Every export schema end to end: HTTP submissions → fan-out → delivery to a real target."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from typing import Any

from sqlalchemy import insert, select

from netatlas.export.config import ExportConfig, create_config
from netatlas.export.tasks import update_exports, update_incoming
from netatlas.features import process_until_idle
from netatlas.jobs.context import Context
from netatlas.location.models import api_key, cell_tables, wifi_shards
from netatlas.location.submit.parse import parse_submit
from tests.export.conftest import Receiver


def now_ms() -> int:
    """Now in ms since the epoch, read when a report is built (never at import)."""
    return int(time.time() * 1000)


def report(i: int, ssid: str | None = None) -> dict[str, Any]:
    wifi: dict[str, Any] = {"macAddress": f"3c:a6:2f:00:{i // 256:02x}:{i % 256:02x}"}
    if ssid is not None:
        wifi["ssid"] = ssid
    return {
        "timestamp": now_ms(),
        "position": {"latitude": 51.5 + i * 1e-4, "longitude": -0.1, "accuracy": 10.0},
        "wifiAccessPoints": [
            wifi,
            {"macAddress": f"3c:a6:2f:01:{i // 256:02x}:{i % 256:02x}", "signalStrength": -70},
        ],
        "cellTowers": [
            {
                "radioType": "lte",
                "mobileCountryCode": 234,
                "mobileNetworkCode": 15,
                "locationAreaCode": 100,
                "cellId": 1000 + i,
            }
        ],
    }


def add_key(engine: Any, key: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(api_key).values(
                valid_key=key,
                allow_fallback=False,
                allow_locate=True,
                allow_region=True,
                store_sample_locate=100,
                store_sample_submit=100,
            )
        )


def post(client: Any, reports: list[dict[str, Any]], key: str | None = None) -> None:
    url = "/v2/geosubmit" + (f"?key={key}" if key else "")
    body = gzip.compress(json.dumps({"items": reports}).encode())
    res = client.post(url, content=body, headers={"Content-Encoding": "gzip"})
    assert res.status_code == 200, res.text


def with_position_source(items: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    for item in items:
        item["position"]["source"] = source
    return items


def s3_items(client: Any, bucket: str, prefix: str = "") -> dict[str, list[dict[str, Any]]]:
    found = {}
    for obj in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        found[obj["Key"]] = json.loads(gzip.decompress(body))["items"]
    return found


def test_every_schema_end_to_end(
    client: Any, xctx: Context, receiver: Receiver, s3_bucket: tuple[str, Any]
) -> None:
    bucket, s3 = s3_bucket
    engine = xctx.engine
    add_key(engine, "partner-1")
    create_config(
        engine, ExportConfig("beacondb", "geosubmit", receiver.url, batch=10), allow_private=True
    )
    create_config(
        engine,
        ExportConfig(
            "backup", "s3", f"s3://{bucket}/raw/{{source}}/{{api_key}}/{{year}}/{{month}}"
        ),
    )
    create_config(engine, ExportConfig("nothing", "dummy"))
    create_config(
        engine,
        ExportConfig("gnss-only", "file", "gnss/{source}", skip_sources=frozenset({"query"})),
    )

    # Objects and files are filed under the day the submissions arrived: the day the sending
    # began or the day it ended (two days only when midnight passed in between).
    sending = dt.datetime.now(dt.UTC)
    post(client, [report(i, ssid="Cafe") for i in range(3)], key="partner-1")
    post(client, with_position_source([report(i) for i in range(3, 5)], "query"))
    days = sorted({sending.date(), dt.datetime.now(dt.UTC).date()})

    update_incoming(xctx)
    queues = set(xctx.queue.queues())
    assert {"export_beacondb", "export_backup", "export_archive", "export_gnss-only"} <= queues
    assert not any("nothing" in q for q in queues)  # dummy: no queue at all

    process_until_idle(xctx)
    assert not xctx.queue.queues()

    # internal: the station tables
    with engine.connect() as conn:
        assert sum(len(conn.execute(select(t.c.mac)).all()) for t in wifi_shards.values()) == 10
        assert len(conn.execute(select(cell_tables["lte"].c.cid)).all()) == 5

    # geosubmit: every report once, in a body our own /v2/geosubmit parser accepts
    assert len(receiver.items) == 5
    assert sorted(r["cellTowers"][0]["cellId"] for r in receiver.items) == list(range(1000, 1005))
    assert all("ssid" not in w for r in receiver.items for w in r["wifiAccessPoints"])
    assert receiver.requests[0]["Content-Encoding"] == "gzip"
    assert receiver.requests[0]["User-Agent"].startswith("netatlas/")
    reparsed = parse_submit(json.dumps({"items": receiver.items}), "v2", now_ms())
    assert len(reparsed.reports) == 5

    # s3: one object per source and key, under the template's folders
    objects = s3_items(s3, bucket)
    folders = {key.rsplit("/", 1)[0] for key in objects}
    # One folder per source (per month, should the sending have straddled a month's end).
    sources = ("raw/gnss/partner-1", "raw/query/no_key")
    assert folders <= {f"{source}/{day:%Y}/{day:%m}" for source in sources for day in days}
    assert {folder.rsplit("/", 2)[0] for folder in folders} == set(sources)
    assert sum(len(items) for items in objects.values()) == 5
    assert all(key.endswith(".json.gz") for key in objects)

    # file: the default raw archive (every report) and a filtered archive
    data_dir = xctx.settings.data_dir
    archive = [
        path
        for day in days
        for path in (data_dir / "archive" / day.strftime("%Y/%m/%d")).glob("*.json.gz")
    ]
    archived = [
        item for path in archive for item in json.loads(gzip.decompress(path.read_bytes()))["items"]
    ]
    assert len(archived) == 5
    assert sorted(a["position"]["latitude"] for a in archived)[0] == 51.5
    filtered = list((data_dir / "gnss").rglob("*.json.gz"))
    assert [p.parent.name for p in filtered] == ["gnss"]
    kept = json.loads(gzip.decompress(filtered[0].read_bytes()))["items"]
    assert len(kept) == 3


def test_skip_keys_reach_no_queue(client: Any, xctx: Context, receiver: Receiver) -> None:
    add_key(xctx.engine, "private")
    create_config(
        xctx.engine,
        ExportConfig("partner", "geosubmit", receiver.url, skip_keys=frozenset({"private"})),
        allow_private=True,
    )
    post(client, [report(1)], key="private")
    post(client, [report(2)])
    update_incoming(xctx)
    assert xctx.queue.size("export_partner") == 1
    assert xctx.queue.size("export_archive") == 2
    process_until_idle(xctx)
    assert [r["cellTowers"][0]["cellId"] for r in receiver.items] == [1002]


def test_update_exports_without_targets_does_nothing(xctx: Context) -> None:
    with xctx.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM export_config WHERE name = 'archive'")
    assert update_exports(xctx) == []
