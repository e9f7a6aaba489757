"""The file store: a directory and an S3 bucket behave alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netatlas.settings import Settings
from netatlas.storage.files import (
    Checksum,
    DirectoryStore,
    FileStore,
    StoreError,
    Upload,
    check_name,
    md5_hex,
    store_from_url,
)
from netatlas.storage.s3 import S3Store
from netatlas.storage.tiles import DirectoryTileStore, open_store


@pytest.fixture(params=["directory", "s3"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, moto_endpoint: str
) -> Iterator[FileStore]:
    if request.param == "directory":
        yield DirectoryStore(tmp_path / "files")
        return
    bucket, _ = request.getfixturevalue("s3_bucket")
    yield S3Store(bucket, "some/prefix", moto_endpoint)


def test_put_list_open_delete(store: FileStore, tmp_path: Path) -> None:
    assert store.list() == []
    store.put("a/b/one.json.gz", b"one")
    source = tmp_path / "two"
    source.write_bytes(b"two" * 1000)
    store.put_file("two.csv.gz", source)
    store.put("a/b/one.json.gz", b"ONE")  # replaced
    files = store.list()
    assert [(f.name, f.size) for f in files] == [("a/b/one.json.gz", 3), ("two.csv.gz", 3000)]
    assert files[0].modified.tzinfo is not None
    assert [f.name for f in store.list("a/")] == ["a/b/one.json.gz"]
    with store.open("a/b/one.json.gz") as f:
        assert f.read() == b"ONE"
    with pytest.raises(FileNotFoundError):
        store.open("missing")
    store.delete("two.csv.gz")
    store.delete("two.csv.gz")
    assert [f.name for f in store.list()] == ["a/b/one.json.gz"]


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"])
def test_names_stay_inside(name: str) -> None:
    with pytest.raises(ValueError):
        check_name(name)


def test_directory_writes_leave_no_partial_files(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    store.put("x/y.gz", b"data")
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["y.gz"]
    (tmp_path / "x" / "z").write_bytes(b"")  # a file where a folder must go
    with pytest.raises(StoreError):
        store.put("x/z/w.gz", b"data")
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["y.gz", "z"]


def test_a_missing_bucket_is_a_store_error(s3_bucket: tuple[str, Any], moto_endpoint: str) -> None:
    store = S3Store("no-such-bucket-here", "", moto_endpoint)
    with pytest.raises(StoreError):
        store.put("x", b"x")


def test_store_from_url(tmp_path: Path, s3_bucket: tuple[str, Any]) -> None:
    local = store_from_url("exports", tmp_path)
    assert isinstance(local, DirectoryStore) and local.root == tmp_path / "exports"
    absolute = store_from_url(f"file://{tmp_path}/abs", tmp_path / "elsewhere")
    assert isinstance(absolute, DirectoryStore) and absolute.root == tmp_path / "abs"
    remote = store_from_url("s3://bucket/pre/fix", tmp_path)
    assert isinstance(remote, S3Store)
    assert (remote.bucket, remote.prefix) == ("bucket", "pre/fix/")
    with pytest.raises(ValueError):
        store_from_url("s3:///nobucket", tmp_path)


def test_checksums_and_batch_deletes(store: FileStore) -> None:
    store.put_many([Upload("a/one", b"1"), Upload("a/two", b"22"), Upload("b.txt", b"333")])
    assert store.checksums() == {
        "a/one": Checksum(1, md5_hex(b"1")),
        "a/two": Checksum(2, md5_hex(b"22")),
        "b.txt": Checksum(3, md5_hex(b"333")),
    }
    assert list(store.checksums(["a/two", "a/none", "b.txt"])) == ["a/two", "b.txt"]
    assert list(store.checksums(keep=lambda name: name.startswith("a/"))) == ["a/one", "a/two"]
    assert store.read("a/two") == b"22" and store.read("a/none") is None
    store.delete_many(["a/one", "b.txt", "gone"])
    assert [f.name for f in store.list()] == ["a/two"]


def test_export_files_stay_private_and_tiles_are_readable(tmp_path: Path) -> None:
    store_from_url("exports", tmp_path).put("x.csv.gz", b"x")
    assert (tmp_path / "exports" / "x.csv.gz").stat().st_mode & 0o777 == 0o600
    DirectoryTileStore(tmp_path / "tiles").write([("0/0/0.png", b"png")])
    assert (tmp_path / "tiles" / "0" / "0" / "0.png").stat().st_mode & 0o777 == 0o644


def test_s3_objects_get_headers_only_when_asked(
    s3_bucket: tuple[str, Any], moto_endpoint: str
) -> None:
    bucket, client = s3_bucket
    store = S3Store(bucket, "p", moto_endpoint)
    store.put("plain.json.gz", b"x")
    store.put_many([Upload("page.json", b"{}", "application/json", "public, max-age=60")])
    plain = client.head_object(Bucket=bucket, Key="p/plain.json.gz")
    assert "CacheControl" not in plain and plain["ContentType"] != "application/json"
    page = client.head_object(Bucket=bucket, Key="p/page.json")
    assert (page["ContentType"], page["CacheControl"]) == ("application/json", "public, max-age=60")


def test_exports_and_tiles_share_one_s3_client_configuration(tmp_path: Path) -> None:
    files = store_from_url("s3://bucket/exports", tmp_path, "http://127.0.0.1:9")
    tiles = open_store("s3://bucket/tiles", Settings(data_dir=tmp_path))
    assert isinstance(files, S3Store) and isinstance(tiles.files, S3Store)
    config, other = files.client.meta.config, tiles.files.client.meta.config
    assert config.retries == other.retries and config.retries["mode"] == "standard"
    assert config.connect_timeout == other.connect_timeout == 10
