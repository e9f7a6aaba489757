"""Managing rows of the api_key table: the one place keys are created, changed and deleted
(the ``netatlas keys`` command and the admin pages both call it), and the command itself.

The rules checked on every change:

* a key is 4–40 letters, digits or hyphens;
* whole numbers are 0 or more (at most nine digits), percentages 0 to 100 and required;
* the fallback protocol is one the fallback client speaks, names and URLs fit their columns;
* the fallback URL is an http(s) URL reaching a public host (unless private targets are
  allowed): checking it may resolve its host name, so call these from a worker thread;
* a fallback rate-limit interval is at least one second;
* a key allowed the fallback has a provider name and URL (checked on the row as it will be
  after the change).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from netatlas.db.engine import engine_from_settings
from netatlas.http.outbound import UnsafeTarget, check_url
from netatlas.location.fallback import SCHEMAS
from netatlas.location.keys import well_formed
from netatlas.location.models import api_key, key_block
from netatlas.settings import Settings

__all__ = [
    "COLUMNS",
    "DEFAULTS",
    "KEY_RULE",
    "BadKeyValues",
    "KeyChangeError",
    "KeyConflict",
    "OnChange",
    "add_parser",
    "check_values",
    "create_key",
    "delete_key",
    "get_key",
    "list_keys",
    "run",
    "update_key",
]

KEY_RULE = "4–40 letters, digits or hyphens"

#: The columns a change may set, by kind: int (none allowed), flag, percent, text, schema, url.
COLUMNS: dict[str, str] = {
    "maxreq": "int",
    "allow_locate": "flag",
    "allow_region": "flag",
    "allow_fallback": "flag",
    "store_sample_locate": "percent",
    "store_sample_submit": "percent",
    "fallback_name": "text",
    "fallback_schema": "schema",
    "fallback_url": "url",
    "fallback_ratelimit": "int",
    "fallback_ratelimit_interval": "int",
    "fallback_cache_expire": "int",
}
#: The values of a new key's columns not given.
DEFAULTS: dict[str, Any] = {
    "allow_locate": True,
    "allow_region": True,
    "allow_fallback": False,
    "store_sample_locate": 100,
    "store_sample_submit": 100,
}
_TEXT_MAX = {"fallback_name": 40, "fallback_url": 256}
_INT_MAX = 999_999_999

#: Called in the transaction that makes a change, after it: (connection, key, detail).
OnChange = Callable[[Connection, str, dict[str, Any]], None]


class KeyChangeError(ValueError):
    """A key change that cannot be made; ``errors`` maps columns (``valid_key`` for the key
    itself) to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class BadKeyValues(KeyChangeError):
    """A malformed key or bad column values."""


class KeyConflict(KeyChangeError):
    """The key exists (on create) or does not (on update and delete)."""


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT_MAX


def _check_columns(values: Mapping[str, Any], allow_private: bool) -> dict[str, str]:
    errors: dict[str, str] = {}
    for name, value in values.items():
        kind = COLUMNS.get(name)
        if kind is None:
            errors[name] = "not a key setting"
        elif kind == "flag":
            if not isinstance(value, bool):
                errors[name] = "true or false"
        elif kind in ("int", "percent"):
            if value is None:
                if kind == "percent":
                    errors[name] = "required"
            elif not _whole(value):
                errors[name] = "a whole number ≥ 0"
            elif kind == "percent" and value > 100:
                errors[name] = "0 to 100"
        elif value is None:
            continue
        elif not isinstance(value, str):
            errors[name] = "text"
        elif kind == "schema":
            if value not in SCHEMAS:
                errors[name] = f"one of {', '.join(SCHEMAS)}"
        else:
            if len(value) > _TEXT_MAX[name]:
                errors[name] = f"at most {_TEXT_MAX[name]} characters"
            if kind == "url" and not value.startswith(("https://", "http://")):
                errors[name] = "an http(s) URL"
            elif kind == "url":
                try:
                    check_url(value, allow_private=allow_private)
                except UnsafeTarget as exc:
                    errors[name] = str(exc)
    if values.get("fallback_ratelimit_interval") == 0:
        errors["fallback_ratelimit_interval"] = "at least 1 second"
    return errors


def _fallback_complete(row: Mapping[str, Any]) -> dict[str, str]:
    if row.get("allow_fallback") and not (row.get("fallback_name") and row.get("fallback_url")):
        return {"allow_fallback": "a fallback needs a provider name and URL"}
    return {}


