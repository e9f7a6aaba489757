"""Delivery: batching, a target that fails and recovers, dead letters, replay, redelivery."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from sqlalchemy import delete

from netatlas.clock import ManualClock
from netatlas.export.config import ExportConfig, create_config, load_configs
from netatlas.export.delivery import (
    backoff,
    dead_queue,
    deliver_target,
    exporter_for,
    inspect_dead,
    parked_queues,
    purge,
    queue_name,
    replay_dead,
    retry_queue,
)
from netatlas.export.exporters import decode_envelope
from netatlas.export.models import export_config
from netatlas.export.tasks import update_exports, update_incoming
from netatlas.features import process_until_idle
from netatlas.jobs.context import Context
from netatlas.location.submit.intake import INCOMING
from netatlas.location.submit.report import Position, Report, Submission, encode_submission
from tests.export.conftest import Receiver


def submission(i: int, reports: int = 2) -> bytes:
    return encode_submission(
        Submission(
            reports=[
                Report(
                    timestamp=1_700_000_000_000,
                    position=Position(latitude=10.0 + i, longitude=20.0 + j, accuracy=5.0),
                )
                for j in range(reports)
            ],
            received=int(time.time() * 1000),
        )
    )


def only(ctx: Context, config: ExportConfig) -> None:
    """Make ``config`` the only export target."""
    with ctx.engine.begin() as conn:
        conn.execute(delete(export_config))
    create_config(ctx.engine, config, allow_private=ctx.settings.allow_private_targets)


def queue_incoming(ctx: Context, first: int, count: int) -> None:
    ctx.queue.push(INCOMING, [submission(i) for i in range(first, first + count)])
    update_incoming(ctx)


def latitudes(receiver: Receiver) -> list[float]:
    return sorted(item["position"]["latitude"] for item in receiver.items)


def test_a_full_batch_goes_at_once_a_partial_one_after_its_max_age(
    xctx: Context, receiver: Receiver
) -> None:
    only(xctx, ExportConfig("t", "geosubmit", receiver.url, batch=3, max_age=3600))
    queue_incoming(xctx, 0, 2)
    update_exports(xctx)
    assert receiver.items == []  # two of three, and young
    assert xctx.queue.size(queue_name("t")) == 2
    queue_incoming(xctx, 2, 1)
    update_exports(xctx)
    assert len(receiver.items) == 6  # three submissions of two reports
    queue_incoming(xctx, 3, 1)
    with xctx.engine.begin() as conn:
        conn.execute(export_config.update().values(max_age=0))
    update_exports(xctx)
    assert len(receiver.items) == 8  # the partial batch is old enough now


def test_flush_sends_partial_batches(xctx: Context, receiver: Receiver) -> None:
    only(xctx, ExportConfig("t", "geosubmit", receiver.url, batch=100))
    queue_incoming(xctx, 0, 3)
    process_until_idle(xctx)
    assert len(receiver.items) == 6 and not xctx.queue.queues()


def test_a_failing_target_blocks_no_other_and_catches_up(xctx: Context, receiver: Receiver) -> None:
    create_config(
        xctx.engine, ExportConfig("flaky", "geosubmit", receiver.url, batch=2), allow_private=True
    )
    receiver.failing = 2
    flush = dataclasses.replace(xctx, flush=True)
    queue_incoming(xctx, 0, 4)

    runs = {r.name: r for r in update_exports(flush)}
    assert runs["flaky"].failed == "HTTP 503: {}"
    assert runs["archive"].reports == 8  # the archive did not wait for the flaky target
    assert xctx.queue.size(retry_queue("flaky")) == 1  # the failed batch, parked
    assert xctx.queue.size(queue_name("flaky")) == 2  # the rest, still queued

    runs = {r.name: r for r in update_exports(flush)}
    assert runs["flaky"].failed is not None  # the second failure, of the same batch
    runs = {r.name: r for r in update_exports(flush)}
    assert runs["flaky"].failed is None and runs["flaky"].reports == 8
    assert latitudes(receiver) == [10.0, 10.0, 11.0, 11.0, 12.0, 12.0, 13.0, 13.0]
    assert not xctx.queue.queues()


def test_back_off_leaves_a_failing_target_alone(xctx: Context, receiver: Receiver) -> None:
    slow = dataclasses.replace(
        xctx, settings=dataclasses.replace(xctx.settings, export_retry_seconds=60.0)
    )
    only(slow, ExportConfig("t", "geosubmit", receiver.url, batch=1))
    receiver.down = True
    queue_incoming(slow, 0, 2)
    # Done in one round: it does not wait out the target's back-off.
    assert process_until_idle(slow) == 1
    assert len(receiver.requests) == 1
    assert set(slow.queue.queues()) == {queue_name("t"), retry_queue("t")}
    assert parked_queues(slow, load_configs(slow.engine)) == {queue_name("t"), retry_queue("t")}
    run = deliver_target(slow, load_configs(slow.engine)[0])
    assert run.waiting and len(receiver.requests) == 1
    assert backoff(1, 30.0) == 30.0 and backoff(3, 30.0) == 120.0 and backoff(40, 30.0) == 3600


def test_dead_letters_are_kept_and_replayed(xctx: Context, receiver: Receiver) -> None:
    only(xctx, ExportConfig("t", "geosubmit", receiver.url, batch=2))
    receiver.down = True
    flush = dataclasses.replace(xctx, flush=True)
    queue_incoming(xctx, 0, 3)
    for _ in range(3):  # export_max_attempts = 3
        update_exports(flush)
    assert xctx.queue.size(dead_queue("t")) == 1
    assert xctx.queue.size(queue_name("t")) == 1  # not tried yet: nothing is lost
    dead = inspect_dead(xctx, "t")
    assert [(d.attempts, d.submissions, d.reports, d.error) for d in dead] == [
        (3, 2, 4, "HTTP 503: {}")
    ]
    assert xctx.queue.size(dead_queue("t")) == 1  # inspecting keeps them
    assert dead_queue("t") in parked_queues(xctx, load_configs(xctx.engine))

    receiver.down = False
    update_exports(flush)
    assert len(receiver.items) == 2  # the queued one went; the dead batch waits for an operator
    assert replay_dead(xctx, "t") == 1
    update_exports(flush)
    assert latitudes(receiver) == [10.0, 10.0, 11.0, 11.0, 12.0, 12.0]
    assert not xctx.queue.queues()


def test_an_archive_batch_delivered_twice_is_stored_once(
    xctx: Context, tmp_path: Path, queue_clock: ManualClock
) -> None:
    quick = Context.from_settings(xctx.settings, xctx.engine, queue_clock)
    only(quick, ExportConfig("a", "file", "raw", batch=10))  # <data dir>/raw
    queue_incoming(quick, 0, 3)
    # A worker uploads the batch, then dies before acknowledging it.
    batch = quick.queue.claim(queue_name("a"), 10)
    assert batch is not None
    config = load_configs(quick.engine)[0]
    exporter_for(quick, config).send(batch.id, [decode_envelope(i) for i in batch.items])
    first = sorted(p.name for p in (tmp_path / "raw").iterdir())
    # The lease runs out: the batch comes back under the same id.
    queue_clock.advance(quick.settings.lease_seconds + 1)
    run = deliver_target(dataclasses.replace(quick, flush=True), config)
    assert run.reports == 6
    assert (
        sorted(p.name for p in (tmp_path / "raw").iterdir()) == first == [f"{batch.id}-0.json.gz"]
    )


def test_purge_drops_a_removed_targets_queues(xctx: Context, receiver: Receiver) -> None:
    only(xctx, ExportConfig("t", "geosubmit", receiver.url, batch=1))
    queue_incoming(xctx, 0, 2)
    assert purge(xctx, "t") == 2
    assert not xctx.queue.queues()


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/v2/geosubmit"])
def test_an_unreachable_target_is_a_failure_not_a_crash(xctx: Context, url: str) -> None:
    only(xctx, ExportConfig("t", "geosubmit", url, batch=1))
    queue_incoming(xctx, 0, 1)
    runs = update_exports(dataclasses.replace(xctx, flush=True))
    assert runs[0].failed is not None and "ConnectError" in runs[0].failed
    assert xctx.queue.size(retry_queue("t")) == 1
