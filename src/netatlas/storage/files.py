"""Where export files go: a directory under the data dir, or an S3 bucket.

The same small store holds two kinds of files: the raw archive written by ``file`` and ``s3``
export targets, and the public cell exports listed on ``/downloads``. Names are relative
``/``-separated paths; a store never sees an absolute path or ``..``.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import msgspec


class StoreError(Exception):
    """The store could not write, read or list (the target is down or misconfigured)."""


class StoredFile(msgspec.Struct, frozen=True):
    name: str  # relative to the store's root
    size: int  # bytes
    modified: dt.datetime  # UTC, aware


class FileStore(Protocol):
    """A flat namespace of files, keyed by relative path."""

    def put(self, name: str, data: bytes) -> None:
        """Write ``data`` under ``name``, replacing any file there; all or nothing."""

    def put_file(self, name: str, path: Path) -> None:
        """Copy a finished local file to ``name``; all or nothing."""

    def list(self, prefix: str = "") -> list[StoredFile]:
        """Files whose names start with ``prefix``."""

    def open(self, name: str) -> IO[bytes]:
        """A binary reader of one file; FileNotFoundError when it does not exist."""

    def delete(self, name: str) -> None:
        """Remove a file; no error when it is already gone."""


def check_name(name: str) -> str:
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a relative file name: {name!r}")
    return name


class DirectoryStore:
    """Files under a local directory. Writes go to a temporary file that is renamed into place,
    so a reader (or a crash) never sees half a file.

    With ``confine``, every file must really lie inside that directory: a root outside it, or
    a symbolic link on the way that leads out of it, makes the write (or read) a StoreError.
    """

    def __init__(self, root: Path, confine: Path | None = None) -> None:
        self.root = root
        self.confine = confine

    def _inside(self, path: Path) -> None:
        if self.confine is None:
            return
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(os.path.realpath(self.confine)):
            raise StoreError(f"{path} leads outside the data directory {self.confine}")

    def _path(self, name: str) -> Path:
        path = self.root / check_name(name)
        self._inside(path)
        return path

    def _write(self, name: str, fill: Any) -> None:
        target = self._path(name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._inside(target)  # again: a link may have appeared on the way meanwhile
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    fill(out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"{target}: {exc}") from exc

    def put(self, name: str, data: bytes) -> None:
        self._write(name, lambda out: out.write(data))

    def put_file(self, name: str, path: Path) -> None:
        def fill(out: IO[bytes]) -> None:
            with path.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)

        self._write(name, fill)

    def list(self, prefix: str = "") -> list[StoredFile]:
        found: list[StoredFile] = []
        if not self.root.is_dir():
            return found
        for path in self.root.rglob("*"):
            if not path.is_file() or path.name.startswith("."):
                continue
            name = path.relative_to(self.root).as_posix()
            if name.startswith(prefix):
                st = path.stat()
                when = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)
                found.append(StoredFile(name, st.st_size, when))
        return sorted(found, key=lambda f: f.name)

    def open(self, name: str) -> IO[bytes]:
        try:
            path = self._path(name)
        except StoreError as exc:
            raise FileNotFoundError(name) from exc
        return path.open("rb")

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)


class S3Store:
    """Objects under ``s3://bucket/prefix``; credentials come from boto3's usual chain
    (environment, config files, instance role)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str = "") -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=10),
        )

    def _key(self, name: str) -> str:
        return self.prefix + check_name(name)

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(kwargs.get("Key")) from exc
            raise StoreError(f"s3://{self.bucket}: {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"s3://{self.bucket}: {exc}") from exc

    def put(self, name: str, data: bytes) -> None:
        self._call("put_object", Key=self._key(name), Body=data)

    def put_file(self, name: str, path: Path) -> None:
        with path.open("rb") as body:
            self._call("put_object", Key=self._key(name), Body=body)

    def list(self, prefix: str = "") -> list[StoredFile]:
        found: list[StoredFile] = []
        for obj in self._objects(self.prefix + prefix):
            name = obj["Key"][len(self.prefix) :]
            found.append(StoredFile(name, int(obj["Size"]), obj["LastModified"]))
        return sorted(found, key=lambda f: f.name)

    def _objects(self, prefix: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=prefix, **extra)
            yield from page.get("Contents", [])
            if not page.get("IsTruncated"):
                return
            token = page["NextContinuationToken"]

    def open(self, name: str) -> IO[bytes]:
        body: IO[bytes] = self._call("get_object", Key=self._key(name))["Body"]
        return body

    def delete(self, name: str) -> None:
        self._call("delete_object", Key=self._key(name))


def confined_store(url: str, data_dir: Path) -> DirectoryStore:
    """The directory of a ``file`` export target: under ``data_dir``, and only there. A URL
    that names another place (absolute, ``..``, a symbolic link out) gives a store whose
    every write fails, saying why: the target's failures show it, nothing is written."""
    path = url[len("file://") :] if url.startswith("file://") else url
    return DirectoryStore(data_dir / path, confine=data_dir)


def store_from_url(url: str, data_dir: Path, s3_endpoint_url: str = "") -> FileStore:
    """``s3://bucket/prefix`` → S3Store; a path (relative to the data dir) → DirectoryStore."""
    if url.startswith("s3://"):
        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError(f"no bucket in {url!r}")
        return S3Store(parts.netloc, parts.path, s3_endpoint_url)
    if url.startswith("file://"):
        url = url[len("file://") :]
    path = Path(url)
    return DirectoryStore(path if path.is_absolute() else data_dir / path)
