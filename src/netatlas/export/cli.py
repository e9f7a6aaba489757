"""``netatlas exports …`` and ``netatlas cells …``: the operator's side of data sharing."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
from pathlib import Path
from typing import Any

from netatlas.export.config import (
    SCHEMAS,
    ConfigError,
    ExportConfig,
    create_config,
    delete_config,
    load_configs,
    split_set,
    update_config,
)
from netatlas.export.delivery import (
    dead_queue,
    inspect_dead,
    load_state,
    purge,
    queue_name,
    replay_dead,
    retry_queue,
)
from netatlas.jobs.context import Context
from netatlas.settings import Settings


def add_parsers(sub: Any) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The ``exports`` and ``cells`` subcommands."""
    p: argparse.ArgumentParser = sub.add_parser(
        "exports",
        help="manage export targets (forwarding, raw archives)",
        description="retry replays the target's dead letters; show lists them.",
    )
    p.add_argument("action", choices=["create", "list", "update", "delete", "retry", "show"])
    p.add_argument("name", nargs="?")
    p.add_argument("--schema", choices=SCHEMAS)
    p.add_argument("--url", help="geosubmit: http(s) URL; s3: s3://bucket/path; file: directory")
    p.add_argument("--batch", type=int, help="submissions per upload")
    p.add_argument("--max-age", type=int, help="seconds before a partial batch is sent")
    p.add_argument("--skip-keys", help="comma-separated API keys not exported")
    p.add_argument("--skip-sources", help="comma-separated sources: fixed, gnss, fused, query")

    c: argparse.ArgumentParser = sub.add_parser("cells", help="import or export cell CSV files")
    c.add_argument("action", choices=["import", "export"])
    c.add_argument("file", type=Path, help="an MLS / OpenCellID CSV file, gzip or not")
    c.add_argument(
        "--origin",
        help="import: the data set's name (default: mls for MLS-*, ocid for cell_towers*)",
    )
    return p, c


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {
        "schema": args.schema,
        "url": args.url,
        "batch": args.batch,
        "max_age": args.max_age,
    }
    if args.skip_keys is not None:
        values["skip_keys"] = split_set(args.skip_keys)
    if args.skip_sources is not None:
        values["skip_sources"] = split_set(args.skip_sources)
    return values


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _show_list(ctx: Context) -> None:
    for config in load_configs(ctx.engine):
        line = f"{config.name}: schema={config.schema}"
        if config.url:
            line += f" url={config.url}"
        line += f" batch={config.batch} max_age={config.max_age}"
        if config.skip_keys:
            line += " skip_keys=" + ",".join(sorted(config.skip_keys))
        if config.skip_sources:
            line += " skip_sources=" + ",".join(sorted(config.skip_sources))
        if config.queued:
            with ctx.engine.connect() as conn:
                state = load_state(conn, config.name)
            q = ctx.queue
            line += (
                f"\n  queued={q.size(queue_name(config.name))}"
                f" retrying={q.size(retry_queue(config.name))}"
                f" dead={q.size(dead_queue(config.name))} delivered_reports={state.reports}"
                f" last_success={_when(state.last_success)}"
            )
            if state.failures:
                line += (
                    f"\n  failing: {state.failures} in a row, next try {_when(state.retry_at)},"
                    f" last error: {state.last_error}"
                )
        print(line)


def run_exports(args: argparse.Namespace, settings: Settings) -> int:
    ctx = Context.from_settings(settings)
    try:
        if args.action == "list":
            _show_list(ctx)
            return 0
        if not args.name:
            print(f"exports {args.action} needs a NAME")
            return 2
        name = args.name
        if args.action == "create":
            fields = {k: v for k, v in _fields(args).items() if v is not None}
            if "schema" not in fields:
                print("exports create needs --schema")
                return 2
            create_config(
                ctx.engine,
                ExportConfig(name=name, **fields),
                allow_private=settings.allow_private_targets,
            )
        elif args.action == "update":
            update_config(
                ctx.engine, name, allow_private=settings.allow_private_targets, **_fields(args)
            )
        elif args.action == "delete":
            delete_config(ctx.engine, name)
            dropped = purge(ctx, name)
            if dropped:
                print(f"dropped {dropped} queued submissions and batches of {name}")
        elif args.action == "retry":
            moved = replay_dead(ctx, name)
            print(f"{moved} dead batches of {name} will be retried by the next export run")
            return 0
        else:
            for dead in inspect_dead(ctx, name):
                print(
                    f"{dead.id}: {dead.attempts} attempts, {dead.submissions} submissions,"
                    f" {dead.reports} reports, failed {_when(dead.failed)}: {dead.error}"
                )
            return 0
        print(f"{args.action}d export {name}")
        return 0
    except ConfigError as exc:
        print(exc)
        return 1
    finally:
        ctx.engine.dispose()


def guess_origin(path: Path) -> str | None:
    name = path.name.lower()
    if name.startswith("mls-"):
        return "mls"
    if name.startswith("cell_towers"):
        return "ocid"
    return None


def run_cells(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.export.downloads import FULL_WINDOW
    from netatlas.geo.regions import get_regions
    from netatlas.location.cells.csvfile import iter_cells, open_text, write_csv
    from netatlas.location.cells.importer import import_rows

    ctx = Context.from_settings(settings)
    try:
        if args.action == "export":
            since = dt.datetime.now(dt.UTC).replace(tzinfo=None) - FULL_WINDOW
            with args.file.open("wb") as out, ctx.engine.connect() as conn:
                conn.execution_options(readonly=True)
                rows = write_csv(iter_cells(conn, since, None, settings.cell_export_origins), out)
            print(f"wrote {rows} cells to {args.file}")
            return 0
        origin = args.origin or guess_origin(args.file)
        if origin is None or not re.match(r"^[A-Za-z0-9_.-]{1,16}$", origin):
            print("give the data set's name with --origin (1-16 letters, digits, '.', '_', '-')")
            return 2
        if not args.file.is_file():
            print(f"no file {args.file}")
            return 2
        started = time.perf_counter()
        with open_text(args.file) as text:
            report = import_rows(ctx.engine, text, origin, get_regions())
        elapsed = time.perf_counter() - started
        print(report.summary())
        print(f"{report.rows / max(elapsed, 1e-9):.0f} rows/s ({elapsed:.1f} s), origin {origin}")
        return 0
    finally:
        ctx.engine.dispose()
