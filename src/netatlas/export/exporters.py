"""Exporters: how one batch of queued submissions reaches a target.

* ``geosubmit`` POSTs ``{"items": [reports]}``, gzip, to another MLS-compatible server (a
  beaconDB instance, a partner, a second NetAtlas); any answer but 2xx is a failure.
* ``s3`` and ``file`` write the same body as gzip JSON objects into a :class:`FileStore`,
  under a path template with ``{source}``, ``{api_key}``, ``{year}``, ``{month}``, ``{day}``
  (Ichnaea's backup layout; the date is the day the submission was accepted, UTC). Object names
  come from the batch id, so a batch delivered twice (after a crash, or a retry) overwrites its
  own objects: archives get each batch exactly once. A geosubmit target may see a batch twice.

What is archived is what the submit parser kept: SSIDs, Bluetooth names and private networks
(``_nomap``, ``_optout``, hidden, locally administered MACs) never reach the queue. Positions,
network identifiers, signal values and the API key used are kept: treat an archive as personal
data.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import string
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import httpx
import msgspec

from netatlas import __version__
from netatlas.http.outbound import GuardedTransport
from netatlas.location.submit.report import Submission, report_source
from netatlas.storage.files import FileStore, StoreError, confined_store, store_from_url

TEMPLATE_FIELDS = ("source", "api_key", "year", "month", "day")
GEOSUBMIT_CHUNK = 1000  # reports per POST: keeps bodies far below every server's size limit
TIMEOUT = 30.0
USER_AGENT = f"netatlas/{__version__} (export)"

_encode = msgspec.json.encode
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class ExportFailed(Exception):
    """The target did not take the batch; it is retried later."""


class Envelope(msgspec.Struct, array_like=True):
    """A submission as export queues hold it: its reports already JSON, each with its source.

    The fan-out encodes each report once for every target, so delivering is joining bytes and
    compressing them, never decoding and re-encoding reports per target.
    """

    api_key: str | None
    received: int  # ms since the epoch
    reports: list[tuple[str, bytes]]  # (position source, report as v2 JSON)


_pack_envelope = msgspec.msgpack.Encoder().encode
_unpack_envelope = msgspec.msgpack.Decoder(Envelope).decode


def envelope(submission: Submission) -> Envelope:
    return Envelope(
        submission.api_key,
        submission.received,
        [(report_source(r), _encode(r)) for r in submission.reports],
    )


def encode_envelope(value: Envelope) -> bytes:
    return zlib.compress(_pack_envelope(value), 1)


def decode_envelope(data: bytes) -> Envelope:
    return _unpack_envelope(zlib.decompress(data))


class Exporter(Protocol):
    def send(self, batch_id: str, envelopes: Sequence[Envelope]) -> int:
        """Deliver every report of ``envelopes``; returns how many. Raises ExportFailed."""

    def close(self) -> None: ...


def items_body(reports: Sequence[bytes]) -> bytes:
    """The geosubmit v2 body, ``{"items": [...]}``, from reports already JSON."""
    return b'{"items":[' + b",".join(reports) + b"]}"


def _head(response: httpx.Response, limit: int = 4096) -> str:
    """The start of an answer's body, read no further (a target may answer without end);
    raw bytes, so a compressed answer is never inflated."""
    data = b""
    for chunk in response.iter_raw():
        data += chunk
        if len(data) >= limit:
            break
    return data[:200].decode("utf-8", "replace")


class GeosubmitExporter:
    """POSTs to the target's URL, connecting only to public addresses unless
    ``allow_private`` (see :mod:`netatlas.http.outbound`); redirects are not followed."""

    def __init__(
        self, url: str, client: httpx.Client | None = None, *, allow_private: bool = False
    ) -> None:
        self.url = url
        self.client = client or httpx.Client(
            timeout=TIMEOUT,
            follow_redirects=False,
            transport=GuardedTransport(allow_private=allow_private),
        )

    def send(self, batch_id: str, envelopes: Sequence[Envelope]) -> int:
        reports = [r for e in envelopes for _, r in e.reports]
        for start in range(0, len(reports), GEOSUBMIT_CHUNK):
            body = gzip.compress(items_body(reports[start : start + GEOSUBMIT_CHUNK]), 5)
            headers = {
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            }
            try:
                with self.client.stream("POST", self.url, content=body, headers=headers) as res:
                    if not 200 <= res.status_code < 300:
                        raise ExportFailed(f"HTTP {res.status_code}: {_head(res)}")
            except httpx.HTTPError as exc:
                raise ExportFailed(f"{type(exc).__name__}: {exc}") from exc
        return len(reports)

    def close(self) -> None:
        self.client.close()


def split_template(url: str) -> tuple[str, str]:
    """``root/{year}/x`` → (``root/``, ``{year}/x``): the fixed store root and the template."""
    brace = url.find("{")
    if brace < 0:
        return url, ""
    cut = url.rfind("/", 0, brace) + 1
    return url[:cut], url[cut:]


def template_fields(template: str) -> list[str]:
    """The placeholders of a path template; ValueError for unknown ones or bad syntax."""
    fields = []
    for _, name, spec, conv in string.Formatter().parse(template):
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conv:
            raise ValueError(
                f"unknown path field {{{name}}}: use "
                + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
            )
        fields.append(name)
    return fields


def _safe(value: str) -> str:
    """A path component from client-chosen text (an API key, a source): no ``/``, no ``..``."""
    return _UNSAFE.sub("_", value)[:64] or "_"


class ArchiveExporter:
    """gzip JSON objects in a store (``file``: a directory; ``s3``: a bucket)."""

    def __init__(self, store: FileStore, template: str) -> None:
        self.store = store
        self.template = template.strip("/")
        self.fields = set(template_fields(self.template))

    def _groups(self, envelopes: Sequence[Envelope]) -> dict[tuple[str, ...], list[bytes]]:
        groups: dict[tuple[str, ...], list[bytes]] = {}
        for env in envelopes:
            when = dt.datetime.fromtimestamp((env.received or 0) / 1000, dt.UTC)
            values = {
                "api_key": _safe(env.api_key or "no_key"),
                "year": f"{when.year:04d}",
                "month": f"{when.month:02d}",
                "day": f"{when.day:02d}",
            }
            for source, report in env.reports:
                values["source"] = _safe(source)
                key = tuple(values[f] for f in TEMPLATE_FIELDS if f in self.fields)
                groups.setdefault(key, []).append(report)
        return groups

    def send(self, batch_id: str, envelopes: Sequence[Envelope]) -> int:
        count = 0
        for n, (key, reports) in enumerate(sorted(self._groups(envelopes).items())):
            values = dict(zip([f for f in TEMPLATE_FIELDS if f in self.fields], key, strict=True))
            folder = self.template.format(**values) if self.template else ""
            name = f"{batch_id}-{n}.json.gz"
            path = f"{folder}/{name}" if folder else name
            try:
                self.store.put(path, gzip.compress(items_body(reports), 6))
            except StoreError as exc:
                raise ExportFailed(str(exc)) from exc
            count += len(reports)
        return count

    def close(self) -> None:
        pass


def make_exporter(
    schema: str,
    url: str,
    data_dir: Path,
    s3_endpoint_url: str = "",
    *,
    allow_private: bool = False,
) -> Exporter:
    """The exporter of a ``geosubmit``, ``s3`` or ``file`` target. A ``file`` target writes
    only under ``data_dir``: an absolute path, ``..`` or a symbolic link leading out of it
    makes every write fail."""
    if schema == "geosubmit":
        return GeosubmitExporter(url, allow_private=allow_private)
    if schema == "s3":
        root, template = split_template(url)
        return ArchiveExporter(store_from_url(root, data_dir, s3_endpoint_url), template)
    if schema == "file":
        root, template = split_template(url)
        return ArchiveExporter(confined_store(root, data_dir), template)
    raise ValueError(f"no exporter for schema {schema!r}")
