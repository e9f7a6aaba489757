"""The S3 tile store against moto in server mode on 127.0.0.1: a real HTTP round trip."""

from __future__ import annotations

from typing import Any

import pytest

from netatlas.datamap.publish import sync
from netatlas.settings import Settings
from netatlas.storage import s3
from netatlas.storage.files import Checksum, StoreError, md5_hex
from netatlas.storage.tiles import TileStore, open_store


def s3_tiles(url: str, endpoint_url: str) -> TileStore:
    return open_store(url, Settings(s3_endpoint_url=endpoint_url))


def keys(client: Any, bucket: str) -> dict[str, Any]:
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = obj
    return found


def test_s3_store_round_trip(bucket: tuple[str, Any], moto_server: str) -> None:
    name, client = bucket
    store = s3_tiles(f"s3://{name}/map/tiles", moto_server)
    assert store.listing() == {} and store.read("0/0/0.png") is None
    store.write([("0/0/0.png", b"png"), ("1/1/1.png", b"png2"), ("data.json", b"{}")])
    assert store.listing() == {
        "0/0/0.png": Checksum(3, md5_hex(b"png")),
        "1/1/1.png": Checksum(4, md5_hex(b"png2")),
    }
    head = client.head_object(Bucket=name, Key="map/tiles/0/0/0.png")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=600"
    assert client.head_object(Bucket=name, Key="map/tiles/data.json")["ContentType"] == (
        "application/json"
    )
    assert store.read("data.json") == b"{}"
    store.delete(["0/0/0.png"])
    assert list(store.listing()) == ["1/1/1.png"]


def test_sync_new_changed_unchanged_and_deleted(
    bucket: tuple[str, Any], moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, client = bucket
    monkeypatch.setattr(s3, "DELETE_BATCH", 2)  # deletes go out in several batches
    store = s3_tiles(f"s3://{name}/tiles", moto_server)
    first = [(f"3/{x}/0.png", b"tile %d" % x) for x in range(8)]
    stats = sync(store, first)
    assert (stats.new, stats.changed, stats.unchanged, stats.deleted) == (8, 0, 0, 0)
    # Same bytes, plus a marker that a re-upload would drop.
    client.put_object(Bucket=name, Key="tiles/3/0/0.png", Body=b"tile 0", Metadata={"m": "1"})

    second = [
        ("3/0/0.png", b"tile 0"),  # unchanged
        ("3/1/0.png", b"tile 1 redrawn"),  # changed (size)
        ("3/2/0.png", b"tile X"),  # changed (same size, other MD5)
        ("4/0/0.png", b"new"),  # new
    ]  # 3/3 … 3/7: stale
    stats = sync(store, second)
    assert (stats.new, stats.changed, stats.unchanged, stats.deleted) == (1, 2, 1, 5)
    after = keys(client, name)
    assert sorted(after) == [
        "tiles/3/0/0.png",
        "tiles/3/1/0.png",
        "tiles/3/2/0.png",
        "tiles/4/0/0.png",
    ]
    # The unchanged tile was not uploaded again.
    assert client.head_object(Bucket=name, Key="tiles/3/0/0.png")["Metadata"] == {"m": "1"}
    body = client.get_object(Bucket=name, Key="tiles/3/2/0.png")["Body"].read()
    assert body == b"tile X"


def test_a_missing_bucket_is_a_store_error(moto_server: str, bucket: tuple[str, Any]) -> None:
    store = s3_tiles("s3://no-such-bucket-here/tiles", moto_server)
    with pytest.raises(StoreError):
        store.listing()
