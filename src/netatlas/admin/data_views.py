"""The admin pages that change data: API keys, export targets, survey reviews, CSV exports.

Every change is a POST carrying the session's CSRF token; on success the browser is sent
back to the list with a message (``?done=…``), on bad input the form is shown again with a
message per field (400).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from netatlas.admin import exports, key_views, keys, surveys
from netatlas.admin.audit import ChangeError
from netatlas.admin.guard import NO_STORE, Admin, admin_view, engine_of, render
from netatlas.broadband.form import FormError, load_form
from netatlas.http.state import core_of
from netatlas.location.services import services_of

__all__ = ["DONE", "key_page", "keys_page", "page_number", "routes"]

#: Messages shown after a change, by the ``done`` code in the redirect.
DONE = {
    "key-created": "The key was created.",
    "key-updated": "The key was saved. Servers pick up changes within five minutes.",
    "key-deleted": "The key was deleted.",
    "export-created": "The export target was created.",
    "export-updated": "The export target was saved.",
    "export-deleted": "The export target was deleted.",
    "survey-verified": "The response is marked verified.",
    "survey-unverified": "The response is marked not verified.",
    "survey-deleted": "The response was deleted.",
    **key_views.DONE,
}


def _private(request: Request) -> bool:
    """Whether admin-set URLs may name private addresses (NETATLAS_ALLOW_PRIVATE_TARGETS)."""
    return bool(core_of(request).settings.allow_private_targets)


def page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 7 else 1


def _done(path: str, code: str, query: Mapping[str, str] | None = None) -> Response:
    params = {**(query or {}), "done": code}
    return RedirectResponse(f"{path}?{urlencode(params)}", status_code=303, headers=NO_STORE)


def _message(request: Request) -> str | None:
    return DONE.get(request.query_params.get("done", ""))


def _form(admin: Admin) -> dict[str, str]:
    assert admin.form is not None
    return admin.form


# ---- API keys -------------------------------------------------------------------------------


async def keys_page(request: Request, admin: Admin, status: int = 200, **extra: Any) -> Response:
    rows = await run_in_threadpool(keys.list_keys, engine_of(request))
    context = await run_in_threadpool(key_views.keys_context, request)
    return render(
        request,
        "admin/keys.html",
        status=status,
        admin=admin,
        section="keys",
        rows=rows,
        fields=keys.FIELDS,
        schemas=keys.SCHEMA_CHOICES,
        message=_message(request),
        **{**context, **extra},
    )


@admin_view
async def keys_list(request: Request, admin: Admin) -> Response:
    if admin.form is None:
        return await keys_page(request, admin)
    form = _form(admin)
    try:
        # In a worker thread: checking the fallback URL may resolve its host name.
        private = _private(request)
        values = await run_in_threadpool(keys.parse_form, form, private)
        await run_in_threadpool(
            keys.create_key,
            engine_of(request),
            admin.actor,
            form.get("valid_key", ""),
            values,
            private,
        )
    except ChangeError as exc:
        return await keys_page(request, admin, 400, errors=exc.errors, values=form)
    return _done("/admin/keys", "key-created")


@admin_view
async def key_edit(request: Request, admin: Admin) -> Response:
    name = request.path_params["key"]
    engine = engine_of(request)
    errors: dict[str, str] = {}
    values: Mapping[str, Any] | None = None
    if admin.form is not None:
        form = _form(admin)
        try:
            private = _private(request)
            parsed = await run_in_threadpool(keys.parse_form, form, private)
            await run_in_threadpool(keys.update_key, engine, admin.actor, name, parsed, private)
            services_of(request).keys.clear()
            return _done("/admin/keys", "key-updated")
        except ChangeError as exc:
            errors, values = exc.errors, form
    return await key_page(request, admin, name, errors=errors, values=values)


async def key_page(
    request: Request,
    admin: Admin,
    name: str,
    errors: dict[str, str] | None = None,
    values: Mapping[str, Any] | None = None,
    **extra: Any,
) -> Response:
    """A key's page: its settings form, its sign-up details and its blocks."""
    row = await run_in_threadpool(keys.get_key, engine_of(request), name)
    if row is None:
        return render(request, "404.html", status=404)
    context = await run_in_threadpool(key_views.key_context, request, name)
    failed = bool(errors) or bool(extra.get("block_errors"))
    return render(
        request,
        "admin/key_form.html",
        status=400 if failed else 200,
        admin=admin,
        section="keys",
        key=name,
        row=row,
        values=values or row,
        errors=errors or {},
        fields=keys.FIELDS,
        schemas=keys.SCHEMA_CHOICES,
        message=_message(request),
        **{**context, **extra},
    )


@admin_view
async def key_delete(request: Request, admin: Admin) -> Response:
    try:
        await run_in_threadpool(
            keys.delete_key, engine_of(request), admin.actor, request.path_params["key"]
        )
    except ChangeError:
        return render(request, "404.html", status=404)
    services_of(request).keys.clear()  # this process at once; the others within minutes
    return _done("/admin/keys", "key-deleted")


# ---- export targets --------------------------------------------------------------------------


async def _exports_page(
    request: Request, admin: Admin, status: int = 200, **extra: Any
) -> Response:
    rows = await run_in_threadpool(exports.listing, engine_of(request))
    return render(
        request,
        "admin/exports.html",
        status=status,
        admin=admin,
        section="exports",
        rows=rows,
        schemas=exports.SCHEMAS,
        sources=exports.SOURCES,
        message=_message(request),
        **extra,
    )


