"""The export file store: a directory and an S3 bucket behave alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netatlas.storage.files import (
    DirectoryStore,
    FileStore,
    S3Store,
    StoreError,
    check_name,
    store_from_url,
)


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
