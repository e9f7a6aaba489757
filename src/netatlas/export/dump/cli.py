"""``netatlas dump build``: write the day's WiFi/Bluetooth dump (docs/dump.md)."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

import msgspec

from netatlas.export.dump.service import build_dump, data_name, publish_dump
from netatlas.jobs.context import Context
from netatlas.settings import Settings


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "dump",
        help="build the privacy-preserving WiFi/Bluetooth dump",
        description=(
            "build: write today's dump and manifest to the export store (served at"
            " /downloads/dump/), or with --out to a local directory only."
        ),
    )
    p.add_argument("action", choices=["build"])
    p.add_argument("--out", type=Path, help="write the files into this directory instead")
    p.add_argument("--date", type=dt.date.fromisoformat, help="the day (YYYY-MM-DD; default today)")
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    ctx = Context.from_settings(settings)
    day = args.date or dt.datetime.now(dt.UTC).date()
    try:
        if args.out is None:
            manifest = publish_dump(ctx, day)
            where = "the export store (dump/)"
        else:
            data, manifest = build_dump(ctx, day)
            args.out.mkdir(parents=True, exist_ok=True)
            name = data_name(day.isoformat())
            (args.out / name).write_bytes(data)
            encoded = msgspec.json.format(msgspec.json.encode(manifest))
            (args.out / name.replace(".csv.gz", ".json")).write_bytes(encoded + b"\n")
            where = str(args.out)
    finally:
        ctx.engine.dispose()
    c = manifest.counts
    print(
        f"wrote {manifest.file} to {where}: {c.wifi} WiFi, {c.blue} Bluetooth in {c.cells} cells"
        f" of {manifest.grid_metres:g} m (k={manifest.k}; {c.withheld} of {c.candidates}"
        f" publishable stations withheld), {manifest.size} bytes"
    )
    return 0
