"""The ``/api`` page's content: the app's OpenAPI document as sections with curl examples.

The document is the app's own ``/openapi.json``, fetched in-process once and kept; an app
without that route (or with a broken one) gets :data:`FALLBACK`, a short hand-written
description of the main endpoints, so the page always says something true.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import msgspec

from netatlas.http.state import state_of

__all__ = ["FALLBACK", "document", "sections"]

_METHODS = ("get", "post", "put", "patch", "delete")


def _op(summary: str, body: Any = None, params: list[dict[str, Any]] | None = None) -> Any:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "OK"}}}
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"example": body}}}
    if params:
        op["parameters"] = params
    return op


def _q(name: str, text: str, example: Any = None, where: str = "query") -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "description": text}
    if where == "path":
        param["required"] = True
    if example is not None:
        param["example"] = example
    return param


_WIFI = [
    {"macAddress": "01:23:45:67:89:ab", "signalStrength": -51},
    {"macAddress": "01:23:45:67:89:cd", "signalStrength": -68},
]
FALLBACK: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "NetAtlas", "version": "1"},
    "paths": {
        "/v1/geolocate": {
            "post": _op(
                "Where is the device? (Mozilla Location Service / Google geolocation format)",
                {"considerIp": True, "wifiAccessPoints": _WIFI},
                [_q("key", "API key, when the service requires one", "test")],
            )
        },
        "/v1/country": {"post": _op("Which country is the device in?", {"considerIp": True})},
        "/v2/geosubmit": {
            "post": _op(
                "Contribute observations: positions with the networks heard there",
                {
                    "items": [
                        {
                            "timestamp": 1700000000000,
                            "position": {"latitude": 51.48, "longitude": -0.005, "accuracy": 10},
                            "wifiAccessPoints": _WIFI,
                        }
                    ]
                },
            )
        },
        "/api/v1/broadband/aggregations": {"get": _op("The broadband statistics published")},
        "/api/v1/broadband/stats/{aggregation}": {
            "get": _op(
                "Speed-test statistics of one aggregation (area × time × ISP), with noise "
                "(see /privacy)",
                params=[
                    _q("aggregation", "an aggregation's name", "countries", "path"),
                    _q("b.time", "keep time slices (key) or re-bin them (quarter, year)", "key"),
                    _q("stats", "statistics to report", "tests,download_median,upload_median"),
                    _q("format", "geojson, json or csv", "json"),
                ],
            )
        },
        "/api/v1/stats": {
            "get": _op(
                "Stations and observations per day (running totals)",
                params=[_q("days", "only the last this many days", 365)],
            )
        },
        "/api/v1/stats/regions": {"get": _op("Stations per country")},
        "/api/v1/downloads": {"get": _op("The cell data files to download")},
        "/api/v1/packs": {"get": _op("Offline region packs (microG, Local NLP Backend)")},
        "/tiles/{z}/{x}/{y}.png": {
            "get": _op(
                "Coverage map tiles (where contributors have been)",
                params=[
                    _q("z", "zoom", 2, "path"),
                    _q("x", "column", 2, "path"),
                    _q("y", "row", 1, "path"),
                ],
            )
        },
        "/__heartbeat__": {"get": _op("Is the service and its database up?")},
        "/__version__": {"get": _op("The running version")},
    },
}


@dataclass
class ApiDocumentCache:
    """The app's OpenAPI document once read (and whether it was), kept for the app's life."""

    value: tuple[dict[str, Any], bool] | None = None


class ApiDocumentParts(Protocol):
    """The API page's part of the app's services (see :mod:`netatlas.http.state`)."""

    api_document: ApiDocumentCache


async def document(app: Any) -> tuple[dict[str, Any], bool]:
    """The app's OpenAPI document and True, or :data:`FALLBACK` and False (kept per app)."""
    parts: ApiDocumentParts = state_of(app)
    cached = parts.api_document.value
    if cached is not None:
        return cached
    found: tuple[dict[str, Any], bool] = (FALLBACK, False)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://local") as client:
            reply = await client.get("/openapi.json")
        if reply.status_code == 200:
            data = msgspec.json.decode(reply.content)
            if isinstance(data, dict) and isinstance(data.get("paths"), dict):
                found = (data, True)
    except (httpx.HTTPError, msgspec.DecodeError):
        pass
    parts.api_document.value = found
    return found


def _example(param: dict[str, Any]) -> str:
    for source in (param, param.get("schema") or {}):
        if "example" in source:
            return str(source["example"])
        if source.get("examples"):
            examples = source["examples"]
            first = examples[0] if isinstance(examples, list) else next(iter(examples.values()))
            return str(first.get("value", first) if isinstance(first, dict) else first)
        if "default" in source:
            return str(source["default"])
        if source.get("enum"):
            return str(source["enum"][0])
    return f"<{param.get('name', 'value')}>"


