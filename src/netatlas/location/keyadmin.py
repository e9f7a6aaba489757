"""``netatlas keys create|list|update|delete``: managing rows of the api_key table."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import delete, insert, select, update

from netatlas.db.engine import engine_from_settings
from netatlas.http.outbound import UnsafeTarget, check_url
from netatlas.location.keys import well_formed
from netatlas.location.models import api_key
from netatlas.settings import Settings

_FIELDS = (
    ("maxreq", int, "daily request limit per endpoint (0: none)"),
    ("allow_locate", int, "1/0: may use /v1/geolocate"),
    ("allow_region", int, "1/0: may use /v1/country"),
    ("allow_fallback", int, "1/0: may use the external fallback"),
    ("fallback_name", str, "fallback provider name"),
    ("fallback_schema", str, "ichnaea/v1, googlemaps/v1, unwiredlabs/v1 or combain/v1"),
    ("fallback_url", str, "fallback provider URL"),
    ("fallback_ratelimit", int, "fallback calls per interval"),
    ("fallback_ratelimit_interval", int, "fallback rate-limit interval (s)"),
    ("fallback_cache_expire", int, "fallback cache lifetime (s)"),
    ("store_sample_locate", int, "percent of locate queries learnt from"),
    ("store_sample_submit", int, "percent of submissions kept"),
)
_DEFAULTS: dict[str, Any] = {
    "allow_locate": True,
    "allow_region": True,
    "allow_fallback": False,
    "store_sample_locate": 100,
    "store_sample_submit": 100,
}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("keys", help="manage API keys")
    p.add_argument("action", choices=["create", "list", "update", "delete"])
    p.add_argument("key", nargs="?")
    for name, kind, help_text in _FIELDS:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=help_text)
    return p


def _values(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, _, _ in _FIELDS:
        value = getattr(args, name)
        if value is None:
            continue
        values[name] = bool(value) if name.startswith("allow_") else value
    return values


def run(args: argparse.Namespace, settings: Settings) -> int:
    engine = engine_from_settings(settings, pooled=False)
    try:
        if args.action == "list":
            with engine.connect() as conn:
                for row in conn.execute(select(api_key).order_by(api_key.c.valid_key)):
                    print(" ".join(f"{k}={v}" for k, v in row._mapping.items() if v is not None))
            return 0
        key = well_formed(args.key)
        if key is None:
            print("a key is 4-40 letters, digits or hyphens")
            return 2
        if args.fallback_url:
            try:
                check_url(args.fallback_url, allow_private=settings.allow_private_targets)
            except UnsafeTarget as exc:
                print(f"--fallback-url: {exc}")
                return 2
        with engine.begin() as conn:
            exists = conn.execute(select(api_key.c.valid_key).where(api_key.c.valid_key == key))
            found = exists.first() is not None
            if args.action == "create":
                if found:
                    print(f"key {key} exists")
                    return 1
                conn.execute(
                    insert(api_key).values(valid_key=key, **{**_DEFAULTS, **_values(args)})
                )
            elif not found:
                print(f"no key {key}")
                return 1
            elif args.action == "update":
                conn.execute(
                    update(api_key).where(api_key.c.valid_key == key).values(**_values(args))
                )
            else:
                conn.execute(delete(api_key).where(api_key.c.valid_key == key))
        print(f"{args.action}d key {key}")
        return 0
    finally:
        engine.dispose()
