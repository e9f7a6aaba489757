"""The site's other GET endpoints with absurd path and query values: a 4xx, never a 500."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

BIG = "9" * 5000


@pytest.mark.parametrize("days", [BIG, "9" * 30, "\u00b2", "\u0663", "-1", "0", "36601", "1e3"])
def test_stats_days_out_of_range_is_a_400(client: TestClient, days: str) -> None:
    res = client.get("/api/v1/stats", params={"days": days})
    assert res.status_code == 400 and "days" in res.json()["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        f"/tiles/{BIG}/0/0.png",
        f"/tiles/0/{BIG}/0.png",
        f"/tiles/0/0/{BIG}.png",
        "/tiles/99999/0/0.png",
        "/tiles/-1/0/0.png",
        "/tiles/\u00b2/0/0.png",
        "/tiles/0/0/0@3x.png",
        "/tiles/1/0/0@2x.png",
    ],
)
def test_absurd_tile_addresses_are_a_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_a_real_tile_address_is_still_routed(client: TestClient) -> None:
    # No tiles are published in an empty data dir: a plain 404 from the tile view itself.
    res = client.get("/tiles/3/2/1.png")
    assert res.status_code == 404 and res.text == "no such tile\n"
