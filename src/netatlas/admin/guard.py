"""The admin pages' HTTP plumbing: who is logged in, the CSRF check on every POST, cookies,
and rendering with the admin headers (never cached, never framed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from netatlas.admin.audit import Actor
from netatlas.admin.auth import Session, get_session
from netatlas.admin.security import SESSION_COOKIE, Signer, same_origin
from netatlas.http.clientip import client_ip
from netatlas.http.secret import site_secret
from netatlas.http.state import Core, Lazy, core_of, state_of
from netatlas.site.render import page

__all__ = [
    "Admin",
    "AdminParts",
    "admin_view",
    "build_signer",
    "client_address",
    "engine_of",
    "render",
    "set_cookie",
    "signer_of",
]

MAX_FORM_BYTES = 64 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass(frozen=True)
class Admin:
    """A request by a logged-in administrator: the session, the form (POST) and the actor."""

    session: Session
    form: dict[str, str] | None
    actor: Actor
    csrf: str


class AdminParts(Protocol):
    """The admin pages' own part of the app's services (see :mod:`netatlas.http.state`)."""

    admin_signer: Lazy[Signer]


def build_signer(core: Core) -> Signer:
    return Signer(site_secret(core.settings.secret_key, core.settings.data_dir))


def engine_of(request: Request) -> Engine:
    return core_of(request).engine


def signer_of(request: Request) -> Signer:
    parts: AdminParts = state_of(request)
    return parts.admin_signer.get()


def client_address(request: Request) -> str | None:
    settings = core_of(request).settings
    host = request.client.host if request.client else None
    return client_ip(host, request.headers.get("x-forwarded-for"), settings.trusted_proxies)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """An admin cookie: HttpOnly, SameSite=Strict, only for /admin, Secure over HTTPS."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/admin",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def render(
    request: Request, template: str, status: int = 200, admin: Admin | None = None, **context: Any
) -> Response:
    return page(
        request,
        template,
        status=status,
        headers=NO_STORE,
        user=admin.session.user if admin else None,
        csrf=admin.csrf if admin else None,
        **context,
    )


async def current_session(request: Request) -> Session | None:
    token = signer_of(request).token_of(request.cookies.get(SESSION_COOKIE))
    if token is None:
        return None
    return await run_in_threadpool(get_session, engine_of(request), token)


async def read_form(request: Request, limit: int) -> dict[str, str] | None:
    """The fields of an URL-encoded form of at most ``limit`` bytes (the last value of a
    repeated field), or None for another content type, a bigger body or a bad encoding."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if kind != "application/x-www-form-urlencoded" or not (
        declared.isascii() and declared.isdigit()
    ):
        return None
    if int(declared) > limit:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError):
        return None


def forbidden(request: Request, reason: str) -> Response:
    return render(request, "admin/forbidden.html", status=403, reason=reason)


Handler = Callable[[Request, Admin], Awaitable[Response]]


def admin_view(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: redirect to the login page without a session; on POST check that the
    request comes from this site and carries the session's CSRF token."""

    async def view(request: Request) -> Response:
        session = await current_session(request)
        if session is None:
            target = quote(request.url.path, safe="/")
            return RedirectResponse(
                f"/admin/login?next={target}", status_code=303, headers=NO_STORE
            )
        signer = signer_of(request)
        form = None
        if request.method == "POST":
            if not same_origin(
                request.headers.get("host"),
                request.headers.get("origin"),
                request.headers.get("referer"),
            ):
                return forbidden(request, "The form was sent from another site.")
            form = await read_form(request, MAX_FORM_BYTES)
            if form is None:
                return forbidden(request, "The form could not be read.")
            if not signer.check_csrf(session.token, str(form.get("csrf") or "")):
                return forbidden(
                    request, "The form has expired. Go back, reload the page and try again."
                )
        admin = Admin(
            session, form, Actor(session.user, client_address(request)), signer.csrf(session.token)
        )
        return await handler(request, admin)

    return view
