"""Tiles in an S3 bucket (AWS, MinIO, or any S3-compatible endpoint).

Ichnaea compatibility (scripts/datamap.py): the sync lists the existing objects with their size
and MD5 (the ETag of a single-part upload), uploads only new and changed tiles, with twice as
many threads as cores since uploads mostly wait on the network, and deletes stale tiles in
batches of up to 1,000 keys (S3's DeleteObjects limit).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from netatlas.storage.tiles import DATA_JSON, StoredTile, StoreError, is_tile_path

DELETE_BATCH = 1000
TILE_MAX_AGE = 600  # seconds; tiles are re-rendered every ten minutes at most
DATA_MAX_AGE = 60


def upload_concurrency() -> int:
    return 2 * (os.cpu_count() or 1)


class S3TileStore:
    """Tiles under ``s3://bucket/prefix``; credentials come from boto3's usual chain."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self.concurrency = upload_concurrency()

    @classmethod
    def from_url(cls, url: str, *, endpoint_url: str = "") -> S3TileStore:
        import boto3
        from botocore.config import Config

        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        config = Config(
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            max_pool_connections=upload_concurrency(),
        )
        client = boto3.client("s3", endpoint_url=endpoint_url or None, config=config)
        return cls(parts.netloc, parts.path, client=client)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(kwargs.get("Key")) from exc
            raise StoreError(f"{self.url}: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"{self.url}: {exc}") from exc

    def _objects(self) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=self.prefix, **extra)
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def listing(self, paths: Collection[str] | None = None) -> dict[str, StoredTile]:
        # One listing request covers 1,000 objects, far cheaper than a HEAD per wanted tile.
        wanted = None if paths is None else set(paths)
        found: dict[str, StoredTile] = {}
        for obj in self._objects():
            path = obj["Key"][len(self.prefix) :]
            if not is_tile_path(path) or (wanted is not None and path not in wanted):
                continue
            # A multipart ETag ("…-2") is no MD5; it never matches, so the tile is re-uploaded.
            found[path] = StoredTile(int(obj["Size"]), str(obj["ETag"]).strip('"'))
        return found

    def read(self, path: str) -> bytes | None:
        try:
            body = self._call("get_object", Key=self.prefix + path)["Body"]
        except FileNotFoundError:
            return None
        data: bytes = body.read()
        return data

    def _put(self, item: tuple[str, bytes]) -> None:
        path, data = item
        if path == DATA_JSON:
            kind, max_age = "application/json", DATA_MAX_AGE
        else:
            kind, max_age = "image/png", TILE_MAX_AGE
        self._call(
            "put_object",
            Key=self.prefix + path,
            Body=data,
            ContentType=kind,
            CacheControl=f"public, max-age={max_age}",
        )

    def write(self, items: Sequence[tuple[str, bytes]]) -> None:
        if len(items) <= 1:
            for item in items:
                self._put(item)
            return
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="tiles-s3") as pool:
            for _ in pool.map(self._put, items):
                pass

    def delete(self, paths: Sequence[str]) -> None:
        for start in range(0, len(paths), DELETE_BATCH):
            keys = [{"Key": self.prefix + p} for p in paths[start : start + DELETE_BATCH]]
            answer = self._call("delete_objects", Delete={"Objects": keys, "Quiet": True})
            if answer.get("Errors"):
                raise StoreError(f"{self.url}: could not delete {answer['Errors'][:3]}")
