"""The survey's questions: edited on the admin pages or declared in a settings file, checked
here.

A form saved on the admin pages (JSON, the shape below) takes precedence over the file
(``NETATLAS_SURVEY_PATH``, TOML or JSON). Either names the form, its consent text, the text of
the optional consent to challenge evidence (``challenge_consent_text``) and its fields; without
one the form is Piecewise's (provider, connection type, access technology, monthly cost,
advertised download and upload speeds). A field::

    [[fields]]
    name = "connection_type"          # the answer's key: letters, digits, _
    label = "How is this device connected?"
    type = "select"                   # select | multi-select | text | number | checkbox
    required = true
    options = ["wired", {value = "wifi", label = "Wi-Fi"}]   # select and multi-select
    min = 0                           # number: bounds (optional)
    max = 100000
    max_length = 200                  # text (default 500)
    unit = "Mbit/s"                   # shown after a number box (optional)
    help = "…"                        # a line under the question (optional)

:func:`validate` turns a submitted answers object into clean values or a message per field.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from netatlas.db.documents import Configured, get_document

__all__ = [
    "DEFAULT_FORM",
    "DOCUMENT",
    "Field",
    "Form",
    "FormError",
    "form_as_document",
    "form_from_mapping",
    "form_source",
    "load_form",
    "validate",
]

#: The name of the form saved on the admin pages (``config_document``).
DOCUMENT = "survey"

TYPES = ("select", "multi-select", "text", "number", "checkbox")
MAX_TEXT = 500
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class FormError(ValueError):
    """The survey settings file is wrong; the message says where."""


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    type: str
    required: bool = False
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    min: float | None = None
    max: float | None = None
    max_length: int = MAX_TEXT
    unit: str | None = None
    help: str | None = None

    @property
    def values(self) -> frozenset[str]:
        return frozenset(value for value, _ in self.options)

    def public(self) -> dict[str, Any]:
        """The field as the page and the API describe it."""
        out: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.type}
        out["required"] = self.required
        if self.options:
            out["options"] = [{"value": v, "label": label} for v, label in self.options]
        for key in ("min", "max", "unit", "help"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.type == "text":
            out["max_length"] = self.max_length
        return out


@dataclass(frozen=True)
class Form:
    name: str
    title: str
    consent_text: str
    consent_required: bool
    fields: tuple[Field, ...] = field(default_factory=tuple)
    #: The separate, optional yes to using the tests as evidence in a regulator's challenge
    #: process (never required; unticked by default).
    challenge_consent_text: str = ""

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "consent": {"text": self.consent_text, "required": self.consent_required},
            "challenge_consent": {"text": self.challenge_consent_text or DEFAULT_CHALLENGE},
            "fields": [f.public() for f in self.fields],
        }


def _options(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise FormError(f"{where}: options must be a non-empty list")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            out.append((item, item))
        elif isinstance(item, Mapping) and isinstance(item.get("value"), str):
            label = item.get("label", item["value"])
            out.append((item["value"], str(label)))
        else:
            raise FormError(f"{where}.options[{i}]: a string or {{value, label}}")
    if len({v for v, _ in out}) != len(out):
        raise FormError(f"{where}: option values must be unique")
    return tuple(out)


def _number(raw: Any, where: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise FormError(f"{where}: must be a number")
    return float(raw)


def _field(raw: Any, where: str) -> Field:
    if not isinstance(raw, Mapping):
        raise FormError(f"{where}: must be a table/object")
    name, kind = raw.get("name"), raw.get("type")
    if not isinstance(name, str) or not _NAME.match(name) or name == "consent":
        raise FormError(f"{where}.name: lower-case letters, digits and _ (not 'consent')")
    if kind not in TYPES:
        raise FormError(f"{where}.type: one of {', '.join(TYPES)}")
    options: tuple[tuple[str, str], ...] = ()
    if kind in ("select", "multi-select"):
        options = _options(raw.get("options"), where)
    max_length = raw.get("max_length", MAX_TEXT)
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise FormError(f"{where}.max_length: a positive integer")
    return Field(
        name=name,
        label=str(raw.get("label", name)),
        type=kind,
        required=bool(raw.get("required", False)),
        options=options,
        min=_number(raw.get("min"), f"{where}.min"),
        max=_number(raw.get("max"), f"{where}.max"),
        max_length=max_length,
        unit=str(raw["unit"]) if raw.get("unit") else None,
        help=str(raw["help"]) if raw.get("help") else None,
    )


def form_from_mapping(raw: Mapping[str, Any]) -> Form:
    fields_raw = raw.get("fields")
    if not isinstance(fields_raw, list) or not fields_raw:
        raise FormError("fields: at least one field is needed")
    fields = tuple(_field(f, f"fields[{i}]") for i, f in enumerate(fields_raw))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise FormError("fields: names must be unique")
    return Form(
        name=str(raw.get("name", "survey"))[:64],
        title=str(raw.get("title", "About your connection")),
        consent_text=str(raw.get("consent_text", DEFAULT_CONSENT)),
        consent_required=bool(raw.get("consent_required", True)),
        fields=fields,
        challenge_consent_text=str(raw.get("challenge_consent_text", DEFAULT_CHALLENGE)),
    )


def load_form(path: str, engine: Engine | None = None) -> Form:
    """The form saved on the admin pages (when ``engine`` is given and one is), else the one
    in ``path`` (``.json``: JSON, anything else: TOML), else Piecewise's."""
    if engine is not None:
        with engine.connect() as conn:
            doc = get_document(conn, DOCUMENT)
        if doc is not None:
            return form_from_mapping(doc.data())
    if not path:
        return DEFAULT_FORM
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FormError(f"{path}: {exc.strerror or exc}") from None
    try:
        raw = json.loads(text) if path.endswith(".json") else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise FormError(f"{path}: {exc}") from None
    if not isinstance(raw, Mapping):
        raise FormError(f"{path}: the top level must be a table/object")
    try:
        return form_from_mapping(raw)
    except FormError as exc:
        raise FormError(f"{path}: {exc}") from None


