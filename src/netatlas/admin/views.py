"""The admin pages: login and logout, the overview, the audit log and the survey form and
aggregations editor. Keys, exports and surveys are in :mod:`.data_views`.

``/admin/login`` is the only page without a session. A wrong password answers 401; too many
(see :mod:`.auth`) answer 429 with ``Retry-After`` until the lock-out ends.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from netatlas.admin import auth, challenge, data_views, settings_docs
from netatlas.admin.audit import Actor, ChangeError, entries, record_now
from netatlas.admin.guard import (
    NO_STORE,
    Admin,
    admin_view,
    client_address,
    engine_of,
    forbidden,
    read_form,
    render,
    set_cookie,
    signer_of,
)
from netatlas.admin.overview import configuration, overview
from netatlas.admin.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    check_nonce,
    new_login_nonce,
    same_origin,
)
from netatlas.broadband.state import reread_documents
from netatlas.http.state import core_of

__all__ = ["routes"]

AUDIT_PER_PAGE = 50
MAX_LOGIN_FORM = 4096


def _safe_next(target: str | None) -> str:
    """Only paths inside the admin pages: never another site."""
    if target and target.startswith("/admin") and "//" not in target and "\\" not in target:
        return target
    return "/admin"


async def _login_page(request: Request, status: int = 200, error: str | None = None) -> Response:
    nonce = new_login_nonce()
    has_users = await run_in_threadpool(auth.has_users, engine_of(request))
    response = render(
        request,
        "admin/login.html",
        status=status,
        nonce=nonce,
        error=error,
        has_users=has_users,
        next=_safe_next(request.query_params.get("next")),
    )
    set_cookie(request, response, LOGIN_COOKIE, nonce, 3600)
    return response


async def login(request: Request) -> Response:
    if request.method == "GET":
        return await _login_page(request)
    headers = request.headers
    if not same_origin(headers.get("host"), headers.get("origin"), headers.get("referer")):
        return forbidden(request, "The form was sent from another site.")
    form = await read_form(request, MAX_LOGIN_FORM)
    if form is None:
        return forbidden(request, "The form could not be read.")
    if not check_nonce(request.cookies.get(LOGIN_COOKIE), form.get("nonce", "")):
        return await _login_page(request, 400, "The form had expired. Please try again.")
    name = form.get("user", "").strip()[:64]
    password = form.get("password", "")[:1024]
    ip = client_address(request)
    result = await run_in_threadpool(auth.login, engine_of(request), name, password, ip)
    if result.session is None:
        if result.retry_after:
            minutes = -(-result.retry_after // 60)
            response = await _login_page(
                request, 429, f"Too many failed logins. Try again in {minutes} minutes."
            )
            response.headers["Retry-After"] = str(result.retry_after)
            return response
        return await _login_page(request, 401, "Wrong user name or password.")
    await run_in_threadpool(
        record_now, engine_of(request), Actor(name, ip), "admin.login", name, None
    )
    target = _safe_next(form.get("next", ""))
    response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    cookie = signer_of(request).cookie(result.session.token)
    set_cookie(request, response, SESSION_COOKIE, cookie, int(auth.MAX_AGE.total_seconds()))
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    return response


@admin_view
async def logout(request: Request, admin: Admin) -> Response:
    engine = engine_of(request)
    await run_in_threadpool(auth.end_session, engine, admin.session.token)
    await run_in_threadpool(record_now, engine, admin.actor, "admin.logout", admin.actor.user, None)
    response = RedirectResponse("/admin/login", status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    return response


@admin_view
async def dashboard(request: Request, admin: Admin) -> Response:
    counts = await run_in_threadpool(overview, engine_of(request))
    return render(request, "admin/dashboard.html", admin=admin, section="overview", **counts)


@admin_view
async def audit(request: Request, admin: Admin) -> Response:
    page = data_views.page_number(request)
    rows, total = await run_in_threadpool(entries, engine_of(request), page, AUDIT_PER_PAGE)
    pages = max(1, -(-total // AUDIT_PER_PAGE))
    return render(
        request,
        "admin/audit.html",
        admin=admin,
        section="audit",
        rows=rows,
        total=total,
        page=min(page, pages),
        pages=pages,
    )


SETTINGS_DONE = {
    "survey-saved": "The survey form was saved. The speed-test page shows it within seconds.",
    "survey-reset": "The saved survey form was removed: the settings file or built-in form"
    " applies.",
    "aggregations-saved": "The aggregations were saved. Changed ones are rebuilt by the next"
    " statistics update.",
    "aggregations-reset": "The saved aggregations were removed: the settings file or built-in"
    " ones apply.",
}


async def _settings(request: Request, admin: Admin, status: int = 200, **extra: Any) -> Response:
    settings = core_of(request).settings
    engine = engine_of(request)
    context = await run_in_threadpool(configuration, settings, engine)
    docs = await run_in_threadpool(settings_docs.editors, settings, engine)
    message = SETTINGS_DONE.get(request.query_params.get("done", ""))
    return render(
        request,
        "admin/settings.html",
        status=status,
        admin=admin,
        section="settings",
        editors=docs,
        message=message,
        **{**context, **extra},
    )


@admin_view
async def settings_page(request: Request, admin: Admin) -> Response:
    return await _settings(request, admin)


def _forget(request: Request) -> None:
    """Let this process see a saved document at once (others within a few seconds)."""
    reread_documents(request)


@admin_view
async def settings_document(request: Request, admin: Admin) -> Response:
    name = request.path_params["name"]
    if name not in settings_docs.NAMES or admin.form is None:
        return render(request, "404.html", status=404)
    engine = engine_of(request)
    if admin.form.get("action") == "reset":
        await run_in_threadpool(settings_docs.reset, engine, admin.actor, name)
        _forget(request)
        return RedirectResponse(
            f"/admin/settings?done={name}-reset#{name}", status_code=303, headers=NO_STORE
        )
    text = admin.form.get("document", "")
    try:
        await run_in_threadpool(settings_docs.save, engine, admin.actor, name, text)
    except ChangeError as exc:
        return await _settings(request, admin, 400, errors=exc.errors, failed=name, submitted=text)
    _forget(request)
    return RedirectResponse(
        f"/admin/settings?done={name}-saved#{name}", status_code=303, headers=NO_STORE
    )


routes = [
    Route("/admin/login", login, methods=["GET", "POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin", dashboard, methods=["GET"]),
    Route("/admin/audit", audit, methods=["GET"]),
    Route("/admin/settings", settings_page, methods=["GET"]),
    Route("/admin/settings/{name}", settings_document, methods=["POST"]),
    *data_views.routes,
    *challenge.routes,
]
