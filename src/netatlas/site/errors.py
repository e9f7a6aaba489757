"""Not-found answers: an HTML page for people, the JSON error envelope for API paths."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from netatlas.http.errors import NotFound
from netatlas.http.responses import error_response
from netatlas.site.render import page

__all__ = ["exception_handlers", "is_api_path", "not_found"]

_API_PREFIXES = ("/api/", "/v1/", "/v2/", "/__", "/ndt/", "/tiles/", "/geo/")


def is_api_path(path: str) -> bool:
    """Paths whose clients are programs: they keep JSON errors."""
    return path.startswith(_API_PREFIXES) or path.endswith(".json")


async def not_found(request: Request, exc: Exception) -> Response:
    if is_api_path(request.url.path):
        return error_response(NotFound("Not found"))
    return page(request, "404.html", status=404)


exception_handlers = {404: not_found}
