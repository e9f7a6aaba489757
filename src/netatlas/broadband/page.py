"""The speed-test page: its settings object, its template context and its headers.

The page runs M-Lab's official browser client (``@m-lab/ndt7``, copied from npm into
``/static/vendor/ndt7/`` at set-up) against this server, or against M-Lab's servers through
Locate v2 when ``NETATLAS_NDT7_MODE=mlab``. The form is rendered on the server from the
survey settings, so it reads without script; ``/static/speedtest/speedtest.js`` runs the test
and sends the survey. The site renders the page (``speedtest.html``) from what
:func:`content` returns: a feature does not know the site's templates' environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netatlas import __version__
from netatlas.broadband.form import Form
from netatlas.broadband.ndt7.tokens import TOKEN_TTL
from netatlas.broadband.service import Broadband
from netatlas.broadband.usecases import DEFAULT_TABLE, UseCaseTable, table
from netatlas.http.headers import page_headers
from netatlas.settings import Settings

__all__ = ["CLIENT_NAME", "VENDOR_PATH", "Content", "connect_sources", "content", "page_config"]

CLIENT_NAME = "netatlas-speedtest"
VENDOR_PATH = "/static/vendor/ndt7/"


def page_config(
    bb: Broadband, ip: str | None, cases: UseCaseTable = DEFAULT_TABLE
) -> dict[str, Any]:
    """What the page's script needs: mode, token rule, form, use-case table (the one the
    statistics judge by), ISP guess."""
    guess = bb.asn.lookup(ip) if ip else None
    return {
        "mode": bb.settings.ndt7_mode,
        "server": bb.settings.ndt7_server or None,  # None: the page's own host
        "tokens_required": bb.settings.ndt7_tokens_required,
        "token_ttl": TOKEN_TTL,
        "client_name": CLIENT_NAME,
        "client_version": __version__,
        "vendor": VENDOR_PATH,
        "form": bb.form.public(),
        "use_cases": table(cases),
        "isp_guess": guess.name if guess else None,
    }


#: Where the page connects in M-Lab mode: the Locate API, then an M-Lab server.
MLAB_SOURCES = ("https://locate.measurementlab.net", "wss://*.measurement-lab.org")


def connect_sources(settings: Settings) -> tuple[str, ...]:
    """Hosts besides this site the page's script connects to (for its Content-Security-Policy)."""
    if settings.ndt7_mode == "mlab":
        return MLAB_SOURCES
    if settings.ndt7_server:
        return (f"ws://{settings.ndt7_server}", f"wss://{settings.ndt7_server}")
    return ()


@dataclass(frozen=True)
class Content:
    """What the site renders ``speedtest.html`` with: the template's context and the headers
    (``None``: the site's own Content-Security-Policy)."""

    context: dict[str, Any]
    headers: dict[str, str] | None


def content(config: dict[str, Any], form: Form, settings: Settings) -> Content:
    extra = connect_sources(settings)
    return Content(
        context={"config": config, "form": form, "mlab": config["mode"] == "mlab"},
        headers=page_headers(settings, extra) if extra else None,
    )
