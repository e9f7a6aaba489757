"""Process counters for ``/metrics``, cheap to update and summed over a host's processes.

Every process keeps its counters in plain dicts (:data:`REGISTRY`). The request middleware
updates the latency histogram from the event loop without a lock: one tuple, one dict lookup
and a bisection per request. Counters that worker threads update (locate answers, learning)
take a lock around a dict update.

``netatlas serve --workers N`` runs N processes behind one port, and a scrape reaches only one
of them; so every process writes its figures to ``<data dir>/metrics/<host>-<pid>.msgpack`` at
most every :data:`FLUSH_SECONDS` (on the back of a request, no thread), and the process that
answers a scrape adds the files of the other live processes on its host to its own figures. A
process that ends takes its figures with it, which Prometheus sees as a counter reset and
handles (``rate()``); the file is removed at the next scrape.

Hooks for other modules: :func:`locate_answer`, :func:`learning`, :func:`ndt7_test`,
:func:`keyless_client`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from netatlas.http.useragent import client_family

__all__ = [
    "BUCKETS",
    "FLUSH_SECONDS",
    "REGISTRY",
    "Registry",
    "Snapshot",
    "keyless_client",
    "learning",
    "locate_answer",
    "ndt7_test",
    "read_spool",
    "summed_counter",
]

# Latency histogram bounds, seconds (upper bounds; +Inf is implied).
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FLUSH_SECONDS = 5.0
HOST = socket.gethostname()

# Counters other modules update, with their label names (the families are built from these).
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "locate_answers": (
        "Answers to /v1/geolocate and /v1/country by source; source none is a miss.",
        ("endpoint", "result", "source"),
    ),
    "query_learning": (
        "Locate answers that could be learnt from: learnt, or skipped by backlog sampling.",
        ("outcome",),
    ),
    "ndt7_tests": (
        "ndt7 handshakes by direction and outcome (101 accepted, else the HTTP refusal).",
        ("direction", "status"),
    ),
    "keyless_clients": (
        "Locate and submit requests without a known key, by API and client family (from the"
        " User-Agent, one of a fixed set).",
        ("api", "family"),
    ),
}
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ndt7_tests_running": ("ndt7 subtests in progress.", ("direction",)),
}


@dataclass
class IntakeStats:
    """Counts since start-up, for metrics: accepted reports and drop reasons."""

    requests: int = 0
    reports: int = 0
    dropped: Counter[str] = field(default_factory=Counter)


STATS = IntakeStats()


def spool_dir(data_dir: Path) -> Path:
    """Where each process leaves its metrics snapshot for the scrape to read."""
    return data_dir / "metrics"


class Snapshot(msgspec.Struct, array_like=True):
    """One process's figures, as written to its spool file."""

    pid: int
    time: float
    rss_bytes: int
    # (endpoint, status, [bucket counts..., +Inf count, sum of seconds])
    requests: list[tuple[str, int, list[float]]]
    # name -> [(label values, value)]
    counters: dict[str, list[tuple[list[str], float]]]
    gauges: dict[str, list[tuple[list[str], float]]]
    # STATS (pushed by the submit intake): requests, reports accepted, drop reasons
    submit_requests: int = 0
    submit_reports: int = 0
    submit_dropped: dict[str, int] = {}


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Snapshot).decode


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Registry:
    """The counters of this process."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], list[float]] = {}
        self.counters: dict[str, dict[tuple[str, ...], float]] = {n: {} for n in COUNTERS}
        self.gauges: dict[str, dict[tuple[str, ...], float]] = {n: {} for n in GAUGES}
        self._lock = threading.Lock()
        self._next_flush = 0.0

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency (event loop only: no lock)."""
        key = (endpoint, status)
        row = self.requests.get(key)
        if row is None:
            row = self.requests[key] = [0.0] * (len(BUCKETS) + 2)
        row[bisect_left(BUCKETS, seconds)] += 1
        row[-1] += seconds

    def inc(self, name: str, labels: tuple[str, ...], amount: float = 1.0) -> None:
        """Add to a counter (any thread)."""
        with self._lock:
            values = self.counters[name]
            values[labels] = values.get(labels, 0.0) + amount

    def add_gauge(self, name: str, labels: tuple[str, ...], amount: float) -> None:
        with self._lock:
            values = self.gauges[name]
            values[labels] = values.get(labels, 0.0) + amount

    def snapshot(self) -> Snapshot:
        with self._lock:
            counters = {n: [(list(k), v) for k, v in d.items()] for n, d in self.counters.items()}
            gauges = {n: [(list(k), v) for k, v in d.items()] for n, d in self.gauges.items()}
        # dict.copy is atomic under the GIL; rows are copied so later requests do not show.
        requests = [(e, s, list(row)) for (e, s), row in self.requests.copy().items()]
        return Snapshot(
            pid=os.getpid(),
            time=time.time(),
            rss_bytes=_rss_bytes(),
            requests=requests,
            counters=counters,
            gauges=gauges,
            submit_requests=STATS.requests,
            submit_reports=STATS.reports,
            submit_dropped=dict(STATS.dropped.copy()),
        )

    def due(self, now: float) -> bool:
        return now >= self._next_flush

    def flush(self, spool: Path, now: float) -> None:
        """Write this process's snapshot to ``spool`` (atomically: a scrape never reads half)."""
        self._next_flush = now + FLUSH_SECONDS
        try:
            spool.mkdir(parents=True, exist_ok=True)
            path = spool / f"{HOST}-{os.getpid()}.msgpack"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(_encode(self.snapshot()))
            os.replace(tmp, path)
        except OSError:
            pass  # metrics must never fail a request; the next flush tries again


REGISTRY = Registry()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_spool(spool: Path) -> list[Snapshot]:
    """The snapshots of this host's other live processes; files of ended ones are removed."""
    found: list[Snapshot] = []
    if not spool.is_dir():
        return found
    own = os.getpid()
    for path in spool.glob(f"{HOST}-*.msgpack"):
        try:
            pid = int(path.stem.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            continue
        if pid == own:
            continue
        if not _alive(pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        try:
            found.append(_decode(path.read_bytes()))
        except (OSError, msgspec.DecodeError):
            continue
    return found


# Hooks called by other modules -------------------------------------------------------------


def locate_answer(endpoint: str, source: str | None) -> None:
    """Count a locate answer: ``source`` internal, geoip or fallback; None for a miss."""
    REGISTRY.inc("locate_answers", (endpoint, "hit" if source else "miss", source or "none"))


def learning(learnt: bool) -> None:
    """Count a locate answer that qualified for learning: learnt, or sampled out."""
    REGISTRY.inc("query_learning", ("learnt" if learnt else "sampled_out",))


def keyless_client(api: str, agent: str | None) -> None:
    """Count a request without a known key by ``api`` (geolocate, country, submit) and the
    family of its User-Agent (a fixed set: the label set stays small whatever clients send)."""
    REGISTRY.inc("keyless_clients", (api, client_family(agent)))


def summed_counter(name: str, spool: Path) -> dict[tuple[str, ...], float]:
    """A counter of this process and of the host's other live processes, summed by labels."""
    totals: dict[tuple[str, ...], float] = {}
    for snap in [REGISTRY.snapshot(), *read_spool(spool)]:
        for labels, value in snap.counters.get(name, []):
            key = tuple(labels)
            totals[key] = totals.get(key, 0.0) + value
    return totals


def ndt7_test(direction: str, status: int) -> None:
    """Count an ndt7 handshake: status 101 when the test ran, else the refusal's HTTP status."""
    REGISTRY.inc("ndt7_tests", (direction, str(status)))
