"""The ``netatlas`` command. Every subcommand reads the same ``NETATLAS_*`` settings."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from netatlas.settings import Settings, describe


def _upgrade(settings: Settings) -> None:
    from netatlas.db.engine import engine_from_settings
    from netatlas.db.migrate import upgrade

    engine = engine_from_settings(settings, pooled=False)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


def _weak_secret(settings: Settings) -> bool:
    """Say so (and return True) when the configured secret is a placeholder or too short."""
    from netatlas.http.secret import WeakSecret, check_secret

    try:
        check_secret(settings.secret_key)
    except WeakSecret as exc:
        print(f"netatlas: refusing to start: {exc}", file=sys.stderr)
        return True
    return False


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from netatlas.http.logging import uvicorn_log_config

    if _weak_secret(settings):
        return 2
    _upgrade(settings)
    if settings.demo:
        from netatlas.demo import seed_once

        if seed_once(settings):
            print("first start: demo data queued (NETATLAS_DEMO=false to skip)")
    uvicorn.run(
        "netatlas.app:create_app",
        factory=True,
        host=args.host or settings.host,
        port=settings.port if args.port is None else args.port,  # 0: any free port
        workers=args.workers,
        log_level=settings.log_level,
        log_config=uvicorn_log_config(settings),
        access_log=False,
        ws_per_message_deflate=False,  # ndt7 measures raw throughput: never compress
    )
    return 0


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    _upgrade(settings)
    print("database is at the latest revision")
    return 0


def cmd_process(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.features import process_until_idle
    from netatlas.jobs.context import Context

    _upgrade(settings)
    ctx = Context.from_settings(settings)
    rounds = process_until_idle(ctx)
    print(f"queues empty after {rounds} round(s)")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.features import job_table
    from netatlas.jobs.celery_app import make_celery

    if _weak_secret(settings):
        return 2
    if not settings.redis_url:
        print("netatlas worker needs NETATLAS_REDIS_URL (the Celery broker)", file=sys.stderr)
        return 2
    _upgrade(settings)
    argv = ["worker", "--loglevel", settings.log_level, "--concurrency", str(args.concurrency)]
    make_celery(job_table(), settings).worker_main(argv)
    return 0


def cmd_beat(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.features import job_table
    from netatlas.jobs.celery_app import make_celery

    if _weak_secret(settings):
        return 2
    if not settings.redis_url:
        print("netatlas beat needs NETATLAS_REDIS_URL (the Celery broker)", file=sys.stderr)
        return 2
    schedule = str(settings.data_dir / "celerybeat-schedule")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    make_celery(job_table(), settings).start(
        ["beat", "--loglevel", settings.log_level, "-s", schedule]
    )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.db.engine import engine_from_settings
    from netatlas.demo import queue_demo
    from netatlas.queue import make_queue

    _upgrade(settings)
    engine = engine_from_settings(settings, pooled=False)
    count = queue_demo(make_queue(settings, engine), reports=args.reports, engine=engine)
    engine.dispose()
    print(f"queued {count} demo reports; they are processed by the jobs")
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    print(describe())
    return 0


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.location import keyadmin

    _upgrade(settings)
    return keyadmin.run(args, settings)


def cmd_exports(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.export import cli as admin

    _upgrade(settings)
    return admin.run_exports(args, settings)


def cmd_cells(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.export import cli as admin

    _upgrade(settings)
    return admin.run_cells(args, settings)


def cmd_dump(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.export.dump import cli as command

    return command.run(args, settings)


def cmd_admin(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.admin import cli as command

    _upgrade(settings)
    return command.run(args, settings)


def cmd_tiles(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.datamap import cli as command

    _upgrade(settings)
    return command.run(args, settings)


def cmd_packs(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.location.packs import cli as command

    _upgrade(settings)
    return command.run(args, settings)


def cmd_ndt7(args: argparse.Namespace, settings: Settings) -> int:
    from netatlas.broadband.ndt7.worker import serve

    if _weak_secret(settings):
        return 2
    _upgrade(settings)
    serve(settings, args.host or settings.host, args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netatlas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the web service (and, embedded, the jobs)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("db", help="database maintenance")
    p.add_argument("action", choices=["upgrade"])
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("process", help="run the pipeline jobs")
    p.add_argument("--until-idle", action="store_true", required=True)
    p.set_defaults(func=cmd_process)

    p = sub.add_parser("worker", help="run a Celery worker (scale-out)")
    p.add_argument("--concurrency", type=int, default=2)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("beat", help="run the Celery scheduler (scale-out)")
    p.set_defaults(func=cmd_beat)

    p = sub.add_parser("demo", help="queue demo data (a simulated town)")
    p.add_argument("--reports", type=int, default=2000)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("settings", help="print the settings table")
    p.set_defaults(func=cmd_settings)

    from netatlas.location.keyadmin import add_parser as add_keys_parser

    add_keys_parser(sub).set_defaults(func=cmd_keys)

    from netatlas.datamap.cli import add_parser as add_tiles_parser

    add_tiles_parser(sub).set_defaults(func=cmd_tiles)

    from netatlas.export.cli import add_parsers as add_export_parsers

    exports, cells = add_export_parsers(sub)
    exports.set_defaults(func=cmd_exports)
    cells.set_defaults(func=cmd_cells)

    from netatlas.export.dump.cli import add_parser as add_dump_parser

    add_dump_parser(sub).set_defaults(func=cmd_dump)
    from netatlas.location.packs.cli import add_parser as add_packs_parser

    add_packs_parser(sub).set_defaults(func=cmd_packs)

    p = sub.add_parser("ndt7", help="serve the ndt7 speed test in a process of its own")
    p.add_argument("--host")
    p.add_argument("--port", type=int, required=True)
    p.set_defaults(func=cmd_ndt7)

    from netatlas.broadband.mlab.cli import add_parsers as add_broadband_parsers

    add_broadband_parsers(sub)  # mlab import|bigquery, areas import|list, aggregate, retention

    from netatlas.broadband.challenge.cli import add_parser as add_challenge_parser

    add_challenge_parser(sub)  # challenge export

    from netatlas.broadband.opendata import add_parser as add_opendata_parser

    add_opendata_parser(sub)  # opendata publish

    from netatlas.admin.cli import add_parser as add_admin_parser

    add_admin_parser(sub).set_defaults(func=cmd_admin)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from netatlas.http.logging import configure_logging

    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings)
    result: int = args.func(args, settings)
    return result


if __name__ == "__main__":
    sys.exit(main())
