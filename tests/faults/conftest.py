"""Private Redis and PostgreSQL servers that a test may kill and restart, and a pipeline worker.

The shared servers (5432, 6379) serve other tests running in parallel: they are never stopped.

Neither server can listen on port 0 and say where, so each gets a port that was free a moment
ago; when another process took it in between, the server fails to bind and exits, and its
first start tries again on another port. A restart keeps its port (the clients know it) and
tries again until the port is free once more.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
import redis

from netatlas.features import job_table
from netatlas.jobs.context import Context
from netatlas.jobs.run import run_job
from tests.live import PATIENCE, free_port, wait_until

REDIS_SERVER = shutil.which("redis-server")
PG_BIN = next(
    (p / "bin" for p in sorted(Path("/usr/lib/postgresql").glob("*"), reverse=True)
     if (p / "bin" / "initdb").exists()),
    None,
)  # fmt: skip


#: Tries at starting a server when its port turns out to be taken.
START_ATTEMPTS = 10


class RedisServer:
    """``redis-server`` with an append-only file, so a restart keeps what was acknowledged."""

    def __init__(self, directory: Path, fsync: str = "always") -> None:
        assert REDIS_SERVER is not None
        self.dir = directory
        self.port = free_port()
        self.fsync = fsync
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = False  # once started, the port is fixed: clients hold the URL
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for _ in range(START_ATTEMPTS):
            if self._start_once():
                self.started = True
                return
            if self.started:
                time.sleep(0.5)  # a restart waits for its own port to be free again
            else:
                self.port = free_port()
        raise RuntimeError(f"private redis-server did not start; see {self.dir / 'redis.log'}")

    def _start_once(self) -> bool:
        """Start on ``self.port``: True once this very process answers there, False when it
        exited (the port was taken)."""
        assert REDIS_SERVER is not None
        proc = self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", self.fsync, "--dir", str(self.dir),
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + PATIENCE
        try:
            while proc.poll() is None:
                try:
                    # Whoever answers on the port must be this process, not another test's.
                    if client.ping() and client.info("server")["process_id"] == proc.pid:
                        return True
                except redis.exceptions.RedisError:  # not up yet, still loading, not Redis
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("private redis-server did not start")
                time.sleep(0.05)
        finally:
            client.close()
        self.proc = None
        return False

    def kill(self) -> None:
        """A crash: SIGKILL, nothing flushed beyond what fsync already wrote."""
        self._stop(signal.SIGKILL)

    def terminate(self) -> None:
        """A clean shutdown: SIGTERM, Redis writes its append-only file and exits."""
        self._stop(signal.SIGTERM)

    def _stop(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None


class PostgresServer:
    """A throwaway PostgreSQL cluster, owned by the ``postgres`` user, on a free port."""

    def __init__(self, directory: Path) -> None:
        assert PG_BIN is not None
        self.dir = directory
        self.data = directory / "pg"
        self.port = free_port()
        self.started = False  # once started, the port is fixed: clients hold the URL

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def init(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "--auth=trust", "-E", "UTF8"
        )

    def start(self) -> None:
        """``pg_ctl start -w``: it fails when the postmaster cannot bind its port (taken since
        it was picked); the first start then moves to another port, a restart tries again."""
        log = self.dir / "log"
        for attempt in range(START_ATTEMPTS):
            options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on"
            logged = log.stat().st_size if log.exists() else 0
            try:
                self._as_postgres(
                    str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                    "-l", str(log), "-w", "-t", "60", "start",
                )  # fmt: skip
            except subprocess.CalledProcessError:
                with log.open("rb") as f:
                    f.seek(logged)
                    taken = b"Address already in use" in f.read()
                if not taken or attempt == START_ATTEMPTS - 1:
                    raise
                if self.started:
                    time.sleep(0.5)
                else:
                    self.port = free_port()
                continue
            self.started = True
            return

    def stop(self, mode: str = "fast") -> None:
        with suppress(subprocess.CalledProcessError):
            self._as_postgres(
                str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"
            )


def _have_postgres() -> bool:
    if PG_BIN is None or shutil.which("runuser") is None or os.geteuid() != 0:
        return False
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    if not _have_postgres():
        pytest.skip("PostgreSQL server binaries (and a postgres user, as root) are needed")
    # Not under pytest's temporary root: that is private to root, and the cluster's owner
    # (postgres) must reach its directory.
    directory = Path(tempfile.mkdtemp(prefix="netatlas-pg-"))
    server = PostgresServer(directory)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


class PipelineWorker:
    """Runs every pipeline job in a loop on a thread, shrugging off failures like Celery does.

    While a backend is down a job fails; the next round tries again. Batches claimed by a
    failed round come back after their lease.
    """

    def __init__(self, ctx: Context, pause: float = 0.05) -> None:
        self.ctx = ctx
        self.pause = pause
        self.failures = 0
        self.rounds = 0  # rounds finished, failed jobs or not
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fault-worker", daemon=True)

    def _loop(self) -> None:
        pipeline = job_table().pipeline
        while not self._stop.is_set():
            for job in pipeline:
                try:
                    run_job(self.ctx, job)
                except Exception:
                    self.failures += 1
            self.rounds += 1
            self._stop.wait(self.pause)

    def wait_failure(self, failures_before: int) -> None:
        """Wait until a job failed after ``failures_before`` failures: the worker met an outage."""
        wait_until(lambda: self.failures > failures_before, "the worker to meet the outage")

    def wait_rounds(self, rounds: int) -> None:
        """Wait until ``rounds`` more rounds have finished from now."""
        target = self.rounds + rounds
        wait_until(lambda: self.rounds >= target, f"{rounds} more rounds of the worker")

    def __enter__(self) -> PipelineWorker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
