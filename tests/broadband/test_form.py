from __future__ import annotations

import json
from pathlib import Path

import pytest

from netatlas.broadband.form import DEFAULT_FORM, FormError, load_form, validate

TOML = """
name = "wfh"
title = "Working from home"
consent_required = false

[[fields]]
name = "apps"
label = "What do you use?"
type = "multi-select"
options = ["video", "vpn", {value = "cloud", label = "Cloud storage"}]
required = true

[[fields]]
name = "people"
type = "number"
min = 1
max = 20

[[fields]]
name = "notes"
type = "text"
max_length = 10

[[fields]]
name = "works"
type = "checkbox"
required = true
"""


def test_default_form_is_piecewises() -> None:
    assert load_form("") is DEFAULT_FORM
    names = [f.name for f in DEFAULT_FORM.fields]
    assert names == [
        "isp",
        "connection_type",
        "technology",
        "cost_of_service",
        "advertised_download",
        "advertised_upload",
    ]
    assert DEFAULT_FORM.consent_required
    clean, errors = validate(
        DEFAULT_FORM,
        {
            "isp": " Comcast ",
            "connection_type": "wired",
            "cost_of_service": "50_75",
            "advertised_download": "300",
            "advertised_upload": 20.5,
        },
    )
    assert errors == {}
    assert clean == {
        "isp": "Comcast",
        "connection_type": "wired",
        "cost_of_service": "50_75",
        "advertised_download": 300,
        "advertised_upload": 20.5,
    }
    # A NUL character cannot be stored by PostgreSQL: refused with a message, not a 500.
    _, errors = validate(DEFAULT_FORM, {"isp": "Com\x00cast", "connection_type": "wired"})
    assert errors["isp"] == "must not contain NUL characters"


def test_every_field_type_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "survey.toml"
    path.write_text(TOML)
    form = load_form(str(path))
    assert form.name == "wfh" and not form.consent_required
    assert form.fields[0].options[2] == ("cloud", "Cloud storage")
    clean, errors = validate(
        form,
        {"apps": ["video", "fax"], "people": 0, "notes": "x" * 11, "works": False, "extra": 1},
    )
    assert clean == {}
    assert errors == {
        "apps": "not a listed answer: 'fax'",
        "people": "must be at least 1",
        "notes": "at most 10 characters",
        "works": "required",
        "extra": "not a question of this survey",
    }
    clean, errors = validate(form, {"apps": ["vpn", "cloud"], "works": True, "people": "3"})
    assert errors == {} and clean == {"apps": ["vpn", "cloud"], "works": True, "people": 3}
    _, errors = validate(form, {"apps": [], "works": "yes", "people": "many"})
    assert errors == {
        "apps": "required",
        "works": "must be true or false",
        "people": "must be a number",
    }
    assert validate(form, ["not", "an", "object"])[1] == {
        "answers": "must be an object of field: answer"
    }


def test_json_files_work_too(tmp_path: Path) -> None:
    path = tmp_path / "survey.json"
    path.write_text(json.dumps({"fields": [{"name": "isp", "type": "select", "options": ["a"]}]}))
    form = load_form(str(path))
    assert validate(form, {"isp": "b"})[1] == {"isp": "choose one of the listed answers"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("fields = []", "at least one field"),
        ('[[fields]]\nname = "Bad Name"\ntype = "text"', "fields[0].name"),
        ('[[fields]]\nname = "a"\ntype = "radio"', "fields[0].type: one of"),
        ('[[fields]]\nname = "a"\ntype = "select"', "options must be a non-empty list"),
        ('[[fields]]\nname = "a"\ntype = "text"\n[[fields]]\nname = "a"\ntype = "text"', "unique"),
        ("not toml [", "survey.toml"),
    ],
)
def test_bad_settings_files_say_what_is_wrong(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "survey.toml"
    path.write_text(text)
    with pytest.raises(FormError) as info:
        load_form(str(path))
    assert fragment in str(info.value)
    with pytest.raises(FormError, match="No such file"):
        load_form(str(tmp_path / "missing.toml"))
