"""``netatlas challenge export``: write a challenge package (zip) for an area and a period."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from netatlas.settings import Settings

__all__ = ["add_parser", "parse_day"]


def parse_day(text: str) -> datetime:
    """A date (YYYY-MM-DD) or a UTC time (ISO 8601) as naive UTC. Raises ValueError."""
    text = text.strip()
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = (moment - (moment.utcoffset() or timedelta())).replace(tzinfo=None)
    return moment


def cmd_challenge(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.broadband.challenge.package import Request, write_package
    from netatlas.broadband.challenge.select import SelectionError, parse_bbox, resolve_area
    from netatlas.db.engine import engine_from_settings
    from netatlas.db.migrate import upgrade

    if bool(args.area) == bool(args.bbox):
        print("give exactly one of --area LAYER:KEY and --bbox W,S,E,N", file=sys.stderr)
        return 2
    try:
        since = parse_day(args.since)
        # A date as the end means the whole of that day.
        until = parse_day(args.until) + (
            timedelta(days=1) if len(args.until) == 10 else timedelta()
        )
    except ValueError as exc:
        print(f"--since/--until: {exc}", file=sys.stderr)
        return 2
    engine = engine_from_settings(settings, pooled=False)
    out = Path(args.out)
    try:
        upgrade(engine)
        if args.area:
            layer, _, key = args.area.rpartition(":")
            area = resolve_area(engine, layer, key)
        else:
            area = parse_bbox(args.bbox)
        req = Request(
            area, since, until, args.timezone or settings.challenge_timezone, args.place_metres
        )
        req.check()
        tmp = out.with_name(out.name + ".part")
        with tmp.open("wb") as f:
            result = write_package(engine, req, f, settings.data_dir)
        tmp.replace(out)
    except SelectionError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(
        f"{out}: {result.tests} tests, {result.places} places "
        f"({result.repeated_places} with tests on two or more days)"
    )
    return 0


def add_parser(sub: Any) -> None:
    """Add ``challenge export`` to the ``netatlas`` parser's subcommands."""
    p = sub.add_parser("challenge", help="evidence packages for a regulator's challenge process")
    csub = p.add_subparsers(dest="challenge_command", required=True)
    q = csub.add_parser("export", help="write the consented tests of an area and period (zip)")
    q.add_argument("--area", help="LAYER:KEY, e.g. counties:53033 or h3:7:872830828ffffff")
    q.add_argument("--bbox", help="W,S,E,N in degrees")
    q.add_argument("--since", required=True, help="first day (YYYY-MM-DD) or UTC time")
    q.add_argument("--until", required=True, help="last day, included (or a UTC time, excluded)")
    q.add_argument("--timezone", default="", help="IANA zone (NETATLAS_CHALLENGE_TIMEZONE)")
    q.add_argument("--place-metres", type=float, default=100.0, help="size of a place (100)")
    q.add_argument("--out", required=True, help="the zip file to write")
    q.set_defaults(func=cmd_challenge)
