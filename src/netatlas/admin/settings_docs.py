"""The survey form and the aggregations as the admin pages edit them: JSON documents checked
by the same parsers as the settings files, stored in ``config_document`` with an audit entry.
The aggregations document also holds the use-case table the scores are judged by
(``use_case`` and ``scores``, see :mod:`netatlas.broadband.usecases`).

A saved document takes precedence over the settings file; "reset" deletes it, and the file
(or the built-in default) applies again. Servers pick up either change within
:data:`netatlas.db.documents.RECHECK` seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from netatlas.admin.audit import Actor, ChangeError, record
from netatlas.broadband.aggregate.config import (
    ConfigError,
    as_document,
    load_aggregations,
    load_use_cases,
    parse_aggregations,
)
from netatlas.broadband.areas import UnknownLayer, get_layer
from netatlas.broadband.form import FormError, form_as_document, form_from_mapping, load_form
from netatlas.db.documents import delete_document, get_document, put_document
from netatlas.settings import Settings

__all__ = ["NAMES", "Editor", "editors", "reset", "save"]

NAMES = ("survey", "aggregations")


@dataclass
class Editor:
    name: str  # "survey" or "aggregations"
    text: str  # the document in force, as JSON
    origin: str  # "saved", "file" or "built-in"
    path: str  # the settings file, when one is set
    saved: str | None = None  # when and by whom, for a saved document
    error: str | None = None  # the file in force could not be read


def _pretty(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def editors(settings: Settings, engine: Engine) -> dict[str, Editor]:
    """An editor per document, holding the one in force."""
    out: dict[str, Editor] = {}
    paths = {"survey": settings.survey_path, "aggregations": settings.aggregations_path}
    with engine.connect() as conn:
        stored = {name: get_document(conn, name) for name in NAMES}
    for name in NAMES:
        path = paths[name]
        doc = stored[name]
        if doc is not None:
            when = doc.updated.strftime("%Y-%m-%d %H:%M UTC")
            out[name] = Editor(name, doc.body, "saved", path, f"{when} by {doc.updated_by or '?'}")
            continue
        origin = "file" if path else "built-in"
        try:
            if name == "survey":
                text = _pretty(form_as_document(load_form(path)))
            else:
                text = _pretty(as_document(load_aggregations(path), load_use_cases(path)))
        except (FormError, ConfigError) as exc:
            out[name] = Editor(name, "", origin, path, error=str(exc))
            continue
        out[name] = Editor(name, text, origin, path)
    return out


def _check(engine: Engine, name: str, text: str) -> Any:
    """The decoded document, or ChangeError saying what is wrong with it."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ChangeError({"document": f"not valid JSON: {exc}"}) from None
    try:
        if name == "survey":
            if not isinstance(data, dict):
                raise FormError("the document must be a JSON object")
            form_from_mapping(data)
        else:
            for agg in parse_aggregations(data):
                if agg.area:
                    get_layer(engine, agg.area)
    except (FormError, ConfigError) as exc:
        raise ChangeError({"document": str(exc)}) from None
    except UnknownLayer as exc:
        hint = "import it with netatlas areas import, or use countries, h3:R or quadkey:Z"
        raise ChangeError({"document": f"{exc} ({hint})"}) from None
    return data


def save(engine: Engine, actor: Actor, name: str, text: str) -> int:
    """Check and store a document; returns its version. Raises ChangeError."""
    if name not in NAMES:
        raise ChangeError({"document": f"unknown document {name!r}"})
    data = _check(engine, name, text)
    with engine.begin() as conn:
        version = put_document(conn, name, data, actor.user)
        record(conn, actor, f"settings.{name}.save", name, {"version": version})
    return version


def reset(engine: Engine, actor: Actor, name: str) -> bool:
    """Forget the saved document; False when none was saved."""
    if name not in NAMES:
        return False
    with engine.begin() as conn:
        removed = delete_document(conn, name)
        if removed:
            record(conn, actor, f"settings.{name}.reset", name, None)
    return removed
