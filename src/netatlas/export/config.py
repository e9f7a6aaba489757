"""Export targets as rows of ``export_config``: reading, checking and changing them.

Used by ``netatlas exports …`` and (later) the admin pages; nothing here knows about either.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, fields
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from netatlas.export.exporters import split_template, template_fields
from netatlas.export.models import export_config, export_state
from netatlas.http.outbound import UnsafeTarget, check_url

SCHEMAS = ("dummy", "internal", "geosubmit", "s3", "file")
SOURCES = ("fixed", "gnss", "fused", "query")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class ConfigError(ValueError):
    """An export target that cannot work as given."""


@dataclass(frozen=True)
class ExportConfig:
    name: str
    schema: str
    url: str | None = None
    batch: int = 100  # queued submissions per upload
    max_age: int = 3600  # seconds a partial batch may wait
    skip_keys: frozenset[str] = frozenset()
    skip_sources: frozenset[str] = frozenset()

    def accepts(self, api_key: str | None, source: str) -> bool:
        return (api_key or "") not in self.skip_keys and source not in self.skip_sources

    @property
    def queued(self) -> bool:
        """Whether submissions are copied to this target's own queue."""
        return self.schema not in ("dummy", "internal")

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "schema": self.schema,
            "url": self.url,
            "batch": self.batch,
            "max_age": self.max_age,
            "skip_keys": ",".join(sorted(self.skip_keys)) or None,
            "skip_sources": ",".join(sorted(self.skip_sources)) or None,
        }


def split_set(value: str | None) -> frozenset[str]:
    return frozenset(p.strip() for p in (value or "").split(",") if p.strip())


def _from_row(row: Any) -> ExportConfig:
    return ExportConfig(
        name=row.name,
        schema=row.schema,
        url=row.url,
        batch=row.batch,
        max_age=row.max_age,
        skip_keys=split_set(row.skip_keys),
        skip_sources=split_set(row.skip_sources),
    )


def load_configs(engine: Engine) -> list[ExportConfig]:
    with engine.connect() as conn:
        rows = conn.execute(select(export_config).order_by(export_config.c.name)).all()
    return [_from_row(r) for r in rows]


def get_config(engine: Engine, name: str) -> ExportConfig | None:
    with engine.connect() as conn:
        row = conn.execute(select(export_config).where(export_config.c.name == name)).first()
    return None if row is None else _from_row(row)


def _relative_path(url: str) -> None:
    """A ``file`` target stays under the data directory: no absolute path, no ``..``."""
    path = url[len("file://") :] if url.startswith("file://") else url
    if path.startswith(("/", "~", "\\")) or PurePosixPath(path).is_absolute():
        raise ConfigError(
            "a file target is a directory relative to the data dir, e.g. archive/{year}/{month}"
        )
    if ".." in path.replace("\\", "/").split("/"):
        raise ConfigError("'..' is not allowed in a path")


def validate(config: ExportConfig, *, allow_private: bool = False) -> ExportConfig:
    """The config, checked; ConfigError says what is wrong. A geosubmit URL must reach a
    public host unless ``allow_private`` (see :mod:`netatlas.http.outbound`)."""
    if not _NAME.match(config.name):
        raise ConfigError("a name is 1-40 letters, digits, '_' or '-'")
    if config.schema not in SCHEMAS:
        raise ConfigError(f"schema must be one of {', '.join(SCHEMAS)}")
    if config.batch < 1:
        raise ConfigError("batch must be at least 1")
    if config.max_age < 0:
        raise ConfigError("max age must not be negative")
    unknown = config.skip_sources - set(SOURCES)
    if unknown:
        raise ConfigError(f"unknown sources {sorted(unknown)}: use {', '.join(SOURCES)}")
    url = config.url or ""
    if config.schema == "geosubmit" and not re.match(r"^https?://[^/\s]+", url):
        raise ConfigError("a geosubmit target needs an http(s) URL, e.g. https://host/v2/geosubmit")
    if config.schema == "geosubmit":
        try:
            check_url(url, allow_private=allow_private)
        except UnsafeTarget as exc:
            raise ConfigError(str(exc)) from None
    if config.schema == "s3" and not re.match(r"^s3://[^/{}\s]+", url):
        raise ConfigError("an s3 target needs a URL s3://bucket/path/{year}/{month}/{day}")
    if config.schema == "file" and not url:
        raise ConfigError("a file target needs a directory (relative to the data dir)")
    if config.schema == "file":
        _relative_path(url)
    if config.schema in ("s3", "file"):
        root, template = split_template(url)
        try:
            template_fields(template)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if ".." in root.split("/") or ".." in template.split("/"):
            raise ConfigError("'..' is not allowed in a path")
    if len(url) > 512:
        raise ConfigError("the URL is longer than 512 characters")
    return config


def create_config(
    engine: Engine, config: ExportConfig, *, allow_private: bool = False
) -> ExportConfig:
    validate(config, allow_private=allow_private)
    with engine.begin() as conn:
        names = conn.execute(select(export_config.c.name, export_config.c.schema)).all()
        if any(r.name == config.name for r in names):
            raise ConfigError(f"export {config.name} exists")
        if config.schema == "internal" and any(r.schema == "internal" for r in names):
            raise ConfigError("only one internal export is allowed")
        conn.execute(insert(export_config).values(**config.row()))
    return config


def update_config(
    engine: Engine,
    name: str,
    clear: Collection[str] = (),
    *,
    allow_private: bool = False,
    **changes: Any,
) -> ExportConfig:
    """Change some fields of a target (``None`` values are left as they are, except those
    named in ``clear``, which become empty)."""
    current = get_config(engine, name)
    if current is None:
        raise ConfigError(f"no export {name}")
    allowed = {f.name for f in fields(ExportConfig)} - {"name"}
    values = {k: v for k, v in changes.items() if v is not None or k in clear}
    values.update({k: None for k in clear})
    bad = set(values) - allowed
    if bad:
        raise ConfigError(f"unknown fields {sorted(bad)}")
    becomes_internal = values.get("schema") == "internal" and current.schema != "internal"
    if becomes_internal and any(c.schema == "internal" for c in load_configs(engine)):
        raise ConfigError("only one internal export is allowed")
    merged = validate(ExportConfig(**{**current.__dict__, **values}), allow_private=allow_private)
    with engine.begin() as conn:
        conn.execute(
            update(export_config).where(export_config.c.name == name).values(**merged.row())
        )
    return merged


def delete_config(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        gone = conn.execute(delete(export_config).where(export_config.c.name == name)).rowcount
        conn.execute(delete(export_state).where(export_state.c.name == name))
    if not gone:
        raise ConfigError(f"no export {name}")
