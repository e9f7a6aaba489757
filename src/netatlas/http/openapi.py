"""``GET /openapi.json``: an OpenAPI 3.1 document built from the msgspec Structs of the API.

Each feature's views module describes its operations next to its ``routes`` in a list named
``openapi`` of :class:`OpenAPIPath` entries: request and response bodies are the msgspec types
the views decode and encode, turned into JSON Schema by ``msgspec.json.schema_components``.
:func:`build_document` gathers the lists of the modules the app mounts, so a feature documents
itself without touching this module.

A JSON route under ``/api/`` or an MLS path that no module documents yet still appears, with
its methods and an undescribed response, so the document never hides an endpoint; the test
suite lists such routes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from netatlas import __version__

__all__ = [
    "OpenAPIPath",
    "Param",
    "Reply",
    "app_document",
    "build_document",
    "feature_modules",
    "gather",
    "openapi_route",
    "undocumented",
]

REF = "#/components/schemas/{name}"
JSON = "application/json"
# Paths whose undocumented routes still get an entry (the public API surface).
PUBLIC_PREFIXES = ("/api/", "/v1/", "/v2/", "/__")


@dataclass(frozen=True)
class Reply:
    """One documented response: a description and, for a body, its type and media type."""

    description: str
    body: Any = None  # a msgspec-encodable type; None: no body
    media_type: str = JSON
    headers: tuple[str, ...] = ()  # response headers worth naming, e.g. "Retry-After"


@dataclass(frozen=True)
class Param:
    """A query parameter."""

    name: str
    description: str
    type: Any = str
    required: bool = False


@dataclass(frozen=True)
class OpenAPIPath:
    """One operation: ``method`` on ``path`` (a route path as Starlette writes it)."""

    path: str
    method: str
    summary: str
    responses: Mapping[int, Reply]
    request: Any = None  # the JSON body's type; None: no body
    request_required: bool = False
    request_media_types: tuple[str, ...] = (JSON,)
    params: Sequence[Param] = ()
    tags: tuple[str, ...] = ()
    description: str = ""
    operation_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


_HEADER_DOCS = {
    "Retry-After": "Seconds to wait before trying again.",
    "X-Request-ID": "The request's id, as logged.",
    "X-RateLimit-Limit": "Requests allowed in the window (a key's UTC day, or the keyless minute).",
    "X-RateLimit-Remaining": "Requests left in the window after this one.",
    "X-RateLimit-Reset": "Seconds until the window ends and the count starts again.",
}


def _operation_id(entry: OpenAPIPath) -> str:
    if entry.operation_id:
        return entry.operation_id
    slug = "".join(c if c.isalnum() else "_" for c in entry.path).strip("_")
    return f"{entry.method.lower()}_{slug or 'root'}"


def _schemas(entries: Sequence[OpenAPIPath]) -> tuple[dict[Any, Any], dict[str, Any]]:
    types: list[Any] = []
    for entry in entries:
        if entry.request is not None:
            types.append(entry.request)
        types += [r.body for r in entry.responses.values() if r.body is not None]
    for param in (p for e in entries for p in e.params):
        types.append(param.type)
    unique = list(dict.fromkeys(types))
    schemas, components = msgspec.json.schema_components(unique, ref_template=REF)
    return dict(zip(unique, schemas, strict=True)), components


def _operation(entry: OpenAPIPath, schema_of: Mapping[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": _operation_id(entry), "summary": entry.summary}
    if entry.description:
        op["description"] = entry.description
    if entry.tags:
        op["tags"] = list(entry.tags)
    if entry.params:
        op["parameters"] = [
            {
                "name": p.name,
                "in": "query",
                "required": p.required,
                "description": p.description,
                "schema": schema_of[p.type],
            }
            for p in entry.params
        ]
    if entry.request is not None:
        op["requestBody"] = {
            "required": entry.request_required,
            "content": {m: {"schema": schema_of[entry.request]} for m in entry.request_media_types},
        }
    responses: dict[str, Any] = {}
    for status, reply in sorted(entry.responses.items()):
        out: dict[str, Any] = {"description": reply.description}
        if reply.body is not None:
            out["content"] = {reply.media_type: {"schema": schema_of[reply.body]}}
        if reply.headers:
            out["headers"] = {
                h: {"description": _HEADER_DOCS.get(h, h), "schema": {"type": "string"}}
                for h in reply.headers
            }
        responses[str(status)] = out
    op["responses"] = responses
    op.update(entry.extra)
    return op


def _methods(route: Route) -> list[str]:
    return sorted(m.lower() for m in (route.methods or ()) if m not in ("HEAD", "OPTIONS"))


def undocumented(routes: Iterable[BaseRoute], entries: Iterable[OpenAPIPath]) -> list[str]:
    """``"METHOD path"`` of public HTTP routes whose path no entry describes.

    A documented path's other methods (Ichnaea's GET on the locate and submit paths, POST on
    the heartbeats) are compatibility quirks, not separate endpoints: they are not listed.
    """
    known = {e.path for e in entries}
    missing = []
    for route in routes:
        if not isinstance(route, Route) or not route.path.startswith(PUBLIC_PREFIXES):
            continue
        if route.path not in known:
            missing += [f"{m.upper()} {route.path}" for m in _methods(route)]
    return missing


def feature_modules(routes: Iterable[BaseRoute]) -> list[ModuleType]:
    """The modules the routes' endpoints are defined in, in route order, each once."""
    names: dict[str, None] = {}
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        name = getattr(endpoint, "__module__", None)
        if isinstance(name, str):
            names.setdefault(name, None)
    return [sys.modules[n] for n in names if n in sys.modules]