_SCALARS: dict[str, Any] = {"string": "text", "integer": 0, "number": 0.0, "boolean": True}


def _schema_example(schema: Any, components: dict[str, Any], depth: int = 0) -> Any:
    """A small value matching a JSON Schema: required properties (or the first few)."""
    if not isinstance(schema, dict) or depth > 4:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return _schema_example(components.get(ref.rsplit("/", 1)[-1]), components, depth + 1)
    if "example" in schema:
        return schema["example"]
    if schema.get("default") is not None:
        return schema["default"]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        options = [o for o in schema.get(key, []) if o.get("type") != "null"]
        if options:
            return _schema_example(options[0], components, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        names = schema.get("required") or list(props)[:4]
        return {n: _schema_example(props.get(n), components, depth + 1) for n in names}
    if kind == "array":
        item = _schema_example(schema.get("items"), components, depth + 1)
        return [] if item is None else [item]
    return _SCALARS.get(str(kind))


def _body(op: dict[str, Any], fallback: Any, components: dict[str, Any]) -> Any:
    content = (op.get("requestBody") or {}).get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    if not isinstance(media, dict):
        return None
    if "example" in media:
        return media["example"]
    examples = media.get("examples")
    if isinstance(examples, dict) and examples:
        first = next(iter(examples.values()))
        return first.get("value") if isinstance(first, dict) else first
    if fallback is not None:
        return fallback
    return _schema_example(media.get("schema"), components) or {}


def _fallback_body(path: str, method: str) -> Any:
    op = _fallback_op(path, method)
    return _body(op, None, {}) if op else None


def _fallback_op(path: str, method: str) -> dict[str, Any]:
    op: dict[str, Any] = FALLBACK["paths"].get(path, {}).get(method) or {}
    return op


def curl(
    base: str, path: str, method: str, op: dict[str, Any], components: dict[str, Any] | None = None
) -> str:
    """A curl command that calls the operation with example values (the hand-written
    description's, where the document has none)."""
    params = [p for p in op.get("parameters", []) if isinstance(p, dict)]
    known = {p.get("name"): p for p in _fallback_op(path, method).get("parameters", [])}
    params = [{**known[p.get("name")], **p} if p.get("name") in known else p for p in params]
    if not any(p.get("in") == "query" and "example" in p for p in params):
        params += [p for p in known.values() if p.get("in") == "query" and "example" in p]
    url = path
    for p in params:
        if p.get("in") == "path":
            url = url.replace("{" + str(p.get("name")) + "}", _example(p))
    query = [
        f"{p['name']}={_example(p)}"
        for p in params
        if p.get("in") == "query" and (p.get("required") or "example" in p)
    ]
    if query:
        url += "?" + "&".join(query)
    lines = ["curl -s" + (f" -X {method.upper()}" if method != "get" else "")]
    body = _body(op, _fallback_body(path, method), components or {})
    if body is not None:
        lines[0] += " -H " + shlex.quote("Content-Type: application/json")
        lines.append("--data " + shlex.quote(json.dumps(body, separators=(",", ":"))))
    lines.append(shlex.quote(base + url))
    return " \\\n  ".join(lines)


def sections(doc: dict[str, Any], base: str) -> list[dict[str, Any]]:
    """One entry per operation: method, path, summary, description, parameters, curl."""
    out = []
    paths = doc.get("paths") or {}
    components = (doc.get("components") or {}).get("schemas") or {}
    for path, item in paths.items():
        if not isinstance(item, dict):
            continue
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = [
                {
                    "name": p.get("name", ""),
                    "where": p.get("in", ""),
                    "required": bool(p.get("required")),
                    "description": p.get("description", ""),
                }
                for p in [*item.get("parameters", []), *op.get("parameters", [])]
                if isinstance(p, dict)
            ]
            out.append(
                {
                    "id": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                    "method": method.upper(),
                    "path": path,
                    "summary": _summary(op, path, method),
                    "description": op.get("description", ""),
                    "tag": str((op.get("tags") or [_group(path)])[0]).capitalize(),
                    "params": params,
                    "responses": sorted(str(code) for code in (op.get("responses") or {})),
                    "curl": curl(base, path, method, op, components),
                }
            )
    out.sort(key=lambda s: (s["tag"], s["path"], s["method"]))
    return out


def _summary(op: dict[str, Any], path: str, method: str) -> str:
    summary = str(op.get("summary") or "")
    if not summary or summary.lower().startswith("not described"):
        return str(_fallback_op(path, method).get("summary") or summary)
    return summary


def _group(path: str) -> str:
    if path.startswith(("/v1/", "/v2/")):
        return "Location service"
    if path.startswith("/api/v1/broadband") or path.startswith("/api/v1/survey"):
        return "Broadband"
    if path.startswith("/__"):
        return "Monitoring"
    return "Data"