def check_values(
    values: Mapping[str, Any], *, allow_private: bool, base: Mapping[str, Any] = DEFAULTS
) -> dict[str, str]:
    """The message for each bad value among ``values`` (only the columns given are checked;
    ``None`` means no value), the fallback checked on ``{**base, **values}``. Resolves the
    fallback URL's host name unless ``allow_private``."""
    cleaned = _clean(values)
    return {
        **_check_columns(cleaned, allow_private),
        **_fallback_complete({**base, **cleaned}),
    }


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """Empty text is no value."""
    return {k: (None if v == "" else v) for k, v in values.items()}


def _name(key: str) -> str:
    name = well_formed(key)
    if name is None:
        raise BadKeyValues({"valid_key": KEY_RULE})
    return name


def list_keys(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(api_key).order_by(api_key.c.valid_key)).all()
    return [dict(r._mapping) for r in rows]


def get_key(engine: Engine, key: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(api_key).where(api_key.c.valid_key == key)).first()
    return None if row is None else dict(row._mapping)


def _row(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(api_key).where(api_key.c.valid_key == name)).first()
    return None if row is None else dict(row._mapping)


def create_key(
    engine: Engine,
    key: str,
    values: Mapping[str, Any],
    *,
    allow_private: bool,
    on_change: OnChange | None = None,
) -> str:
    """Add the key with ``values`` (the columns not given take :data:`DEFAULTS`); the key."""
    name = well_formed(key)
    given = _clean(values)
    errors = check_values(given, allow_private=allow_private)
    if name is None:
        errors = {"valid_key": KEY_RULE, **errors}
    if errors or name is None:
        raise BadKeyValues(errors)
    with engine.begin() as conn:
        if _row(conn, name) is not None:
            raise KeyConflict({"valid_key": f"the key {name} exists"})
        conn.execute(insert(api_key).values(valid_key=name, **{**DEFAULTS, **given}))
        if on_change is not None:
            on_change(conn, name, dict(given))
    return name


def update_key(
    engine: Engine,
    key: str,
    values: Mapping[str, Any],
    *,
    allow_private: bool,
    on_change: OnChange | None = None,
) -> None:
    """Set the columns given in ``values`` (the others are kept)."""
    name = _name(key)
    given = _clean(values)
    errors = _check_columns(given, allow_private)  # before the transaction: it may resolve
    with engine.begin() as conn:
        row = _row(conn, name)
        if row is None and not errors:
            raise KeyConflict({"valid_key": f"no key {name}"})
        errors.update(_fallback_complete({**(row or {}), **given}))
        if errors:
            raise BadKeyValues(errors)
        if given:
            conn.execute(update(api_key).where(api_key.c.valid_key == name).values(**given))
        if on_change is not None:
            on_change(conn, name, dict(given))


def delete_key(engine: Engine, key: str, *, on_change: OnChange | None = None) -> None:
    """Remove the key; ``on_change`` gets the row as it was."""
    name = _name(key)
    with engine.begin() as conn:
        row = _row(conn, name)
        if row is None:
            raise KeyConflict({"valid_key": f"no key {name}"})
        conn.execute(delete(key_block).where(key_block.c.valid_key == name))
        conn.execute(delete(api_key).where(api_key.c.valid_key == name))
        if on_change is not None:
            on_change(conn, name, row)


# ---- netatlas keys create|list|update|delete ----------------------------------------------

_OPTIONS = (
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


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser("keys", help="manage API keys")
    p.add_argument("action", choices=["create", "list", "update", "delete"])
    p.add_argument("key", nargs="?")
    for name, kind, help_text in _OPTIONS:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=help_text)
    return p


def _values(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, _, _ in _OPTIONS:
        value = getattr(args, name)
        if value is None:
            continue
        values[name] = bool(value) if name.startswith("allow_") else value
    return values


def _print_errors(exc: KeyChangeError) -> None:
    for name, message in exc.errors.items():
        if name == "valid_key":
            print(f"a key is {message}" if message == KEY_RULE else message)
        else:
            print(f"--{name.replace('_', '-')}: {message}")


def run(args: argparse.Namespace, settings: Settings) -> int:
    engine = engine_from_settings(settings, pooled=False)
    private = settings.allow_private_targets
    try:
        if args.action == "list":
            for row in list_keys(engine):
                print(" ".join(f"{k}={v}" for k, v in row.items() if v is not None))
            return 0
        key = args.key or ""
        if args.action == "create":
            key = create_key(engine, key, _values(args), allow_private=private)
        elif args.action == "update":
            update_key(engine, key, _values(args), allow_private=private)
        else:
            delete_key(engine, key)
        print(f"{args.action}d key {key}")
        return 0
    except KeyChangeError as exc:
        _print_errors(exc)
        return 1 if isinstance(exc, KeyConflict) else 2
    finally:
        engine.dispose()
