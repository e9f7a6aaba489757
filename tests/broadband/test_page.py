"""The real page in headless Chromium: M-Lab's ndt7-js client against our server, then the
survey, with a correction the server asks for."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from netatlas.broadband.measurements import get_measurement
from netatlas.broadband.models import survey_response
from netatlas.broadband.usecases import USE_CASES
from tests.broadband import cdp
from tests.broadband.conftest import LiveServer
from tests.broadband.ndt7.mlab_format import check_document, read

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not cdp.available(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]

FILL = """(() => {
  const f = document.getElementById('st-form');
  f.elements['isp'].value = 'Example Cable';
  f.elements['connection_type'].value = 'wired';
  f.elements['cost_of_service'].value = '50_75';
  f.elements['advertised_download'].value = '%s';
  document.getElementById('st-consent').checked = %s;
  document.getElementById('st-start').click();
  return true;
})()"""


async def _run(live: LiveServer, shots: Path) -> dict[str, Any]:
    async with cdp.browser() as page:
        await page.goto(f"{live.url}/speedtest")
        # Required answers missing: said next to the fields, and no test starts.
        await page.evaluate("document.getElementById('st-start').click()")
        error = await page.evaluate(
            "document.querySelector('[data-field=\"isp\"] .st-error').textContent"
        )
        assert error == "required"
        assert await page.evaluate("document.getElementById('st-run').hidden")
        # A value the server refuses (the browser's own checks let it through).
        await page.evaluate(FILL % ("-5", "true"))
        await page.wait_for("window.netatlasSpeedtest.survey !== undefined", 60)
        await page.screenshot(shots / "speedtest-correction.png")
        first = await page.evaluate("JSON.stringify(window.netatlasSpeedtest)")
        message = await page.evaluate(
            "document.querySelector('[data-field=\"advertised_download\"] .st-error').textContent"
        )
        assert message == "must be at least 0"
        # Corrected and sent again, without running the test again.
        await page.evaluate(FILL % ("300", "true"))
        await page.wait_for("window.netatlasSpeedtest.done === true", 60)
        await page.screenshot(shots / "speedtest-done.png")
        state = json.loads(await page.evaluate("JSON.stringify(window.netatlasSpeedtest)"))
        state["first"] = json.loads(first)
        state["uses"] = await page.evaluate(
            "Array.from(document.querySelectorAll('#st-uses li')).map(li => li.className)"
        )
        return state


@pytest.mark.parametrize("live", [{"full_runtime": True}], indirect=True)
def test_browser_runs_the_test_and_sends_the_survey(live: LiveServer, tmp_path: Path) -> None:
    state = asyncio.run(_run(live, tmp_path))
    assert state["code"] == 0, state
    assert state["first"]["survey"]["status"] == 400
    assert state["survey"]["status"] == 201
    down, up = state["download"], state["upload"]
    assert down["mbps"] > 1 and up["mbps"] > 1
    assert down["minRtt"] is not None
    assert len(state["uses"]) == len(USE_CASES)
    ids = state["survey"]["reply"]["measurements"]
    for direction, data in (("download", down), ("upload", up)):
        row = get_measurement(live.broadband.engine, data["uuid"])
        assert row is not None and row["id"] == ids[direction]
        assert row["client_name"] == "netatlas-speedtest"
        test = check_document(read(Path(live.broadband.settings.data_dir) / row["archive"]))
        names = {p["Name"]: p["Value"] for p in test["ClientMetadata"]}
        assert names["client_library_name"] == "ndt7-js"
        # The page shows M-Lab's figure from the server's last TCPInfo it received; the
        # upload's may be a snapshot earlier when the browser closed first.
        assert row["mean_mbps"] == pytest.approx(
            data["mbps"], rel=0.05 if direction == "download" else 0.3
        )
        assert 8 < row["elapsed_s"] < 15
    with live.broadband.engine.connect() as conn:
        rows = conn.execute(select(survey_response)).all()
    assert len(rows) == 1
    assert rows[0].answers["advertised_download"] == 300
    assert rows[0].answers["isp"] == "Example Cable"
