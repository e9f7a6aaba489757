"""The pages in headless Chromium (Debian's ``chromium``, driven by Playwright), against the
app on a real port: the broadband map draws real aggregates and its slider changes the
period, the coverage map shows tiles, a speed test runs against the local ndt7 server and
its survey is saved, an administrator logs in and creates a key. No request may leave
127.0.0.1. Screenshots of every page are kept in ``artifacts/browser/``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from netatlas.admin.auth import set_password
from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.mlab.files import convert_row
from netatlas.broadband.mlab.importer import import_items
from netatlas.broadband.mlab.synthetic import unified_rows
from netatlas.broadband.models import measurements, survey_response
from netatlas.broadband.ndt7.server import Limits
from netatlas.broadband.service import Broadband
from netatlas.datamap.tasks import render_datamap_tiles
from netatlas.jobs.context import Context
from netatlas.location.models import api_key
from netatlas.settings import Settings
from tests.broadband.conftest import make_live, serve
from tests.datamap.factories import add_cells
from tests.live import PATIENCE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="needs Debian's chromium (apt-get install chromium)"
    ),
]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
PASSWORD = "correct horse battery"
PATIENCE_MS = int(PATIENCE * 1000)
CENTRE = (51.48, -0.005)


# ---- data: real aggregates, real tiles ---------------------------------------------------------


def _seed_speed_tests(settings: Settings, ctx: Context) -> None:
    """M-Lab-style tests in a small box over the last three months, aggregated as the job
    would: enough per hexagon and month that the map has figures to draw."""
    lat, lon = CENTRE
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = unified_rows(
        900,
        bbox=(lon - 0.004, lat - 0.003, lon + 0.004, lat + 0.003),
        start=start - timedelta(days=75),
        days=74,
        seed=11,
        prefix="ndt-browser",
    )
    report = import_items(ctx.engine, (convert_row(row) for row in rows))
    assert report.inserted == 1800
    _seed_surveys(ctx)
    update_statistics(ctx.engine, settings.aggregations_path)


def _seed_surveys(ctx: Context) -> None:
    """A consented survey giving the plan's advertised speeds for every test, so that the
    map's advertised-vs-measured metric has figures."""
    m = measurements
    now = datetime.now(UTC).replace(tzinfo=None)
    with ctx.engine.begin() as conn:
        tests = conn.execute(select(m.c.id, m.c.direction)).all()
        conn.execute(
            survey_response.insert(),
            [
                {
                    "created": now,
                    "form": "piecewise",
                    "answers": {"advertised_download": 60, "advertised_upload": 15},
                    "consent": True,
                    "download_id": test_id if direction == "download" else None,
                    "upload_id": test_id if direction == "upload" else None,
                }
                for test_id, direction in tests
            ],
        )


def _seed_tiles(ctx: Context) -> None:
    """Grid cells first seen weeks ago (so they are drawn), then the tile job."""
    day = dt.date.today() - dt.timedelta(days=20)
    lat, lon = CENTRE
    add_cells(
        ctx.engine,
        [
            (lat - 0.02 + i * 0.001, lon - 0.02 + j * 0.001, day, day)
            for i in range(40)
            for j in range(40)
        ],
    )
    report = render_datamap_tiles(ctx)
    assert report is not None and report.tiles > 0


# ---- the live site -----------------------------------------------------------------------------


@dataclass
class Site:
    url: str
    ctx: Context
    broadband: Broadband
    offsite: list[str] = field(default_factory=list)


@pytest.fixture
def site(settings: Settings) -> Iterator[Site]:
    from netatlas.app import create_app

    ctx = Context.from_settings(settings)
    _seed_speed_tests(settings, ctx)
    _seed_tiles(ctx)
    set_password(ctx.engine, "admin", PASSWORD)
    app = create_app(settings, run_jobs=False)
    services = app.state.services
    bb = make_live(app, settings, Limits(runtime=2.0, max_runtime=4.0))  # short subtests
    server, thread, port = serve(app)
    try:
        yield Site(f"http://127.0.0.1:{port}", ctx, bb)
    finally:
        server.should_exit = True
        thread.join(15)
        services.engine.dispose()
        ctx.engine.dispose()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        yield p


