"""``netatlas tiles render``: draw the coverage tiles now, into a directory or an S3 prefix."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from netatlas.settings import Settings
from netatlas.storage.tiles import DEFAULT_ZOOMS, parse_zooms


def _zooms(text: str) -> tuple[int, int]:
    try:
        return parse_zooms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("tiles", help="render the coverage map tiles")
    p.add_argument("action", choices=["render"])
    p.add_argument(
        "--out",
        help="a directory or s3://bucket/prefix (default: NETATLAS_TILES_STORE, else "
        "<data dir>/tiles, which `netatlas serve` serves at /tiles)",
    )
    p.add_argument(
        "--zoom",
        type=_zooms,
        default=DEFAULT_ZOOMS,
        help="zoom levels, e.g. 0-11 (the default) or 0-13",
    )
    p.add_argument("--full", action="store_true", help="redraw every tile, not only changed ones")
    p.add_argument(
        "--pngquant",
        action="store_true",
        help="pass tiles through pngquant (Debian package) and keep the smaller files",
    )
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: every `netatlas` command builds this parser, only this one draws tiles.
    from netatlas.datamap.png import pngquant_available
    from netatlas.datamap.render import render_tiles
    from netatlas.datamap.state import Busy
    from netatlas.datamap.tasks import state_dir
    from netatlas.db.engine import engine_from_settings
    from netatlas.storage.files import StoreError
    from netatlas.storage.tiles import open_store

    target = args.out if args.out is not None else settings.tiles_store
    if args.out and not args.out.startswith("s3://"):
        target = str(Path(args.out).resolve())  # --out is relative to where you are
    if args.pngquant and not pngquant_available():
        print("pngquant is not installed; tiles are written as drawn", file=sys.stderr)
    engine = engine_from_settings(settings, pooled=False)
    try:
        store = open_store(target, settings)
        report = render_tiles(
            engine,
            store,
            state_dir(settings),
            zooms=args.zoom,
            full=args.full,
            min_age_hours=settings.datamap_min_age_hours,
            pngquant=args.pngquant,
        )
    except Busy:
        print("another render of this tile store is running", file=sys.stderr)
        return 1
    except (StoreError, ValueError) as exc:
        print(f"tiles: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(
        f"{report.mode} render of {store.url} in {report.seconds:.1f} s: "
        f"{report.cells_changed:,} of {report.cells:,} cells changed, "
        f"{report.rendered:,} tiles drawn ({report.new:,} new, {report.changed:,} changed, "
        f"{report.unchanged:,} unchanged), {report.deleted:,} deleted; "
        f"the store holds {report.tiles:,} tiles, {report.bytes:,} bytes"
    )
    return 0
