"""The directory tile store, store selection, and the size + MD5 sync on top of it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from netatlas.datamap.publish import sync
from netatlas.settings import Settings
from netatlas.storage.files import Checksum, md5_hex
from netatlas.storage.s3 import S3Store
from netatlas.storage.tiles import (
    DirectoryTileStore,
    is_tile_path,
    local_tile_dir,
    open_store,
    parse_zooms,
)


def test_tile_paths() -> None:
    assert is_tile_path("0/0/0.png") and is_tile_path("11/2047/0.png")
    assert is_tile_path("0/0/0@2x.png")
    assert not is_tile_path("1/0/0@2x.png")
    assert not is_tile_path("1/2/0.png")  # x out of range at zoom 1
    assert not is_tile_path("../0/0.png") and not is_tile_path("data.json")


def test_directory_store(tmp_path: Path) -> None:
    store = DirectoryTileStore(tmp_path / "tiles")
    assert store.listing() == {} and store.read("1/0/1.png") is None
    store.write([("1/0/1.png", b"one"), ("2/3/3.png", b"two"), ("data.json", b"{}")])
    assert store.read("1/0/1.png") == b"one"
    assert store.listing() == {
        "1/0/1.png": Checksum(3, md5_hex(b"one")),
        "2/3/3.png": Checksum(3, md5_hex(b"two")),
    }
    assert list(store.listing(["2/3/3.png", "5/0/0.png"])) == ["2/3/3.png"]
    store.delete(["1/0/1.png", "4/0/0.png"])
    assert list(store.listing()) == ["2/3/3.png"]
    assert not list((tmp_path / "tiles").rglob(".*"))  # no temporary files left
    with pytest.raises(ValueError):
        store.write([("../escape.png", b"x")])


def test_store_selection(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    default = open_store("", settings)
    assert isinstance(default, DirectoryTileStore) and default.root == tmp_path / "tiles"
    assert local_tile_dir(settings) == tmp_path / "tiles"
    relative = open_store("public/tiles", settings)
    assert isinstance(relative, DirectoryTileStore)
    assert relative.root == tmp_path / "public/tiles"
    s3 = open_store("s3://bucket/some/prefix", settings)
    assert isinstance(s3.files, S3Store) and s3.url == "s3://bucket/some/prefix/"
    assert local_tile_dir(dataclasses.replace(settings, tiles_store="s3://bucket/x")) is None
    with pytest.raises(ValueError):
        open_store("s3:///no-bucket", settings)


def test_sync_uploads_only_what_changed_and_deletes_stale_tiles(tmp_path: Path) -> None:
    store = DirectoryTileStore(tmp_path)
    first = sync(store, [("1/0/0.png", b"a"), ("1/1/0.png", b"bb"), ("1/1/1.png", b"c")])
    assert (first.new, first.changed, first.unchanged, first.deleted) == (3, 0, 0, 0)
    assert first.rendered_bytes == 4 and first.tiles_delta == 3

    second = sync(store, [("1/0/0.png", b"a"), ("1/1/0.png", b"BB"), ("2/0/0.png", b"dd")])
    assert (second.new, second.changed, second.unchanged, second.deleted) == (1, 1, 1, 1)
    assert second.uploaded_bytes == 4 and second.bytes_delta == 2 - 1
    assert sorted(store.listing()) == ["1/0/0.png", "1/1/0.png", "2/0/0.png"]
    assert store.read("1/1/0.png") == b"BB"

    # A scoped sync only looks at its paths: others stay, even when not drawn.
    scoped = sync(store, [("1/0/0.png", b"A")], scope=["1/0/0.png", "2/0/0.png", "3/0/0.png"])
    assert (scoped.changed, scoped.deleted) == (1, 1)
    assert sorted(store.listing()) == ["1/0/0.png", "1/1/0.png"]


def test_zoom_ranges() -> None:
    assert parse_zooms("0-11") == (0, 11) and parse_zooms("7") == (7, 7)
    for bad in ("11-0", "0-14", "x", "-1", "0-"):
        with pytest.raises(ValueError):
            parse_zooms(bad)