@pytest.fixture
def page(
    playwright: Any, site: Site, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A page in a fresh browser profile; any request for another host is refused and
    recorded, and the test fails if there was one."""
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=FLAGS,
        viewport={"width": 1280, "height": 800},
        accept_downloads=True,
    )

    def guard(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname != "127.0.0.1" and not url.startswith(("data:", "blob:")):
            site.offsite.append(url)
            route.abort()
        else:
            route.continue_()

    # Waits end when their condition holds; the bound only ends a hang on a loaded machine.
    context.set_default_timeout(PATIENCE_MS)
    context.route("**/*", guard)
    context.on(
        "request",
        lambda r: (
            None if urlsplit(r.url).hostname in ("127.0.0.1", None) else site.offsite.append(r.url)
        ),
    )
    tab = context.pages[0] if context.pages else context.new_page()
    tab.on("websocket", lambda ws: None if "127.0.0.1" in ws.url else site.offsite.append(ws.url))
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.on("dialog", lambda d: d.accept())
    try:
        yield tab
    finally:
        context.close()
    assert site.offsite == [], f"requests left 127.0.0.1: {site.offsite}"
    assert errors == [], f"script errors: {errors}"


# WCAG 2 contrast of every visible text against the first opaque background behind it:
# 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold).
CONTRAST = """() => {
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] >= 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const failures = [];
  for (const el of document.querySelectorAll('body *')) {
    const own = Array.from(el.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!own || !box.width || !box.height || style.visibility === 'hidden') continue;
    if (el.closest('[hidden]')) continue;
    if (el.closest('.visually-hidden, .skip-link')) continue;
    const fg = rgb(style.color), bg = background(el);
    const a = lum(fg.slice(0, 3)), b = lum(bg);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const text = el.textContent.trim().slice(0, 30);
    if (ratio < need) failures.push(el.tagName + ' "' + text + '" ' + ratio.toFixed(2));
  }
  return failures;
}"""


def _contrast(page: Any) -> None:
    failures = page.evaluate(CONTRAST)
    assert failures == [], f"text below WCAG AA contrast on {page.url}: {failures}"


def _shot(page: Any, request: pytest.FixtureRequest, name: str, **options: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    backend = request.node.callspec.params.get("settings", "sqlite")
    page.screenshot(path=str(ARTIFACTS / f"{name}-{backend}.png"), **options)


# ---- the tests ---------------------------------------------------------------------------------


def test_the_map_draws_real_aggregates_and_the_slider_changes_the_period(
    page: Any, site: Site, request: pytest.FixtureRequest
) -> None:
    page.goto(site.url + "/")
    page.wait_for_function("() => Number(document.getElementById('map').dataset.drawn) > 0")
    drawn = int(page.get_attribute("#map", "data-drawn"))
    assert page.locator("path.leaflet-interactive").count() >= drawn
    assert page.locator("#legend li").count() == 7
    page.wait_for_function("() => document.getElementById('map').dataset.outlines")
    _contrast(page)
    _shot(page, request, "map")

    # The slider: the first period, then back to the last with the keyboard.
    last = page.get_attribute("#map", "data-period")
    slider = page.locator("#period")
    assert slider.is_enabled()
    slider.focus()
    page.keyboard.press("Home")
    first = page.get_attribute("#map", "data-period")
    assert first != last and page.text_content("#period-label") == first
    page.keyboard.press("End")
    assert page.get_attribute("#map", "data-period") == page.text_content("#period-label")
    # Play steps through the periods from the first.
    page.click("#play")
    assert page.get_attribute("#play", "aria-pressed") == "true"
    page.wait_for_function(f"() => document.getElementById('map').dataset.period !== {first!r}")
    page.click("#play")
    assert page.get_attribute("#play", "aria-pressed") == "false"

    # Other metrics, a provider, and a popup with the figures.
    page.check("input[name=metric][value=upload]")
    assert "Median upload" in (page.text_content("#legend-title") or "")
    page.check("input[name=metric][value=good]")
    page.select_option("#use", "video_conferencing")
    assert "video conferencing" in (page.text_content("#legend-title") or "").lower()
    # Measured against the advertised speed, then the use-case scores: both drawn.
    drawn = "() => Number(document.getElementById('map').dataset.drawn) > 0"
    page.check("input[name=metric][value=advertised]")
    assert page.is_visible("#advertised-view") and not page.is_visible("#use")
    assert "reaching the advertised speed" in (page.text_content("#legend-title") or "")
    page.wait_for_function(drawn)
    page.select_option("#advertised-view", "ratio")
    assert "measured ÷ advertised" in (page.text_content("#legend-title") or "")
    page.wait_for_function(drawn)
    page.locator("path.leaflet-interactive").first.click(force=True)
    page.locator(".leaflet-popup-content").wait_for()
    assert "advertised speed" in (page.locator(".leaflet-popup-content").text_content() or "")
    page.evaluate("() => window.netatlasMap.map.closePopup()")
    page.check("input[name=metric][value=score]")
    assert "Quality score for all uses" in (page.text_content("#legend-title") or "")
    page.wait_for_function(drawn)
    page.select_option("#score-use", "gaming")
    assert "online gaming" in (page.text_content("#legend-title") or "").lower()
    _shot(page, request, "map-score")
    page.check("input[name=metric][value=download]")
    providers = page.locator("#isp option").all_text_contents()
    assert any("Virgin Media" in p for p in providers), providers
    page.select_option("#unit", "quarter")
    page.wait_for_function("() => document.getElementById('unit-name').textContent === 'Quarter'")
    page.wait_for_function("() => Number(document.getElementById('map').dataset.drawn) > 0")
    page.locator("path.leaflet-interactive").first.click(force=True)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert "Test your connection from here" in (popup.text_content() or "")

    # The download is what the map shows.
    with page.expect_download() as info:
        page.click("#download-csv")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))
    assert rows and {"area", "period", "tests", "download_median", "value"} <= set(rows[0])
    assert len({r["period"] for r in rows}) == 1
    with page.expect_download() as info:
        page.click("#download-geojson")
    assert '"FeatureCollection"' in Path(info.value.path()).read_text()

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.reload()
    page.wait_for_function("() => Number(document.getElementById('map').dataset.drawn) > 0")
    _shot(page, request, "map-phone", full_page=True)


def test_the_coverage_page_shows_tiles(
    page: Any, site: Site, request: pytest.FixtureRequest
) -> None:
    page.goto(site.url + "/coverage")
    page.wait_for_function(
        "() => Number(document.getElementById('map').dataset.tilesLoaded || 0) > 0"
    )
    _contrast(page)
    assert page.locator("img.leaflet-tile-loaded[src*='/tiles/']").count() > 0
    _shot(page, request, "coverage")


FILL = """(() => {
  const f = document.getElementById('st-form');
  f.elements['isp'].value = 'Example Cable';
  f.elements['connection_type'].value = 'wired';
  f.elements['cost_of_service'].value = '50_75';
  f.elements['advertised_download'].value = '300';
  document.getElementById('st-consent').checked = true;
  document.getElementById('st-start').click();
})()"""


def test_a_speed_test_runs_and_its_survey_is_saved(
    page: Any, site: Site, request: pytest.FixtureRequest
) -> None:
    page.goto(site.url + "/speedtest")
    page.evaluate(FILL)
    page.wait_for_function(
        "() => window.netatlasSpeedtest && window.netatlasSpeedtest.done === true"
    )
    state = page.evaluate("window.netatlasSpeedtest")
    assert state["survey"]["status"] == 201, state
    _shot(page, request, "speedtest")
    with site.ctx.engine.connect() as conn:
        rows = conn.execute(select(survey_response)).all()
    # The seeded surveys (advertised speeds only) name no provider; the page's does.
    rows = [row for row in rows if "isp" in row.answers]
    assert len(rows) == 1 and rows[0].answers["isp"] == "Example Cable"
    assert rows[0].download_id is not None and rows[0].upload_id is not None


def test_an_admin_logs_in_and_creates_a_key(
    page: Any, site: Site, request: pytest.FixtureRequest
) -> None:
    page.goto(site.url + "/admin/keys")
    assert page.url.startswith(site.url + "/admin/login")
    _shot(page, request, "admin-login")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(site.url + "/admin/keys")
    page.fill("#f-valid_key", "city-app")
    page.fill("#f-maxreq", "10000")
    page.click("button:has-text('Create key')")
    page.wait_for_url("**/admin/keys?done=key-created")
    assert "city-app" in (page.text_content("#keys") or "")
    _contrast(page)
    _shot(page, request, "admin-keys", full_page=True)
    with site.ctx.engine.connect() as conn:
        row = conn.execute(select(api_key)).one()
    assert (row.valid_key, row.maxreq) == ("city-app", 10000)
    page.goto(site.url + "/admin/surveys")
    _shot(page, request, "admin-surveys", full_page=True)
    # The survey form, edited as a document in the page's editor.
    page.goto(site.url + "/admin/settings")
    editor = page.locator("#survey-document")
    document = json.loads(editor.input_value())
    document["fields"].append({"name": "plan", "label": "Plan name", "type": "text"})
    editor.fill(json.dumps(document, indent=2))
    page.click("#survey button:has-text('Check and save')")
    page.wait_for_url("**/admin/settings?done=survey-saved*")
    assert "saved here" in (page.text_content("#survey") or "")
    _contrast(page)
    _shot(page, request, "admin-settings", full_page=True)
    page.goto(site.url + "/speedtest")
    assert page.locator("[name=plan]").count() == 1
    page.goto(site.url + "/admin/audit")
    assert "key.create" in (page.text_content("main") or "")
    assert "settings.survey.save" in (page.text_content("main") or "")


def test_the_other_pages_render(page: Any, site: Site, request: pytest.FixtureRequest) -> None:
    for path in ("/stats", "/api", "/privacy", "/downloads", "/no-such-page"):
        page.goto(site.url + path)
        page.wait_for_load_state("networkidle")
        assert page.locator("h1").count() == 1, path
        _contrast(page)
        name = path.strip("/").replace("-", "_")
        _shot(page, request, name, full_page=True)
    page.goto(site.url + "/stats")
    page.wait_for_function("() => document.getElementById('observation-chart').firstChild")
