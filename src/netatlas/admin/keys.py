"""API keys as the admin pages manage them: reading and checking form values, and changing
``api_key`` rows with an audit entry in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from netatlas.admin.audit import Actor, ChangeError, record
from netatlas.http.outbound import UnsafeTarget, check_url
from netatlas.location.fallback import SCHEMAS
from netatlas.location.keys import well_formed
from netatlas.location.models import api_key

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
_TEXT_MAX = {"fallback_name": 40, "fallback_url": 256}


def parse_form(form: Mapping[str, str], allow_private: bool = False) -> dict[str, Any]:
    """Column values from submitted form fields; raises ChangeError naming each bad field.
    The fallback URL must reach a public host unless ``allow_private`` (this may resolve its
    host name: call it from a worker thread)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, kind, _, _ in FIELDS:
        raw = str(form.get(name, "")).strip()
        if kind == "flag":
            values[name] = raw in ("on", "1", "true")
        elif kind in ("int", "percent"):
            if not raw:
                if kind == "percent":
                    errors[name] = "required"
                values[name] = None
                continue
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
                errors[name] = "a whole number ≥ 0"
                continue
            number = int(raw)
            if kind == "percent" and number > 100:
                errors[name] = "0 to 100"
            values[name] = number
        elif kind == "schema":
            if raw and raw not in SCHEMAS:
                errors[name] = f"one of {', '.join(SCHEMAS)}"
            values[name] = raw or None
        else:
            if len(raw) > _TEXT_MAX[name]:
                errors[name] = f"at most {_TEXT_MAX[name]} characters"
            if kind == "url" and raw and not raw.startswith(("https://", "http://")):
                errors[name] = "an http(s) URL"
            elif kind == "url" and raw:
                try:
                    check_url(raw, allow_private=allow_private)
                except UnsafeTarget as exc:
                    errors[name] = str(exc)
            values[name] = raw or None
    if values.get("fallback_ratelimit_interval") == 0:
        errors["fallback_ratelimit_interval"] = "at least 1 second"
    if values.get("allow_fallback") and not (
        values.get("fallback_name") and values.get("fallback_url")
    ):
        errors["allow_fallback"] = "a fallback needs a provider name and URL"
    if errors:
        raise ChangeError(errors)
    return values


def list_keys(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(api_key).order_by(api_key.c.valid_key)).all()
    return [dict(r._mapping) for r in rows]


def get_key(engine: Engine, key: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(api_key).where(api_key.c.valid_key == key)).first()
    return None if row is None else dict(row._mapping)


def create_key(engine: Engine, actor: Actor, key: str, values: Mapping[str, Any]) -> None:
    name = well_formed(key.strip())
    if name is None:
        raise ChangeError({"valid_key": "4–40 letters, digits or hyphens"})
    with engine.begin() as conn:
        if conn.execute(select(api_key.c.valid_key).where(api_key.c.valid_key == name)).first():
            raise ChangeError({"valid_key": f"the key {name} exists"})
        conn.execute(insert(api_key).values(valid_key=name, **values))
        record(conn, actor, "key.create", name, dict(values))


def update_key(engine: Engine, actor: Actor, key: str, values: Mapping[str, Any]) -> None:
    with engine.begin() as conn:
        done = conn.execute(update(api_key).where(api_key.c.valid_key == key).values(**values))
        if not done.rowcount:
            raise ChangeError({"valid_key": f"no key {key}"})
        record(conn, actor, "key.update", key, dict(values))


def delete_key(engine: Engine, actor: Actor, key: str) -> None:
    with engine.begin() as conn:
        row = conn.execute(select(api_key).where(api_key.c.valid_key == key)).first()
        if row is None:
            raise ChangeError({"valid_key": f"no key {key}"})
        conn.execute(delete(api_key).where(api_key.c.valid_key == key))
        record(conn, actor, "key.delete", key, dict(row._mapping))
