"""The admin pages' self-service key actions: the sign-up policy (``/admin/signup``),
approving, revoking and restoring a key, and adding and removing a key's blocks. The keys
list and a key's page (:mod:`.data_views`) show what these change, with
:func:`keys_context` and :func:`key_context`.

A change is seen at once by this process and within five minutes by the others (their key
cache); a saved policy within seconds.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from netatlas.admin import key_abuse
from netatlas.admin.audit import ChangeError
from netatlas.admin.guard import NO_STORE, Admin, admin_view, engine_of, render
from netatlas.db.documents import get_document
from netatlas.http.metrics import spool_dir
from netatlas.location import keyblocks
from netatlas.location.services import services_of
from netatlas.location.signup import DOCUMENT, MODES, policy_document

__all__ = ["DONE", "key_context", "keys_context", "routes"]

DONE = {
    "signup-saved": "The sign-up settings were saved. Servers use them within seconds.",
    "signup-reset": "The saved sign-up settings were removed: the server's settings apply.",
    "key-approve": "The key was approved: it works within five minutes.",
    "key-revoke": "The key was revoked: it is refused within five minutes.",
    "key-restore": "The key was restored: it works within five minutes.",
    "key-blocked": "The block was added: it applies within five minutes.",
    "key-unblocked": "The block was removed.",
}


def _redirect(path: str, code: str) -> Response:
    return RedirectResponse(f"{path}?done={code}", status_code=303, headers=NO_STORE)


def _saved_policy(request: Request) -> bool:
    with engine_of(request).connect() as conn:
        return get_document(conn, DOCUMENT) is not None


def keys_context(request: Request) -> dict[str, Any]:
    """The keys page's sign-up policy and keyless client families (call in a thread)."""
    services = services_of(request)
    policy = services.signup.current()
    return {
        "policy": policy_document(policy),
        "policy_saved": _saved_policy(request),
        "modes": MODES,
        "families": key_abuse.client_families(spool_dir(services.settings.data_dir)),
        "blocks": {},
    }


def key_context(request: Request, key: str) -> dict[str, Any]:
    """A key's page: its blocks (call in a thread)."""
    return {"blocks": keyblocks.list_blocks(engine_of(request), key)}


async def _keys_error(request: Request, admin: Admin, errors: dict[str, str]) -> Response:
    from netatlas.admin.data_views import keys_page

    return await keys_page(request, admin, 400, errors=errors)


@admin_view
async def signup_policy(request: Request, admin: Admin) -> Response:
    assert admin.form is not None
    engine = engine_of(request)
    if admin.form.get("action") == "reset":
        await run_in_threadpool(key_abuse.reset_policy, engine, admin.actor)
        code = "signup-reset"
    else:
        try:
            document = key_abuse.parse_policy_form(admin.form)
        except ChangeError as exc:
            return await _keys_error(
                request, admin, {f"signup_{k}": v for k, v in exc.errors.items()}
            )
        await run_in_threadpool(key_abuse.save_policy, engine, admin.actor, document)
        code = "signup-saved"
    services_of(request).signup.forget()
    return _redirect("/admin/keys", code)


@admin_view
async def key_status(request: Request, admin: Admin) -> Response:
    assert admin.form is not None
    key, action = request.path_params["key"], admin.form.get("action", "")
    try:
        await run_in_threadpool(key_abuse.set_status, engine_of(request), admin.actor, key, action)
    except ChangeError:
        return render(request, "404.html", status=404)
    services_of(request).keys.clear()
    return _redirect("/admin/keys", f"key-{action}")


@admin_view
async def key_block(request: Request, admin: Admin) -> Response:
    assert admin.form is not None
    key = request.path_params["key"]
    try:
        await run_in_threadpool(
            key_abuse.add_block, engine_of(request), admin.actor, key, admin.form
        )
    except ChangeError as exc:
        from netatlas.admin.data_views import key_page

        return await key_page(request, admin, key, block_errors=exc.errors, block=admin.form)
    services_of(request).keys.clear()
    return _redirect(f"/admin/keys/{key}", "key-blocked")


@admin_view
async def key_unblock(request: Request, admin: Admin) -> Response:
    key, block_id = request.path_params["key"], request.path_params["id"]
    try:
        await run_in_threadpool(
            key_abuse.remove_block, engine_of(request), admin.actor, key, block_id
        )
    except ChangeError:
        return render(request, "404.html", status=404)
    services_of(request).keys.clear()
    return _redirect(f"/admin/keys/{key}", "key-unblocked")


routes = [
    Route("/admin/signup", signup_policy, methods=["POST"]),
    Route("/admin/keys/{key}/status", key_status, methods=["POST"]),
    Route("/admin/keys/{key}/blocks", key_block, methods=["POST"]),
    Route("/admin/keys/{key}/blocks/{id:int}/delete", key_unblock, methods=["POST"]),
]