def form_source(engine: Engine | None, path: str) -> Configured[Form]:
    """The form in force, following edits made on the admin pages."""
    return Configured(engine, DOCUMENT, form_from_mapping, lambda: load_form(path))


def form_as_document(form: Form) -> dict[str, Any]:
    """The form as the document :func:`form_from_mapping` reads (for the admin editor)."""
    fields_out = []
    for f in form.fields:
        item: dict[str, Any] = {"name": f.name, "label": f.label, "type": f.type}
        if f.required:
            item["required"] = True
        if f.options:
            item["options"] = [
                v if v == label else {"value": v, "label": label} for v, label in f.options
            ]
        for key in ("min", "max", "unit", "help"):
            value = getattr(f, key)
            if value is not None:
                item[key] = value
        if f.type == "text" and f.max_length != MAX_TEXT:
            item["max_length"] = f.max_length
        fields_out.append(item)
    return {
        "name": form.name,
        "title": form.title,
        "consent_text": form.consent_text,
        "consent_required": form.consent_required,
        "challenge_consent_text": form.challenge_consent_text or DEFAULT_CHALLENGE,
        "fields": fields_out,
    }


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def _check(f: Field, value: Any) -> tuple[Any, str | None]:
    """(clean value, None) or (None, message)."""
    if f.type == "select":
        if not isinstance(value, str) or value not in f.values:
            return None, "choose one of the listed answers"
        return value, None
    if f.type == "multi-select":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None, "a list of the listed answers"
        if len(set(value)) != len(value):
            return None, "an answer is chosen twice"
        unknown = [v for v in value if v not in f.values]
        if unknown:
            return None, f"not a listed answer: {unknown[0][:40]!r}"
        return value, None
    if f.type == "text":
        if not isinstance(value, str):
            return None, "must be text"
        text = value.strip()
        if "\x00" in text:  # PostgreSQL stores no NUL in text or JSON
            return None, "must not contain NUL characters"
        if len(text) > f.max_length:
            return None, f"at most {f.max_length} characters"
        return text, None
    if f.type == "number":
        number: float
        if isinstance(value, bool):
            return None, "must be a number"
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip().replace(",", "."))
            except ValueError:
                return None, "must be a number"
        else:
            return None, "must be a number"
        if not math.isfinite(number):
            return None, "must be a number"
        if f.min is not None and number < f.min:
            return None, f"must be at least {f.min:g}"
        if f.max is not None and number > f.max:
            return None, f"must be at most {f.max:g}"
        return (int(number) if number.is_integer() else number), None
    # checkbox
    if not isinstance(value, bool):
        return None, "must be true or false"
    if f.required and not value:
        return None, "required"
    return value, None


