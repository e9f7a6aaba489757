"""Headers every response carries (Ichnaea sent the first two on all responses), and the
page headers every HTML response carries, whichever view or template made it."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_HEADERS = [
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
]


class SecurityHeaders:
    """Adds HSTS and ``nosniff`` to every response, and ``html`` (the Content-Security-Policy,
    framing and referrer headers of :func:`netatlas.http.headers.page_headers`) to every
    ``text/html`` response that has not set them itself. One place, so no page can miss them.
    A plain ASGI middleware, cheap on the hot path."""

    def __init__(self, app: ASGIApp, html: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.html = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (html or {}).items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                if content_type.lower().startswith(b"text/html"):
                    headers.extend((n, v) for n, v in self.html if n not in names)
                headers.extend(_HEADERS)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
