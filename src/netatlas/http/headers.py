"""Security headers of the HTML pages: the content policy, no framing, the referrer policy."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from netatlas.settings import Settings

__all__ = ["page_headers"]


def _basemap_origin(settings: Settings) -> str:
    parts = urlsplit(settings.basemap_url.replace("{s}", "a"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    host = parts.netloc
    if "{s}" in settings.basemap_url:  # Leaflet's subdomains a, b, c
        host = "*." + host.split(".", 1)[1] if "." in host else host
    return f"{parts.scheme}://{host}"


def page_headers(settings: Settings, connect: Sequence[str] = ()) -> dict[str, str]:
    """Headers of every HTML page: no framing, only our own scripts, the basemap's images.

    :class:`netatlas.http.middleware.SecurityHeaders` adds them to every ``text/html``
    response that does not carry its own policy; a page that must reach other hosts (the
    speed test, with M-Lab's servers) sends this policy with those hosts in ``connect``.
    """
    images = " ".join(filter(None, ["'self'", "data:", _basemap_origin(settings)]))
    connects = " ".join(["'self'", *connect])
    csp = (
        "default-src 'self'; "
        f"img-src {images}; "
        "script-src 'self'; style-src 'self'; "
        f"connect-src {connects}; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": csp,
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
    }
