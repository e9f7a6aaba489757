"""API keys as the admin pages manage them: reading form values, and changing ``api_key``
rows through :mod:`netatlas.location.keyadmin` (which checks them) with an audit entry in the
same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine

from netatlas.admin.audit import Actor, ChangeError, record
from netatlas.location import keyadmin
from netatlas.location.fallback import SCHEMAS
from netatlas.location.keyadmin import get_key, list_keys

__all__ = ["FIELDS", "create_key", "delete_key", "get_key", "list_keys", "parse_form", "update_key"]

# (column, kind, label, hint); kinds: int (empty: none), flag, percent, text, schema, url
FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("maxreq", "int", "Daily request limit", "per endpoint; empty for no limit"),
    ("allow_locate", "flag", "May use /v1/geolocate", ""),
    ("allow_region", "flag", "May use /v1/country", ""),
    ("allow_fallback", "flag", "May use the fallback provider", ""),
    ("store_sample_locate", "percent", "Learn from locate queries", "percent of queries (0–100)"),
    ("store_sample_submit", "percent", "Keep submissions", "percent of submissions (0–100)"),
    ("fallback_name", "text", "Fallback provider name", ""),
    ("fallback_schema", "schema", "Fallback protocol", ""),
    ("fallback_url", "url", "Fallback URL", "https://…"),
    ("fallback_ratelimit", "int", "Fallback calls per interval", ""),
    ("fallback_ratelimit_interval", "int", "Fallback interval (s)", ""),
    ("fallback_cache_expire", "int", "Fallback cache lifetime (s)", ""),
)
SCHEMA_CHOICES = SCHEMAS


def parse_form(form: Mapping[str, str], allow_private: bool = False) -> dict[str, Any]:
    """Column values from submitted form fields; raises ChangeError naming each bad field
    (with every other field's problem too, as the key rules see them). The fallback URL must
    reach a public host unless ``allow_private`` (this may resolve its host name: call it
    from a worker thread)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, kind, _, _ in FIELDS:
        raw = str(form.get(name, "")).strip()
        if kind == "flag":
            values[name] = raw in ("on", "1", "true")
        elif kind in ("int", "percent"):
            if not raw:
                values[name] = None
            elif not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
                errors[name] = "a whole number ≥ 0"
            else:
                values[name] = int(raw)
        else:
            values[name] = raw or None
    if errors:  # the rest checked now, so that the form shows every problem at once
        raise ChangeError({**keyadmin.check_values(values, allow_private=allow_private), **errors})
    return values


def _audit(actor: Actor, action: str) -> keyadmin.OnChange:
    def write(conn: Connection, key: str, detail: dict[str, Any]) -> None:
        record(conn, actor, action, key, detail)

    return write


def create_key(
    engine: Engine, actor: Actor, key: str, values: Mapping[str, Any], allow_private: bool = False
) -> None:
    try:
        keyadmin.create_key(
            engine,
            key.strip(),
            values,
            allow_private=allow_private,
            on_change=_audit(actor, "key.create"),
        )
    except keyadmin.KeyChangeError as exc:
        raise ChangeError(exc.errors) from None


def update_key(
    engine: Engine, actor: Actor, key: str, values: Mapping[str, Any], allow_private: bool = False
) -> None:
    try:
        keyadmin.update_key(
            engine, key, values, allow_private=allow_private, on_change=_audit(actor, "key.update")
        )
    except keyadmin.KeyChangeError as exc:
        raise ChangeError(exc.errors) from None


def delete_key(engine: Engine, actor: Actor, key: str) -> None:
    try:
        keyadmin.delete_key(engine, key, on_change=_audit(actor, "key.delete"))
    except keyadmin.KeyChangeError as exc:
        raise ChangeError(exc.errors) from None
