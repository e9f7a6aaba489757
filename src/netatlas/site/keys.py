"""``/keys``: the self-service API key pages.

* ``GET /keys`` the sign-up form (when the operator offers keys) and a form to look up a key;
* ``POST /keys`` signs up: the key is shown on the answer page once (never stored in clear,
  never cached);
* ``POST /keys/usage`` shows a key's state, limits and use today (the key goes in the form
  body, not the address, so that it does not end up in logs or the browser's history).

The sign-up form is protected like the admin login form: it must come from this site
(``Origin``/``Referer``) and repeat a random value the page set in a short-lived cookie. The
domain steps are the JSON API's (:mod:`netatlas.location.keyviews`).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from netatlas.admin.guard import read_form
from netatlas.admin.security import check_nonce, new_login_nonce, same_origin
from netatlas.http.errors import ApiError
from netatlas.http.responses import request_ip
from netatlas.location.keyviews import NO_STORE, new_key, usage_of
from netatlas.location.services import services_of
from netatlas.location.signup import CONTACT_MAX, PURPOSE_MAX
from netatlas.site.render import page

__all__ = ["routes"]

COOKIE = "netatlas_signup"
MAX_FORM = 4096


def _error_text(error: ApiError) -> str:
    validation = (error.details or {}).get("validation")
    if isinstance(validation, dict) and validation:
        return "; ".join(f"{k}: {v}" for k, v in validation.items())
    return error.message


async def _form_page(
    request: Request, status: int = 200, error: str | None = None, **extra: Any
) -> Response:
    services = services_of(request)
    policy = await run_in_threadpool(services.signup.current)
    nonce = new_login_nonce()
    response = page(
        request,
        "keys.html",
        status=status,
        headers=dict(NO_STORE),
        mode=policy.mode,
        daily_limit=policy.daily_limit,
        keyless_per_minute=services.settings.keyless_rate_per_minute,
        nonce=nonce,
        error=error,
        contact_max=CONTACT_MAX,
        purpose_max=PURPOSE_MAX,
        **extra,
    )
    response.set_cookie(
        COOKIE,
        nonce,
        max_age=3600,
        path="/keys",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def keys_page(request: Request) -> Response:
    if request.method != "POST":
        return await _form_page(request)
    headers = request.headers
    if not same_origin(headers.get("host"), headers.get("origin"), headers.get("referer")):
        return await _form_page(request, 403, "The form was sent from another site.")
    form = await read_form(request, MAX_FORM)
    if form is None:
        return await _form_page(request, 400, "The form could not be read.")
    if not check_nonce(request.cookies.get(COOKIE), form.get("nonce", "")):
        return await _form_page(request, 400, "The form had expired. Please try again.")
    services = services_of(request)
    ip = request_ip(request, services.settings.trusted_proxies)
    contact, purpose = form.get("contact", ""), form.get("purpose", "")
    try:
        made = await run_in_threadpool(new_key, services, ip, contact, purpose)
    except ApiError as error:
        response = await _form_page(
            request, error.status, _error_text(error), contact=contact, purpose=purpose
        )
        response.headers.update(error.headers)
        retry = getattr(error, "retry_after", None)
        if retry:
            response.headers["Retry-After"] = str(retry)
        return response
    response = page(request, "key_created.html", status=201, headers=dict(NO_STORE), made=made)
    response.delete_cookie(COOKIE, path="/keys")
    return response


async def usage_page(request: Request) -> Response:
    form = await read_form(request, MAX_FORM)
    key = (form or {}).get("key", "").strip()
    services = services_of(request)
    try:
        usage = await run_in_threadpool(usage_of, services, key)
    except ApiError:
        return await _form_page(request, 400, "No such key.", lookup_error=True)
    return page(request, "key_usage.html", headers=dict(NO_STORE), usage=usage)


routes = [
    Route("/keys", keys_page, methods=["GET", "HEAD", "POST"]),
    Route("/keys/usage", usage_page, methods=["POST"]),
]
