"""``netatlas packs build [REGION …]`` and ``netatlas packs list``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from netatlas.settings import Settings


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "packs",
        help="build or list offline region packs (microG, Local NLP Backend)",
        description=(
            "build writes a pack for each REGION (a country code such as DE, an MCC such as"
            " 262, or bbox:SOUTH,WEST,NORTH,EAST), or for NETATLAS_PACKS_REGIONS when none is"
            " given, into the export store, where /downloads/packs/ serves it."
        ),
    )
    p.add_argument("action", choices=["build", "list"])
    p.add_argument("regions", nargs="*", metavar="REGION")
    wifi = p.add_mutually_exclusive_group()
    wifi.add_argument(
        "--wifi", dest="wifi", action="store_true", default=None, help="add wifi.csv.gz"
    )
    wifi.add_argument("--no-wifi", dest="wifi", action="store_false", help="no wifi.csv.gz")
    return p


def run(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.db.engine import engine_from_settings
    from netatlas.location.packs.build import current_all
    from netatlas.location.packs.region import RegionError, parse_regions
    from netatlas.location.packs.service import build_packs, pack_store
    from netatlas.storage.files import StoreError

    if args.action == "list":
        for m in current_all(pack_store(settings)):
            print(f"{m.pack}\t{m.built}\tcells {m.counts['cells']:,}\twifi {m.counts['wifi']:,}")
        return 0
    try:
        regions = parse_regions(" ".join(args.regions) if args.regions else settings.packs_regions)
    except RegionError as exc:
        print(f"packs: {exc}", file=sys.stderr)
        return 2
    if not regions:
        print("packs: no region given and NETATLAS_PACKS_REGIONS is empty", file=sys.stderr)
        return 2
    engine = engine_from_settings(settings, pooled=False)
    try:
        manifests = build_packs(engine, settings, regions, wifi=args.wifi)
    except StoreError as exc:
        print(f"packs: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    for m in manifests:
        sizes = sum(f.size for f in m.files)
        print(
            f"{m.pack}: {m.counts['cells']:,} cells, {m.counts['wifi']:,} WiFi access points,"
            f" {len(m.files)} files, {sizes:,} bytes (build {m.build})"
        )
    return 0
