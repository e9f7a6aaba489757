"""The one settings table.

Every setting is an environment variable ``NETATLAS_<NAME>``. This module lists each once, with
its type, default and meaning; ``netatlas settings`` and the README's settings section are
generated from :data:`SETTINGS`, and a test checks that the README matches. Settings are read
once at start-up into an immutable :class:`Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _ndt7_mode(value: str) -> str:
    if value.strip() not in ("local", "mlab"):
        raise ValueError(f"must be local or mlab, not {value!r}")
    return value.strip()


def _signup_mode(value: str) -> str:
    if value.strip() not in ("off", "open", "approve"):
        raise ValueError(f"must be off, open or approve, not {value!r}")
    return value.strip()


def _log_format(value: str) -> str:
    if value.strip() not in ("text", "json"):
        raise ValueError(f"must be text or json, not {value!r}")
    return value.strip()


def _open_data_license(value: str) -> str:
    if value.strip() not in ("CC0-1.0", "ODbL-1.0"):
        raise ValueError(f"must be CC0-1.0 or ODbL-1.0, not {value!r}")
    return value.strip()


def _grid_metres(value: str) -> float:
    metres = float(value)
    if not 50.0 <= metres <= 100_000.0:
        raise ValueError(f"{value!r} is not between 50 and 100000 metres")
    return metres


def _min_stations(value: str) -> int:
    k = int(value)
    if k < 2:
        raise ValueError(f"{value!r} is below 2")
    return k


def _hash_cost(value: str) -> int:
    cost = int(value)
    if not 10 <= cost <= 20:
        raise ValueError(f"{value!r} is not between 10 and 20")
    return cost


@dataclass(frozen=True)
class Setting:
    name: str  # attribute name; the variable is NETATLAS_<NAME>
    type: Callable[[str], Any]
    default: str
    help: str

    @property
    def env(self) -> str:
        return "NETATLAS_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", str, "./data", "Directory for the SQLite database, tiles and exports."),
    Setting(
        "database_url",
        str,
        "",
        "SQLAlchemy URL (postgresql+psycopg://… for scale-out); empty: SQLite in the data dir.",
    ),
    Setting(
        "redis_url",
        str,
        "",
        "Redis URL for queues, counters and Celery; empty: queues live in the database.",
    ),
    Setting("geoip_city_path", str, "", "MaxMind City database (.mmdb) for IP positions."),
    Setting("geoip_asn_path", str, "", "MaxMind ASN database (.mmdb) for ISP names."),
    Setting(
        "trusted_proxies",
        _list,
        "127.0.0.1,::1",
        "Comma-separated proxy addresses or CIDRs whose X-Forwarded-For is believed.",
    ),
    Setting("require_api_key", _bool, "false", "Refuse locate requests without a known key."),
    Setting(
        "keyless_rate_per_minute",
        int,
        "600",
        "Locate requests a minute per client address (IPv6: per /64) without a key; 0: no limit.",
    ),
    Setting(
        "submit_bytes_per_minute",
        int,
        str(8 * 1024 * 1024),
        "Submitted JSON bytes (decompressed) a minute per client address (IPv6: per /64) without"
        " a known key, each request counting as at least 4 KiB; 0: no limit.",
    ),
    Setting(
        "submit_burst_bytes",
        int,
        str(64 * 1024 * 1024),
        "Submitted bytes one client address may send at once before the per-minute rate applies.",
    ),
    Setting("secret_key", str, "", "Secret for signing admin sessions; generated if empty."),
    Setting("host", str, "127.0.0.1", "Address `netatlas serve` listens on."),
    Setting("port", int, "8000", "Port `netatlas serve` listens on."),
    Setting(
        "max_body_bytes",
        int,
        str(32 * 1024 * 1024),
        "Largest request body accepted, compressed or not (413 above).",
    ),
    Setting("embedded_jobs", _bool, "true", "Run pipeline jobs inside `netatlas serve`."),
    Setting("demo", _bool, "true", "Seed demo data into an empty database at first start."),
    Setting("log_level", str, "info", "Log level: debug, info, warning or error."),
    Setting("incoming_batch", int, "100", "Submissions taken from the incoming queue per batch."),
    Setting("station_batch", int, "200", "Observation chunks taken per station-updater batch."),
    Setting("lease_seconds", int, "300", "Seconds before a claimed, unfinished batch is redone."),
    Setting(
        "export_retry_seconds",
        float,
        "30",
        "First back-off after a failed export upload; doubles per failure, at most an hour.",
    ),
    Setting(
        "export_max_attempts",
        int,
        "10",
        "Uploads of one export batch before it moves to the target's dead-letter queue.",
    ),
    Setting(
        "allow_private_targets",
        _bool,
        "false",
        "Let export targets and fallback URLs reach loopback, private and link-local addresses.",
    ),
    Setting(
        "export_store_url",
        str,
        "",
        "Where public cell exports go: empty for <data dir>/exports, or s3://bucket/prefix.",
    ),
    Setting("s3_endpoint_url", str, "", "S3 endpoint (MinIO, a test server); empty: AWS."),
    Setting(
        "cell_export_origins",
        _list,
        "",
        "Imported data sets (e.g. mls) whose cells public exports include besides crowd data.",
    ),
    Setting(
        "dump_daily",
        _bool,
        "false",
        "Publish the privacy-preserving WiFi/Bluetooth dump (docs/dump.md) to the export store"
        " every day.",
    ),
    Setting(
        "dump_grid_metres",
        _grid_metres,
        "200",
        "Dump places are the centre of a grid cell this many metres square (at least 50).",
    ),
    Setting(
        "dump_min_stations",
        _min_stations,
        "5",
        "k-anonymity of the dump: a grid cell is published only if it holds this many stations"
        " (at least 2).",
    ),
    Setting(
        "dump_hash_cost",
        _hash_cost,
        "11",
        "log2 of the scrypt cost N of the dump's keys (10-20; each step doubles the time to"
        " build a dump and to guess MACs).",
    ),
    Setting("dump_licence", str, "ODbL-1.0", "Licence named in the dump's manifest."),
    Setting(
        "packs_regions",
        str,
        "",
        "Offline packs built daily: country codes, MCCs or bbox:S,W,N,E, space-separated.",
    ),
    Setting(
        "packs_wifi",
        _bool,
        "false",
        "Add wifi.csv.gz (MAC and position of vouched-for access points) to offline packs.",
    ),
    Setting(
        "packs_licence",
        str,
        "ODbL-1.0",
        "Licence named in offline pack manifests (an SPDX id or a URL).",
    ),
    Setting(
        "packs_attribution",
        str,
        "NetAtlas contributors",
        "Attribution text offline pack manifests ask users of the data to show.",
    ),
    Setting(
        "ndt7_mode",
        _ndt7_mode,
        "local",
        "Speed tests run against this server (local) or M-Lab's servers via Locate v2 (mlab).",
    ),
    Setting(
        "ndt7_tokens_required",
        _bool,
        "false",
        "ndt7 tests need a short-lived access token that the speed-test page issues.",
    ),
    Setting("ndt7_max_tests", int, "8", "Concurrent ndt7 tests per server process (503 above)."),
    Setting(
        "ndt7_server",
        str,
        "",
        "host:port of a separate `netatlas ndt7` process the page sends tests to; empty: this one.",
    ),
    Setting(
        "ndt7_ip_concurrent",
        int,
        "2",
        "Concurrent ndt7 tests per client address (IPv6: per /64); 0: no limit.",
    ),
    Setting(
        "ndt7_ip_per_hour", int, "60", "ndt7 tests a client address may start an hour; 0: no limit."
    ),
    Setting(
        "ndt7_result_retention_days",
        int,
        "30",
        "Days ndt7 result files stay in <data dir>/ndt7 (they hold the client's address: never"
        " longer than NETATLAS_CLIENT_IP_RETENTION_DAYS); then deleted, or moved without the"
        " address to NETATLAS_NDT7_RESULT_ARCHIVE. 0: as long as the address.",
    ),
    Setting(
        "ndt7_result_archive",
        str,
        "",
        "Where old ndt7 result files go: a directory (relative: under the data dir) or"
        " s3://bucket/prefix; empty: they are deleted.",
    ),
    Setting(
        "client_ip_retention_days",
        int,
        "30",
        "Days speed tests and survey responses keep the client's IP address; then it is erased"
        " (the network, ISP and area stay). 0: kept.",
    ),
    Setting(
        "survey_ip_per_hour",
        int,
        "20",
        "Survey submissions a client address (IPv6: per /64) may post an hour (429 above);"
        " 0: no limit.",
    ),
    Setting(
        "survey_path",
        str,
        "",
        "Survey questions file (TOML or JSON); empty: Piecewise's. A form saved on /admin wins.",
    ),
    Setting(
        "tiles_store",
        str,
        "",
        "Where coverage tiles go: empty for <data dir>/tiles (served at /tiles), a directory,"
        " or s3://bucket/prefix.",
    ),
    Setting(
        "datamap_min_age_hours",
        float,
        "24",
        "Hours after the end of its only day before a grid cell seen on one day is drawn.",
    ),
    Setting(
        "aggregations_path",
        str,
        "",
        "Broadband statistics aggregations file (TOML or JSON); empty: the built-in ones."
        " Aggregations saved on /admin win.",
    ),
    Setting(
        "bigquery_project",
        str,
        "",
        "Google Cloud project billed for the daily M-Lab BigQuery import; empty: no import.",
    ),
    Setting("mlab_bbox", str, "", "W,S,E,N box of the daily M-Lab BigQuery import."),
    Setting("mlab_since", str, "", "First date (YYYY-MM-DD) the daily M-Lab import fetches."),
    Setting(
        "basemap_url",
        str,
        "",
        "Raster tiles under the maps, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png;"
        " empty: Natural Earth outlines only (no request leaves the site).",
    ),
    Setting(
        "basemap_attribution",
        str,
        "© OpenStreetMap contributors",
        "Credit shown on the maps when a basemap URL is set.",
    ),
    Setting(
        "backlog_soft_limit",
        int,
        "20000",
        "Pipeline queue items above which learning from locate queries is sampled down; 0: off.",
    ),
    Setting(
        "backlog_hard_limit",
        int,
        "100000",
        "Pipeline queue items above which submissions get 503 with Retry-After; 0: no limit.",
    ),
    Setting("log_format", _log_format, "text", "Log lines as text or json (one object a line)."),
    Setting(
        "key_signup",
        _signup_mode,
        "off",
        "Self-service API keys at /keys: off, open (usable at once) or approve (an administrator"
        " approves each); the choice saved on /admin/keys wins.",
    ),
    Setting(
        "key_signup_daily_limit",
        int,
        "10000",
        "Daily /v1/geolocate requests of a new self-service key (0: none); the value saved on"
        " /admin/keys wins.",
    ),
    Setting(
        "key_signup_ip_per_day",
        int,
        "5",
        "Self-service keys a client address (IPv6: per /64) may sign up for a day (429 above);"
        " 0: no limit.",
    ),
    Setting(
        "challenge_timezone",
        str,
        "UTC",
        "IANA time zone of the local times and evening windows in challenge packages (no "
        "coordinate-to-zone data is shipped); `netatlas challenge export --timezone` overrides.",
    ),
    Setting(
        "open_data_license",
        _open_data_license,
        "CC0-1.0",
        "Licence of the published aggregate files (Parquet, GeoJSON): CC0-1.0 or ODbL-1.0.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database_url: str = ""
    redis_url: str = ""
    geoip_city_path: str = ""
    geoip_asn_path: str = ""
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    require_api_key: bool = False
    keyless_rate_per_minute: int = 600
    submit_bytes_per_minute: int = 8 * 1024 * 1024
    submit_burst_bytes: int = 64 * 1024 * 1024
    secret_key: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 32 * 1024 * 1024
    embedded_jobs: bool = True
    demo: bool = True
    log_level: str = "info"
    incoming_batch: int = 100
    station_batch: int = 200
    lease_seconds: int = 300
    export_retry_seconds: float = 30.0
    export_max_attempts: int = 10
    allow_private_targets: bool = False
    export_store_url: str = ""
    s3_endpoint_url: str = ""
    cell_export_origins: tuple[str, ...] = ()
    dump_daily: bool = False
    dump_grid_metres: float = 200.0
    dump_min_stations: int = 5
    dump_hash_cost: int = 11
    dump_licence: str = "ODbL-1.0"
    packs_regions: str = ""
    packs_wifi: bool = False
    packs_licence: str = "ODbL-1.0"
    packs_attribution: str = "NetAtlas contributors"
    ndt7_mode: str = "local"
    ndt7_tokens_required: bool = False
    ndt7_max_tests: int = 8
    ndt7_server: str = ""
    ndt7_ip_concurrent: int = 2
    ndt7_ip_per_hour: int = 60
    ndt7_result_retention_days: int = 30
    ndt7_result_archive: str = ""
    client_ip_retention_days: int = 30
    survey_ip_per_hour: int = 20
    survey_path: str = ""
    tiles_store: str = ""
    datamap_min_age_hours: float = 24.0
    aggregations_path: str = ""
    bigquery_project: str = ""
    mlab_bbox: str = ""
    mlab_since: str = ""
    basemap_url: str = ""
    basemap_attribution: str = "© OpenStreetMap contributors"
    backlog_soft_limit: int = 20000
    backlog_hard_limit: int = 100000
    log_format: str = "text"
    key_signup: str = "off"
    key_signup_daily_limit: int = 10000
    key_signup_ip_per_day: int = 5
    challenge_timezone: str = "UTC"
    open_data_license: str = "CC0-1.0"
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env, setting.default)
            try:
                values[setting.name] = setting.type(raw)
            except ValueError as exc:
                raise SystemExit(f"{setting.env}: {exc}") from None
        values["data_dir"] = Path(values["data_dir"])
        values.update(overrides)
        return cls(**values)

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'netatlas.db').resolve()}"

    @property
    def scale_out(self) -> bool:
        return bool(self.redis_url)


def describe() -> str:
    """The settings table as aligned text (``netatlas settings``)."""
    lines = []
    for s in SETTINGS:
        lines.append(f"{s.env:<28} default {s.default!r:<22} {s.help}")
    return "\n".join(lines)


def markdown_table() -> str:
    """The settings table as Markdown, for the README."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        rows.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)


def get(name: str) -> Setting:
    return _BY_NAME[name]