def gather(modules: Iterable[ModuleType]) -> list[OpenAPIPath]:
    """The ``openapi`` lists of ``modules``, concatenated."""
    entries: list[OpenAPIPath] = []
    for module in modules:
        entries += getattr(module, "openapi", [])
    return entries


def build_document(
    entries: Sequence[OpenAPIPath], routes: Iterable[BaseRoute] = ()
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``entries``, plus stubs for undocumented public routes."""
    schema_of, components = _schemas(entries)
    paths: dict[str, dict[str, Any]] = {}
    for entry in entries:
        paths.setdefault(entry.path, {})[entry.method.lower()] = _operation(entry, schema_of)
    for item in undocumented(routes, entries):
        method, path = item.split(" ", 1)
        paths.setdefault(path, {})[method.lower()] = {
            "operationId": f"{method.lower()}_{path.strip('/').replace('/', '_')}",
            "summary": "Not described yet.",
            "responses": {"default": {"description": "See the feature's documentation."}},
        }
    for path, operations in paths.items():
        names = [n.split(":")[0] for n in _path_params(path)]
        if names:
            params = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in names
            ]
            for op in operations.values():
                op.setdefault("parameters", [])
                op["parameters"] = params + op["parameters"]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "NetAtlas",
            "version": __version__,
            "description": (
                "Crowd-sourced location service, wire-compatible with Mozilla Location Service"
                " (Ichnaea), and community broadband observatory."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components},
    }


def _path_params(path: str) -> list[str]:
    out, rest = [], path
    while "{" in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        out.append(rest[start + 1 : end])
        rest = rest[end + 1 :]
    return out


def _to_openapi_path(path: str) -> str:
    """Starlette's ``{z:int}`` is OpenAPI's ``{z}``."""
    for name in _path_params(path):
        path = path.replace("{" + name + "}", "{" + name.split(":")[0] + "}")
    return path


def app_document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The document of an app: the ``openapi`` lists of the modules its endpoints live in."""
    document = build_document(gather(feature_modules(routes)), routes)
    document["paths"] = {_to_openapi_path(p): v for p, v in document["paths"].items()}
    return document


def openapi_route(path: str = "/openapi.json") -> Route:
    """The route serving the app's document (built once, at the first request)."""
    cache: list[bytes] = []

    async def openapi_json(request: Request) -> Response:
        if not cache:
            document = app_document(request.app.routes)
            cache.append(msgspec.json.encode(document))
        return Response(cache[0], media_type=JSON)

    return Route(path, openapi_json, methods=["GET"])
