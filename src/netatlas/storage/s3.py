"""The file store in an S3 bucket (AWS, MinIO, or any S3-compatible endpoint).

Ichnaea compatibility (scripts/datamap.py), for the tiles: checksums come from one listing
(the size and the ETag, which is the MD5 of a single-part upload), several files are uploaded at
a time, twice as many threads as cores since uploads mostly wait on the network, and deletes go
out in batches of up to 1,000 keys (S3's DeleteObjects limit).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from netatlas.storage.files import (
    Checksum,
    StoredFile,
    StoreError,
    Upload,
    check_name,
    everything,
)

DELETE_BATCH = 1000


def upload_concurrency() -> int:
    return 2 * (os.cpu_count() or 1)


def s3_client(endpoint_url: str = "") -> Any:
    """A boto3 S3 client; credentials come from boto3's usual chain (environment, config
    files, instance role)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=10,
        max_pool_connections=upload_concurrency(),
    )
    return boto3.client("s3", endpoint_url=endpoint_url or None, config=config)


class S3Store:
    """Objects under ``s3://bucket/prefix``."""

    def __init__(
        self, bucket: str, prefix: str = "", endpoint_url: str = "", *, client: Any = None
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client if client is not None else s3_client(endpoint_url)
        self.concurrency = upload_concurrency()

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, name: str) -> str:
        return self.prefix + check_name(name)

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

    def put(self, name: str, data: bytes) -> None:
        self._put(Upload(name, data))

    def _put(self, upload: Upload) -> None:
        headers = {}
        if upload.content_type:
            headers["ContentType"] = upload.content_type
        if upload.cache_control:
            headers["CacheControl"] = upload.cache_control
        self._call("put_object", Key=self._key(upload.name), Body=upload.data, **headers)

    def put_file(self, name: str, path: Path) -> None:
        with path.open("rb") as body:
            self._call("put_object", Key=self._key(name), Body=body)

    def put_many(self, uploads: Sequence[Upload]) -> None:
        if len(uploads) <= 1:
            for upload in uploads:
                self._put(upload)
            return
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="store-s3") as pool:
            for _ in pool.map(self._put, uploads):
                pass

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=prefix, **extra)
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def list(self, prefix: str = "") -> list[StoredFile]:
        found: list[StoredFile] = []
        for obj in self._objects(self.prefix + prefix):
            name = obj["Key"][len(self.prefix) :]
            found.append(StoredFile(name, int(obj["Size"]), obj["LastModified"]))
        return sorted(found, key=lambda f: f.name)

    def checksums(
        self, names: Collection[str] | None = None, keep: Callable[[str], bool] = everything
    ) -> dict[str, Checksum]:
        # One listing request covers 1,000 objects, far cheaper than a HEAD per wanted name.
        wanted = None if names is None else set(names)
        found: dict[str, Checksum] = {}
        for obj in self._objects(self.prefix):
            name = obj["Key"][len(self.prefix) :]
            if not keep(name) or (wanted is not None and name not in wanted):
                continue
            # A multipart ETag ("…-2") is no MD5; it never matches a content's MD5.
            found[name] = Checksum(int(obj["Size"]), str(obj["ETag"]).strip('"'))
        return found

    def open(self, name: str) -> IO[bytes]:
        body: IO[bytes] = self._call("get_object", Key=self._key(name))["Body"]
        return body

    def read(self, name: str) -> bytes | None:
        try:
            body = self.open(name)
        except FileNotFoundError:
            return None
        data: bytes = body.read()
        return data

    def delete(self, name: str) -> None:
        self._call("delete_object", Key=self._key(name))

    def delete_many(self, names: Sequence[str]) -> None:
        for start in range(0, len(names), DELETE_BATCH):
            keys = [{"Key": self._key(n)} for n in names[start : start + DELETE_BATCH]]
            answer = self._call("delete_objects", Delete={"Objects": keys, "Quiet": True})
            if answer.get("Errors"):
                raise StoreError(f"{self.url}: could not delete {answer['Errors'][:3]}")
