"""``netatlas admin set-password [--user NAME]``: create an administrator or change a password.

The password is asked for twice on a terminal; otherwise it is read from the first line of
standard input (``echo "$PASSWORD" | netatlas admin set-password``). Changing a password ends
that user's sessions.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from netatlas.admin.audit import Actor, record_now
from netatlas.admin.auth import PasswordError, set_password
from netatlas.db.engine import engine_from_settings
from netatlas.settings import Settings

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("admin", help="manage administrators")
    p.add_argument("action", choices=["set-password"])
    p.add_argument("--user", default="admin", help="the administrator's user name (default admin)")
    return p


def _read_password() -> str | None:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        print("the two passwords differ", file=sys.stderr)
        return None
    return first


def run(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password()
    if password is None:
        return 2
    engine = engine_from_settings(settings, pooled=False)
    try:
        created = set_password(engine, args.user, password)
        action = "admin.create" if created else "admin.set-password"
        record_now(engine, Actor("(command line)"), action, args.user, None)
    except PasswordError as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"{'created administrator' if created else 'changed the password of'} {args.user}")
    return 0
