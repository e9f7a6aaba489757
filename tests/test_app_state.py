"""The application keeps its services as one object, under one name on ``app.state``."""

from __future__ import annotations

from typing import Any

from netatlas.app import AppServices
from netatlas.location.services import Services, services_of


def test_requests_put_nothing_more_on_app_state(app: Any, client: Any) -> None:
    services = app.state.services
    assert isinstance(services, AppServices)
    before = dict(app.state._state)
    paths = [
        "/api",  # the API reference keeps the document it read
        "/api/v1/downloads",  # the downloads listing
        "/api/v1/speedtest/config",  # the speed-test service
        "/api/v1/broadband/aggregations",  # the statistics service
        "/admin",  # the admin session's signer
    ]
    for path in paths:
        assert client.get(path, follow_redirects=False).status_code < 500, path
    assert dict(app.state._state) == before == {"services": services}
    # The parts were built once, on first use, into the one object.
    assert services.broadband.peek() is not None and services.stats.peek() is not None
    assert services.downloads.peek() is not None and services.admin_signer.peek() is not None
    assert services.api_document.value is not None
    broadband = services.broadband.get()
    client.get("/api/v1/speedtest/config")
    assert services.broadband.get() is broadband


def test_the_typed_accessor_gives_the_apps_services(app: Any) -> None:
    found = services_of(app)
    assert isinstance(found, Services) and found is app.state.services