def _change(admin: Admin, apply: Callable[[dict[str, Any]], None]) -> dict[str, str] | None:
    """Parse the export form and apply it; the errors per field, or None when done."""
    form = _form(admin)
    try:
        apply(exports.parse_form(form))
    except ChangeError as exc:
        return exc.errors
    return None


@admin_view
async def exports_list(request: Request, admin: Admin) -> Response:
    if admin.form is None:
        return await _exports_page(request, admin)
    engine, name = engine_of(request), admin.form.get("name", "")
    errors = await run_in_threadpool(
        _change,
        admin,
        lambda v: exports.create(engine, admin.actor, name, v, allow_private=_private(request)),
    )
    if errors:
        return await _exports_page(request, admin, 400, errors=errors, values=_form(admin))
    return _done("/admin/exports", "export-created")


@admin_view
async def export_edit(request: Request, admin: Admin) -> Response:
    engine, name = engine_of(request), request.path_params["name"]
    errors: dict[str, str] = {}
    if admin.form is not None:
        found = await run_in_threadpool(
            _change,
            admin,
            lambda v: exports.update(engine, admin.actor, name, v, allow_private=_private(request)),
        )
        if not found:
            return _done("/admin/exports", "export-updated")
        errors = found
    row = await run_in_threadpool(exports.get, engine, name)
    if row is None:
        return render(request, "404.html", status=404)
    return render(
        request,
        "admin/export_form.html",
        status=400 if errors else 200,
        admin=admin,
        section="exports",
        name=name,
        values=_form(admin) if errors else row,
        errors=errors,
        schemas=exports.SCHEMAS,
        sources=exports.SOURCES,
    )


@admin_view
async def export_delete(request: Request, admin: Admin) -> Response:
    try:
        await run_in_threadpool(
            exports.delete, engine_of(request), admin.actor, request.path_params["name"]
        )
    except ChangeError:
        return render(request, "404.html", status=404)
    return _done("/admin/exports", "export-deleted")


# ---- survey responses ------------------------------------------------------------------------


def _list_query(request: Request) -> dict[str, str]:
    q = request.query_params
    sort = q.get("sort", "created")
    status = q.get("status", "all")
    return {
        "sort": sort if sort in surveys.SORTS else "created",
        "order": "asc" if q.get("order") == "asc" else "desc",
        "status": status if status in surveys.STATUSES else "all",
        "page": str(page_number(request)),
    }


@admin_view
async def surveys_list(request: Request, admin: Admin) -> Response:
    query = _list_query(request)
    result = await run_in_threadpool(
        surveys.responses,
        engine_of(request),
        int(query["page"]),
        query["sort"],
        query["order"],
        query["status"],
    )
    return render(
        request,
        "admin/surveys.html",
        admin=admin,
        section="surveys",
        result=result,
        query=query,
        fields=_questions(request),
        statuses=surveys.STATUSES,
        message=_message(request),
    )


_SURVEY_DONE = {
    "verify": "survey-verified",
    "unverify": "survey-unverified",
    "delete": "survey-deleted",
}


def _questions(request: Request) -> list[tuple[str, str, dict[str, str]]]:
    """The survey's questions (name, label, option labels by value); none when its settings
    file is broken."""
    try:
        form = load_form(core_of(request).settings.survey_path, engine_of(request))
    except FormError:
        return []
    return [(f.name, f.label, dict(f.options)) for f in form.fields]


def _survey_action(action: str) -> Any:
    @admin_view
    async def view(request: Request, admin: Admin) -> Response:
        survey_id = request.path_params["id"]
        engine = engine_of(request)
        try:
            if action == "delete":
                await run_in_threadpool(surveys.delete_response, engine, admin.actor, survey_id)
            else:
                await run_in_threadpool(
                    surveys.review, engine, admin.actor, survey_id, action == "verify"
                )
        except ChangeError:
            return render(request, "404.html", status=404)
        assert admin.form is not None
        keep = {k: admin.form.get(k, "") for k in ("sort", "order", "status", "page")}
        return _done("/admin/surveys", _SURVEY_DONE[action], {k: v for k, v in keep.items() if v})

    return view


@admin_view
async def surveys_export(request: Request, admin: Admin) -> Response:
    fields = [name for name, _, _ in _questions(request)]
    lines = surveys.surveys_csv(engine_of(request), fields)
    return _csv(lines, "netatlas-surveys.csv")


@admin_view
async def tests_export(request: Request, admin: Admin) -> Response:
    return _csv(surveys.measurements_csv(engine_of(request)), "netatlas-tests.csv")


def _csv(lines: Any, name: str) -> Response:
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(lines, media_type="text/csv; charset=utf-8", headers=headers)


routes = [
    *key_views.routes,
    Route("/admin/keys", keys_list, methods=["GET", "POST"]),
    Route("/admin/keys/{key}", key_edit, methods=["GET", "POST"]),
    Route("/admin/keys/{key}/delete", key_delete, methods=["POST"]),
    Route("/admin/exports", exports_list, methods=["GET", "POST"]),
    Route("/admin/exports/{name}", export_edit, methods=["GET", "POST"]),
    Route("/admin/exports/{name}/delete", export_delete, methods=["POST"]),
    Route("/admin/surveys", surveys_list, methods=["GET"]),
    Route("/admin/surveys.csv", surveys_export, methods=["GET"]),
    Route("/admin/tests.csv", tests_export, methods=["GET"]),
    *(
        Route(f"/admin/surveys/{{id:int}}/{action}", _survey_action(action), methods=["POST"])
        for action in ("verify", "unverify", "delete")
    ),
]
