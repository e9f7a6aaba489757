"""One file store: a flat namespace of files under a directory or an S3 bucket prefix.

Every user of files that outlive a request writes through it: the raw archive of the ``file``
and ``s3`` export targets, the public cell exports listed on ``/downloads``, the ndt7 result
archive, and the map tiles (:mod:`netatlas.storage.tiles`). Names are relative
``/``-separated paths; a store never sees an absolute path or ``..``. The S3 implementation is
in :mod:`netatlas.storage.s3`; :func:`store_from_url` picks one from a URL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

import msgspec

if TYPE_CHECKING:
    from netatlas.storage.s3 import S3Store


class StoreError(Exception):
    """The store could not write, read or list (the target is down or misconfigured)."""


class StoredFile(msgspec.Struct, frozen=True):
    name: str  # relative to the store's root
    size: int  # bytes
    modified: dt.datetime  # UTC, aware


@dataclass(frozen=True)
class Checksum:
    size: int
    md5: str  # hex digest of the content


@dataclass(frozen=True)
class Upload:
    """One file to write; the content type and cache header only matter on S3 (served from
    the bucket); empty: none is set."""

    name: str
    data: bytes
    content_type: str = ""
    cache_control: str = ""


def everything(name: str) -> bool:
    """The default filter of :meth:`FileStore.checksums`: every name."""
    return True


class FileStore(Protocol):
    """A flat namespace of files, keyed by relative path."""

    @property
    def url(self) -> str:
        """A stable name of the store (``file:///…`` or ``s3://bucket/prefix/``)."""

    def put(self, name: str, data: bytes) -> None:
        """Write ``data`` under ``name``, replacing any file there; all or nothing."""

    def put_file(self, name: str, path: Path) -> None:
        """Copy a finished local file to ``name``; all or nothing."""

    def put_many(self, uploads: Sequence[Upload]) -> None:
        """Write each upload as :meth:`put` does (on S3, several at a time)."""

    def list(self, prefix: str = "") -> list[StoredFile]:
        """Files whose names start with ``prefix``."""

    def checksums(
        self, names: Collection[str] | None = None, keep: Callable[[str], bool] = everything
    ) -> dict[str, Checksum]:
        """Size and MD5 of the files ``keep`` accepts: all of them, or those of ``names``
        that exist."""

    def open(self, name: str) -> IO[bytes]:
        """A binary reader of one file; FileNotFoundError when it does not exist."""

    def read(self, name: str) -> bytes | None:
        """The content of one file, or None when it does not exist."""

    def delete(self, name: str) -> None:
        """Remove a file; no error when it is already gone."""

    def delete_many(self, names: Sequence[str]) -> None:
        """Remove these files; names already gone are no error."""


def check_name(name: str) -> str:
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not a relative file name: {name!r}")
    return name


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def atomic_write(
    target: Path,
    fill: Callable[[IO[bytes]], object],
    *,
    mode: int | None = None,
    durable: bool = True,
    check: Callable[[Path], None] | None = None,
) -> None:
    """Write ``target`` through a temporary file in its folder that is renamed into place, so
    a reader (or a crash) never sees half a file. ``mode``: the file's permissions (else the
    owner's only); ``durable``: on disk before the rename; ``check``: called on ``target``
    once its folder exists. OSError becomes StoreError."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if check is not None:
            check(target)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                fill(out)
                if durable:
                    out.flush()
                    os.fsync(out.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StoreError(f"{target}: {exc}") from exc


class DirectoryStore:
    """Files under a local directory, each written by :func:`atomic_write`.

    With ``confine``, every file must really lie inside that directory: a root outside it, or
    a symbolic link on the way that leads out of it, makes the write (or read) a StoreError.
    ``mode`` and ``durable`` are passed to :func:`atomic_write`.
    """

    def __init__(
        self,
        root: Path,
        confine: Path | None = None,
        *,
        mode: int | None = None,
        durable: bool = True,
    ) -> None:
        self.root = root
        self.confine = confine
        self.mode = mode
        self.durable = durable

    @property
    def url(self) -> str:
        return self.root.resolve().as_uri()

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

    def _write(self, name: str, fill: Callable[[IO[bytes]], object]) -> None:
        # The containment check again once the folders exist: a link may have appeared.
        check = self._inside if self.confine is not None else None
        atomic_write(self._path(name), fill, mode=self.mode, durable=self.durable, check=check)

    def put(self, name: str, data: bytes) -> None:
        self._write(name, lambda out: out.write(data))

    def put_file(self, name: str, path: Path) -> None:
        def fill(out: IO[bytes]) -> None:
            with path.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)

        self._write(name, fill)

    def put_many(self, uploads: Sequence[Upload]) -> None:
        for upload in uploads:
            self.put(upload.name, upload.data)

    def _names(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(".")]

    def list(self, prefix: str = "") -> list[StoredFile]:
        found: list[StoredFile] = []
        for path in self._names():
            name = path.relative_to(self.root).as_posix()
            if name.startswith(prefix):
                st = path.stat()
                when = dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)
                found.append(StoredFile(name, st.st_size, when))
        return sorted(found, key=lambda f: f.name)

    def checksums(
        self, names: Collection[str] | None = None, keep: Callable[[str], bool] = everything
    ) -> dict[str, Checksum]:
        if names is None:
            names = [p.relative_to(self.root).as_posix() for p in self._names()]
        found: dict[str, Checksum] = {}
        for name in names:
            if not keep(name):
                continue
            data = self.read(name)
            if data is not None:
                found[name] = Checksum(len(data), md5_hex(data))
        return found

    def open(self, name: str) -> IO[bytes]:
        try:
            path = self._path(name)
        except StoreError as exc:
            raise FileNotFoundError(name) from exc
        return path.open("rb")

    def read(self, name: str) -> bytes | None:
        try:
            with self.open(name) as reader:
                return reader.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StoreError(f"{self.root}: {exc}") from exc

    def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: {exc}") from exc

    def delete_many(self, names: Sequence[str]) -> None:
        for name in names:
            self.delete(name)


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # as written in the URL, slashes and all


def local_path(url: str) -> Path:
    """The path of a ``file://`` URL, or of a bare path, as written."""
    return Path(url[len("file://") :] if url.startswith("file://") else url)


def parse_url(url: str) -> S3Location | Path:
    """``s3://bucket/prefix`` → an S3Location; ``file://path`` or a bare path → that path
    (a relative one is for the caller to place, usually under the data dir)."""
    if url.startswith("s3://"):
        parts = urlsplit(url)
        if not parts.netloc:
            raise ValueError(f"no bucket in {url!r}")
        return S3Location(parts.netloc, parts.path)
    return local_path(url)


def s3_store(location: S3Location, endpoint_url: str = "") -> S3Store:
    from netatlas.storage.s3 import S3Store

    return S3Store(location.bucket, location.prefix, endpoint_url)


def confined_store(url: str, data_dir: Path) -> DirectoryStore:
    """The directory of a ``file`` export target: under ``data_dir``, and only there. A URL
    that names another place (absolute, ``..``, a symbolic link out) gives a store whose
    every write fails, saying why: the target's failures show it, nothing is written."""
    return DirectoryStore(data_dir / local_path(url), confine=data_dir)


def store_from_url(url: str, data_dir: Path, s3_endpoint_url: str = "") -> FileStore:
    """``s3://bucket/prefix`` → S3Store; a path (relative to the data dir) → DirectoryStore."""
    where = parse_url(url)
    if isinstance(where, S3Location):
        return s3_store(where, s3_endpoint_url)
    return DirectoryStore(data_dir / where)
