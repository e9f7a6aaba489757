"""Export targets as the admin pages manage them: the form, and the export feature's own
checks and changes (:mod:`netatlas.export.config`) with an audit entry for each change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine

from netatlas.admin.audit import Actor, ChangeError, record_now
from netatlas.export.config import (
    SCHEMAS,
    SOURCES,
    ConfigError,
    ExportConfig,
    create_config,
    delete_config,
    get_config,
    load_configs,
    split_set,
    update_config,
)
from netatlas.export.delivery import load_state

__all__ = ["SCHEMAS", "SOURCES", "create", "delete", "get", "listing", "parse_form", "update"]


def _when(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def listing(engine: Engine) -> list[dict[str, Any]]:
    """Every target with its delivery state."""
    out = []
    configs = load_configs(engine)
    with engine.connect() as conn:
        states = {c.name: load_state(conn, c.name) for c in configs}
    for config in configs:
        state = states[config.name]
        out.append(
            {
                **config.row(),
                "reports": state.reports,
                "failures": state.failures,
                "last_error": state.last_error,
                "last_success": _when(state.last_success),
                "last_failure": _when(state.last_failure),
            }
        )
    return out


def get(engine: Engine, name: str) -> dict[str, Any] | None:
    config = get_config(engine, name)
    return None if config is None else config.row()


def parse_form(form: Mapping[str, str]) -> dict[str, Any]:
    """Field values from the form; raises ChangeError naming each bad field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, low in (("batch", 1), ("max_age", 0)):
        raw = str(form.get(name, "")).strip()
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or int(raw) < low:
            errors[name] = f"a whole number ≥ {low}"
        else:
            values[name] = int(raw)
    schema = str(form.get("schema", "")).strip()
    if schema not in SCHEMAS:
        errors["schema"] = f"one of {', '.join(SCHEMAS)}"
    values["schema"] = schema
    values["url"] = str(form.get("url", "")).strip() or None
    values["skip_keys"] = split_set(str(form.get("skip_keys", "")))
    values["skip_sources"] = frozenset(s for s in SOURCES if form.get(f"skip_{s}") == "on")
    if errors:
        raise ChangeError(errors)
    return values


def _audit_detail(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in values.items()}


def create(
    engine: Engine,
    actor: Actor,
    name: str,
    values: Mapping[str, Any],
    *,
    allow_private: bool = False,
) -> None:
    try:
        create_config(
            engine, ExportConfig(name=name.strip(), **values), allow_private=allow_private
        )
    except ConfigError as exc:
        raise ChangeError({"form": str(exc)}) from None
    record_now(engine, actor, "export.create", name.strip(), _audit_detail(values))


def update(
    engine: Engine,
    actor: Actor,
    name: str,
    values: Mapping[str, Any],
    *,
    allow_private: bool = False,
) -> None:
    try:
        # The form holds every field: an emptied URL box removes the URL.
        clear = () if values.get("url") else ("url",)
        update_config(engine, name, clear, allow_private=allow_private, **values)
    except ConfigError as exc:
        raise ChangeError({"form": str(exc)}) from None
    record_now(engine, actor, "export.update", name, _audit_detail(values))


def delete(engine: Engine, actor: Actor, name: str) -> None:
    before = get(engine, name)
    try:
        delete_config(engine, name)
    except ConfigError as exc:
        raise ChangeError({"form": str(exc)}) from None
    record_now(engine, actor, "export.delete", name, before)
