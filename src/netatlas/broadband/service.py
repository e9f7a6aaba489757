"""The speed-test service of one process: handshake checks, running a subtest, storing it.

Built once per application from settings (:meth:`Broadband.from_settings`). A subtest is
stored twice when it ends, off the event loop: the ndt-server-format file under the data
directory, then the ``measurements`` row (client AS from the ASN database, IP location from
the GeoIP City database).

Survey submissions are limited per client address (``NETATLAS_SURVEY_IP_PER_HOUR``, IPv6 per
/64) with the location API's limiter backends: Redis counters in scale-out, the database's
otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from netatlas.broadband.form import Form, form_source
from netatlas.broadband.measurements import record_local_test
from netatlas.broadband.ndt7 import spec
from netatlas.broadband.ndt7.archive import Ndt7Result, make_uuid, write_result
from netatlas.broadband.ndt7.guard import Guard, Ticket
from netatlas.broadband.ndt7.server import Channel, Limits, TestRunner, load_messages
from netatlas.broadband.ndt7.tcpinfo import congestion_control, find_socket, socket_cookie
from netatlas.broadband.ndt7.tokens import TokenSigner, load_key
from netatlas.broadband.survey import SurveySaved, SurveyService
from netatlas.db.documents import Configured
from netatlas.geo.asn import AsnLookup, asn_from_path
from netatlas.geo.geoip import GeoIP
from netatlas.http.ratelimit import Limiter, limiter_from_settings
from netatlas.settings import Settings

__all__ = ["Broadband", "Connection"]

log = logging.getLogger(__name__)

#: The window of the per-address survey limit (seconds).
SURVEY_WINDOW = 3600


@dataclass(frozen=True, slots=True)
class Connection:
    """The two ends of a test's TCP connection, as the ASGI scope gives them."""

    client_ip: str
    client_port: int
    server_ip: str
    server_port: int


@dataclass
class Broadband:
    settings: Settings
    engine: Engine
    asn: AsnLookup
    geoip: GeoIP | None
    guard: Guard
    signer: TokenSigner
    forms: Configured[Form]
    survey: SurveyService
    limiter: Limiter
    limits: Limits = Limits()  # noqa: RUF009 - frozen dataclass, shared on purpose

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        engine: Engine,
        geoip: GeoIP | None,
        limiter: Limiter | None = None,
    ) -> Broadband:
        """``limiter`` is the application's, when it has one; else one is made."""
        asn = asn_from_path(settings.geoip_asn_path)
        forms = form_source(engine, settings.survey_path)
        forms.current()  # a bad survey file: FormError at start, not on a request
        load_messages()  # the random load, made once per process
        return cls(
            settings=settings,
            engine=engine,
            asn=asn,
            geoip=geoip,
            guard=Guard(
                settings.ndt7_max_tests, settings.ndt7_ip_concurrent, settings.ndt7_ip_per_hour
            ),
            signer=TokenSigner(load_key(settings.secret_key, settings.data_dir)),
            forms=forms,
            survey=SurveyService(engine, forms.current, settings.ndt7_mode, asn, geoip),
            limiter=limiter or limiter_from_settings(settings, engine),
        )

    @property
    def form(self) -> Form:
        """The survey form in force (edits on the admin pages apply within seconds)."""
        return self.forms.current()

    def admit(self, subprotocols: Sequence[str], query: bytes, ip: str | None) -> spec.Request:
        """Check a handshake; :class:`~netatlas.broadband.ndt7.spec.Ndt7Error` if refused."""
        spec.check_subprotocol(subprotocols)
        request = spec.parse_request(query)
        if self.settings.ndt7_tokens_required:
            self.signer.verify(request.access_token, ip)
        return request

    def submit_survey(self, body: Any, ip: str | None) -> SurveySaved:
        """Count the post against the address's hourly limit (:class:`RateLimitExceeded`
        over it, whether or not the survey is valid), then check and store it."""
        limit = self.settings.survey_ip_per_hour
        self.limiter.check_address(
            "survey",
            ip,
            limit,
            SURVEY_WINDOW,
            f"Too many survey submissions from this address: at most {limit} an hour.",
        )
        return self.survey.submit(body, ip)

    def ticket(self, ip: str | None) -> Ticket:
        return self.guard.acquire(ip)

    async def run(
        self,
        channel: Channel,
        direction: str,
        request: spec.Request,
        conn: Connection,
        start_ns: int,
        ip: str | None = None,
    ) -> Ndt7Result:
        """Run one accepted subtest to its end and store it. ``conn`` is the socket's two
        ends; ``ip`` the client's address when a trusted proxy forwarded the connection."""
        sock = await run_in_threadpool(
            find_socket, (conn.server_ip, conn.server_port), (conn.client_ip, conn.client_port)
        )
        try:
            result = Ndt7Result(
                uuid=make_uuid(socket_cookie(sock) if sock is not None else None),
                direction=direction,
                client_ip=ip or conn.client_ip,
                client_port=conn.client_port,
                server_ip=conn.server_ip,
                server_port=conn.server_port,
                start_ns=start_ns,
                test_start_ns=time.time_ns(),
                client_metadata=request.metadata,
                congestion_control=congestion_control(sock) if sock is not None else None,
            )
            runner = TestRunner(
                channel, result, sock, limits=self.limits, early_exit_bytes=request.early_exit_bytes
            )
            if direction == spec.DOWNLOAD:
                await runner.download()
            else:
                await runner.upload()
        finally:
            if sock is not None:
                sock.close()
        await run_in_threadpool(self.store, result)
        return result

    def store(self, result: Ndt7Result) -> int | None:
        """File first (the complete record), then the row that points at it."""
        try:
            archive = write_result(Path(self.settings.data_dir), result)
            return record_local_test(self.engine, result, archive, self.asn, self.geoip)
        except Exception:
            # A full disk or a database outage loses this test, never the server.
            log.exception("could not store ndt7 test %s", result.uuid)
            return None
