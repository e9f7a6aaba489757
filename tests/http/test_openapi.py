"""``/openapi.json``: OpenAPI 3.1 from the msgspec Structs, one contribution list per feature."""

from __future__ import annotations

import datetime as dt
import sys
import types
from typing import Any

import msgspec
from sqlalchemy import Engine
from starlette.routing import Route

from netatlas.export.downloads import export_store, file_name
from netatlas.http.errors import ErrorEnvelope
from netatlas.http.openapi import (
    OpenAPIPath,
    Param,
    Reply,
    app_document,
    build_document,
    feature_modules,
    gather,
    undocumented,
)
from netatlas.settings import Settings
from tests.broadband.test_survey import ANSWERS, add_test

MLS = ["/v1/geolocate", "/v1/country", "/v2/geosubmit", "/v1/geosubmit", "/v1/submit"]
MONITORING = ["/__heartbeat__", "/__lbheartbeat__", "/__version__", "/metrics"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_document_describes_the_mls_api(client: Any) -> None:
    res = client.get("/openapi.json")
    assert res.status_code == 200
    assert res.headers["content-type"] == "application/json"
    doc = res.json()
    assert doc["openapi"] == "3.1.0"
    for path in MLS + MONITORING:
        assert path in doc["paths"], path
    submit = doc["paths"]["/v2/geosubmit"]["post"]
    schema = submit["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SubmitV2"}
    assert set(submit["responses"]) == {"200", "400", "413", "429", "503"}
    assert "Retry-After" in submit["responses"]["503"]["headers"]
    assert set(doc["paths"]["/v1/submit"]["post"]["responses"]) >= {"204"}
    locate = doc["paths"]["/v1/geolocate"]["post"]
    ok = locate["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/GeolocateResponse"}
    assert locate["parameters"][0]["name"] == "key"
    components = doc["components"]["schemas"]
    assert set(components["GeolocateResponse"]["required"]) == {"location", "accuracy"}
    assert "wifiAccessPoints" in components["ReportV2In"]["properties"]
    for ref in _refs(doc["paths"]) + _refs(components):
        assert ref.removeprefix("#/components/schemas/") in components, ref
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_every_api_route_appears(app: Any, client: Any) -> None:
    doc = client.get("/openapi.json").json()
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith(("/api/", "/v1/", "/v2/")):
            path = route.path
            for name in ("z:int", "x:int", "name:str"):
                path = path.replace("{" + name + "}", "{" + name.split(":")[0] + "}")
            assert path in doc["paths"], route.path


def test_the_answers_match_the_document(client: Any) -> None:
    """Error envelopes and answers decode as the documented Structs."""
    from netatlas.http.errors import ErrorEnvelope
    from netatlas.location.schema import SubmitResponse

    res = client.post("/v2/geosubmit", content=b"{")
    assert res.status_code == 400
    envelope = msgspec.json.decode(res.content, type=ErrorEnvelope)
    assert envelope.error.code == 400
    res = client.post("/v2/geosubmit", json={"items": []})
    msgspec.json.decode(res.content, type=SubmitResponse)


class _Thing(msgspec.Struct):
    name: str
    size: int = 0


def test_features_contribute_their_paths_next_to_their_routes() -> None:
    async def endpoint(request: Any) -> Any:  # pragma: no cover - never called
        return None

    module = types.ModuleType("netatlas_fake_feature")
    endpoint.__module__ = module.__name__
    module.routes = [  # type: ignore[attr-defined]
        Route("/api/v1/things", endpoint, methods=["GET", "POST"]),
        Route("/api/v1/things/{name}", endpoint, methods=["GET"]),
    ]
    module.openapi = [  # type: ignore[attr-defined]
        OpenAPIPath(
            "/api/v1/things",
            "post",
            "Add a thing.",
            request=_Thing,
            request_required=True,
            params=[Param("dry", "Only check.", bool)],
            responses={201: Reply("Added.", _Thing)},
        )
    ]
    sys.modules[module.__name__] = module
    try:
        modules = feature_modules(module.routes)
        assert modules == [module]
        entries = gather(modules)
        assert undocumented(module.routes, entries) == ["GET /api/v1/things/{name}"]
        doc = build_document(entries, module.routes)
    finally:
        del sys.modules[module.__name__]
    op = doc["paths"]["/api/v1/things"]["post"]
    assert op["requestBody"]["required"] is True
    assert op["parameters"] == [
        {
            "name": "dry",
            "in": "query",
            "required": False,
            "description": "Only check.",
            "schema": {"type": "boolean"},
        }
    ]
    assert doc["components"]["schemas"]["_Thing"]["required"] == ["name"]
    stub = doc["paths"]["/api/v1/things/{name}"]["get"]
    assert stub["parameters"][0] == {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }


def test_every_public_route_of_the_app_is_documented(app: Any) -> None:
    """Each feature describes its public routes next to them: no route is left to a stub."""
    assert undocumented(app.routes, gather(feature_modules(app.routes))) == []
    doc = app_document(app.routes)
    stubs = [
        f"{method.upper()} {path}"
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op.get("summary") == "Not described yet."
    ]
    assert stubs == []


def _as_documented(content: bytes, documented: Any) -> None:
    """The answer decodes as the documented type and encodes back to itself (no key missed)."""
    answer = msgspec.json.decode(content)
    assert msgspec.to_builtins(msgspec.json.decode(content, type=documented)) == answer


def test_the_speedtest_and_download_answers_match_the_document(
    client: Any, settings: Settings, engine: Engine
) -> None:
    from netatlas.broadband.schema import (
        SpeedtestConfig,
        SpeedtestToken,
        SurveyCreated,
        SurveySubmission,
    )
    from netatlas.site.downloads import DownloadListing

    _as_documented(client.get("/api/v1/speedtest/config").content, SpeedtestConfig)
    for method in ("GET", "POST"):
        _as_documented(client.request(method, "/api/v1/speedtest/token").content, SpeedtestToken)

    add_test(engine, "h_7_B", "upload", ip="192.0.2.1")
    survey = {"answers": ANSWERS, "consent": True, "upload": {"uuid": "h_7_B"}}
    msgspec.json.decode(msgspec.json.encode(survey), type=SurveySubmission)
    res = client.post("/api/v1/survey", json=survey, headers={"X-Forwarded-For": "192.0.2.1"})
    assert res.status_code == 201, res.text
    _as_documented(res.content, SurveyCreated)
    res = client.post("/api/v1/survey", json={"consent": "yes"})
    assert res.status_code == 400
    _as_documented(res.content, ErrorEnvelope)

    export_store(settings).put(file_name("diff", dt.datetime(2026, 1, 2, 3)), b"x")
    res = client.get("/api/v1/downloads")
    assert len(res.json()["downloads"]) == 1
    _as_documented(res.content, DownloadListing)
