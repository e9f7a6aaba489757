"""Rendering the site's HTML: one Jinja2 environment, the base template's context, and the
headers every page carries.

Pages extend ``base.html`` (header, navigation, footer) and load only this site's own files:
the Content-Security-Policy allows scripts, styles and data from the site itself, and images
from the configured basemap host when there is one.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from netatlas import __version__
from netatlas.http.state import core_of
from netatlas.settings import Settings

__all__ = ["NAV", "STATIC_DIR", "env", "page", "script_json", "static_url"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The public pages, in menu order: (path, label).
NAV: tuple[tuple[str, str], ...] = (
    ("/", "Broadband map"),
    ("/speedtest", "Speed test"),
    ("/coverage", "Coverage"),
    ("/stats", "Statistics"),
    ("/downloads", "Downloads"),
    ("/api", "API"),
)


@functools.cache
def _file_hash(path: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return __version__


def static_url(path: str) -> str:
    """``/static/<path>?v=<content hash>``: a changed file is a new URL for browser caches."""
    return f"/static/{path}?v={_file_hash(path)}"


def with_query(base: Mapping[str, Any], **changes: Any) -> str:
    """``?…`` with the ``base`` parameters and ``changes`` on top (for sort and page links)."""
    return "?" + urlencode({**base, **changes})


def script_json(data: Any) -> Markup:
    """JSON for a ``<script type="application/json">`` block ("<" cannot end the block)."""
    return Markup(msgspec.json.encode(data).decode().replace("<", "\\u003c"))


env = Environment(
    loader=PackageLoader("netatlas", "site/templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.globals.update(
    static_url=static_url,
    script_json=script_json,
    with_query=with_query,
    nav=NAV,
    version=__version__,
)


def map_config(settings: Settings) -> dict[str, Any]:
    """What the map scripts need to know about the basemap."""
    return {
        "basemap_url": settings.basemap_url or None,
        "basemap_attribution": settings.basemap_attribution if settings.basemap_url else None,
    }


def page(
    request: Request,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page rendered from ``template`` with the base context (current path, map config);
    the security headers are added by the middleware, as for every HTML response."""
    settings: Settings = core_of(request).settings
    html = env.get_template(template).render(
        path=request.url.path, map_config=map_config(settings), **context
    )
    return HTMLResponse(html, status_code=status, headers=headers)
