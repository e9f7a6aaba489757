"""Commands: ``netatlas mlab import|bigquery``, ``netatlas areas import|list``,
``netatlas aggregate [--rebuild]``, ``netatlas retention``."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from netatlas.settings import Settings

__all__ = ["add_parsers"]


def _engine(settings: Settings) -> Any:
    from netatlas.db.engine import engine_from_settings
    from netatlas.db.migrate import upgrade

    engine = engine_from_settings(settings, pooled=False)
    upgrade(engine)
    return engine


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_mlab_import(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.broadband.mlab.importer import import_paths
    from netatlas.geo.asn import asn_from_path
    from netatlas.geo.geoip import MaxMindGeoIP

    engine = _engine(settings)
    geoip = MaxMindGeoIP(settings.geoip_city_path) if settings.geoip_city_path else None
    started = time.monotonic()
    try:
        report = import_paths(engine, args.paths, asn_from_path(settings.geoip_asn_path), geoip)
    finally:
        if geoip is not None:
            geoip.close()
        engine.dispose()
    seconds = time.monotonic() - started
    print(f"{report.summary()} in {seconds:.1f} s")
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def cmd_mlab_bigquery(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.broadband.mlab.bigquery import BBox, GoogleBigQuery, build_query, import_bigquery

    try:
        bbox = BBox.parse(args.bbox or settings.mlab_bbox)
    except ValueError as exc:
        print(f"--bbox: {exc}", file=sys.stderr)
        return 2
    if args.print_query:
        sql, params = build_query(bbox, args.since or date.today(), args.until or date.today())
        print(sql)
        print(params)
        return 0
    project = args.project or settings.bigquery_project
    if not project:
        print("give --project or set NETATLAS_BIGQUERY_PROJECT", file=sys.stderr)
        return 2
    try:
        runner = GoogleBigQuery(project)
    except RuntimeError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    engine = _engine(settings)
    try:
        run = import_bigquery(engine, runner, bbox, since=args.since, until=args.until)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if run is None:
        print("nothing new: already imported up to yesterday")
        return 0
    print(f"{run.since} to {run.until}: {run.report.summary()}")
    return 0


def cmd_areas(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.broadband.areas import layer_names
    from netatlas.broadband.areas_import import AreaImportError, import_layer

    engine = _engine(settings)
    try:
        if args.action == "list":
            for name in layer_names(engine):
                print(name)
            return 0
        if not (args.name and args.file and args.key):
            print("usage: netatlas areas import NAME FILE --key PROPERTY", file=sys.stderr)
            return 2
        try:
            result = import_layer(engine, args.name, Path(args.file), args.key, args.name_property)
        except AreaImportError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    finally:
        engine.dispose()
    skipped = ", ".join(f"{r}: {n}" for r, n in result.skipped.items()) or "none"
    print(f"layer {result.name} v{result.version}: {result.areas} areas (skipped: {skipped})")
    return 0


def cmd_aggregate(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.broadband.aggregate.config import ConfigError
    from netatlas.broadband.aggregate.update import update_statistics

    engine = _engine(settings)
    try:
        reports = update_statistics(
            engine, settings.aggregations_path, rebuild=args.rebuild, names=args.name or None
        )
    except ConfigError as exc:
        print(f"NETATLAS_AGGREGATIONS_PATH: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    failed = 0
    for r in reports:
        if r.error:
            failed += 1
            print(f"{r.name}: not updated: {r.error}")
        else:
            how = "rebuilt" if r.rebuilt else "updated"
            where = f" in {r.area}" if r.area else ""
            line = (
                f"{r.name}: {how}, {r.tests} tests into {r.bins} bins"
                f" ({r.unlocated} without an area{where}) in {r.seconds:.1f} s"
            )
            if not r.rebuilt:
                line += f"; in all {r.totals.tests} tests, {r.totals.unlocated} without an area"
            print(line)
    if not reports:
        print("nothing new")
    return 1 if failed else 0


def cmd_retention(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.broadband.retention import run_retention

    engine = _engine(settings)
    try:
        report = run_retention(engine, settings)
    finally:
        engine.dispose()
    print(report.summary())
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def add_parsers(sub: Any) -> None:
    """Add the commands to the ``netatlas`` parser's subcommands."""
    p = sub.add_parser("mlab", help="import M-Lab NDT data")
    msub = p.add_subparsers(dest="mlab_command", required=True)
    q = msub.add_parser("import", help="unified-view rows (NDJSON, CSV, Parquet) or ndt7 results")
    q.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    q.set_defaults(func=cmd_mlab_import)
    q = msub.add_parser("bigquery", help="fetch the unified views for a box from BigQuery")
    q.add_argument("--bbox", default="", help="W,S,E,N (default NETATLAS_MLAB_BBOX)")
    q.add_argument("--since", type=_date, help="first date (default: after the last run)")
    q.add_argument("--until", type=_date, help="last date (default: yesterday)")
    q.add_argument("--project", default="", help="GCP project (NETATLAS_BIGQUERY_PROJECT)")
    q.add_argument("--print-query", action="store_true", help="print the SQL and stop")
    q.set_defaults(func=cmd_mlab_bigquery)

    p = sub.add_parser("areas", help="polygon layers for the statistics")
    p.add_argument("action", choices=["import", "list"])
    p.add_argument("name", nargs="?")
    p.add_argument("file", nargs="?")
    p.add_argument("--key", help="the feature property that names each area")
    p.add_argument("--name-property", help="a property with a readable name")
    p.set_defaults(func=cmd_areas)

    p = sub.add_parser("aggregate", help="update the broadband statistics")
    p.add_argument("--rebuild", action="store_true", help="recompute every bin from scratch")
    p.add_argument("--name", action="append", help="only this aggregation (repeatable)")
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser(
        "retention",
        help="erase old speed-test client addresses, prune old ndt7 result files (once)",
    )
    p.set_defaults(func=cmd_retention)