def validate(form: Form, answers: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(clean answers, errors by field name). Unknown fields are errors; empty optional
    fields are left out."""
    if not isinstance(answers, Mapping):
        return {}, {"answers": "must be an object of field: answer"}
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    known = {f.name for f in form.fields}
    for key in answers:
        if key not in known:
            errors[str(key)[:64]] = "not a question of this survey"
    for f in form.fields:
        value = answers.get(f.name)
        if _empty(value) or (f.type == "checkbox" and value is False and not f.required):
            if f.required:
                errors[f.name] = "required"
            continue
        checked, message = _check(f, value)
        if message is not None:
            errors[f.name] = message
        else:
            clean[f.name] = checked
    return clean, errors


DEFAULT_CONSENT = (
    "I agree that my test results and answers are stored and published, without my address "
    "and only in aggregated form, on this site's maps and open data. My location is kept "
    "only if I choose to share it."
)

DEFAULT_CHALLENGE = (
    "I also agree that this test, with its time, provider, results and location, may be given "
    "to a regulator as evidence when my area's broadband coverage is challenged (optional)."
)

# Piecewise's questions (its Seattle form, generalised: the provider is free text, pre-filled
# from the network the test came from).
DEFAULT_FORM = form_from_mapping(
    {
        "name": "piecewise",
        "title": "About your Internet connection",
        "fields": [
            {
                "name": "isp",
                "label": "Who is your Internet service provider?",
                "type": "text",
                "required": True,
                "max_length": 100,
            },
            {
                "name": "connection_type",
                "label": "How is this device connected?",
                "type": "select",
                "required": True,
                "options": [
                    {"value": "wired", "label": "Wired (Ethernet cable)"},
                    {"value": "wireless_single", "label": "Wi-Fi, only this device in use"},
                    {"value": "wireless_shared", "label": "Wi-Fi, shared with other devices"},
                ],
            },
            {
                # What a regulator's challenge process asks for (the access technology);
                # optional, so that "I don't know" never blocks a submission.
                "name": "technology",
                "label": "What kind of connection reaches your home?",
                "type": "select",
                "options": [
                    {"value": "fibre", "label": "Fibre to the home"},
                    {"value": "cable", "label": "Cable (coaxial)"},
                    {"value": "dsl", "label": "DSL over a phone line"},
                    {"value": "fixed_wireless", "label": "Fixed wireless"},
                    {"value": "satellite", "label": "Satellite"},
                    {"value": "mobile", "label": "Mobile (4G/5G) router or phone"},
                    {"value": "other", "label": "Other"},
                    {"value": "dont_know", "label": "I don't know"},
                ],
            },
            {
                "name": "cost_of_service",
                "label": "How much do you pay for Internet service a month?",
                "type": "select",
                "required": True,
                "options": [
                    {"value": "lt25", "label": "Less than $25"},
                    {"value": "25_50", "label": "$25–50"},
                    {"value": "50_75", "label": "$50–75"},
                    {"value": "75_100", "label": "$75–100"},
                    {"value": "gt100", "label": "More than $100"},
                    {"value": "dont_know", "label": "I don't know"},
                ],
            },
            {
                "name": "advertised_download",
                "label": "Download speed your plan advertises",
                "type": "number",
                "min": 0,
                "max": 100000,
                "unit": "Mbit/s",
            },
            {
                "name": "advertised_upload",
                "label": "Upload speed your plan advertises",
                "type": "number",
                "min": 0,
                "max": 100000,
                "unit": "Mbit/s",
            },
        ],
    }
)
