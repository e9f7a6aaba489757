"""The methodology text that travels in every challenge package (``METHODOLOGY.txt``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netatlas.broadband.challenge.localtime import EVENING, PEAK

if TYPE_CHECKING:
    from netatlas.broadband.challenge.package import Package, Request

__all__ = ["methodology"]

_TEXT = """\
NetAtlas challenge package — methodology
========================================

Area:      {area}
Period:    {since} to {until} (UTC, start included, end excluded)
Time zone: {zone} (local times and the evening windows below)
Created:   {created}

Tests: {tests}. Tests placed at a place: {placed}, in {places} places; places with tests on
two or more different days: {repeated}.

What is in the package
----------------------
tests.csv      one row per test (one ndt7 run: a download and an upload subtest)
tests.geojson  the same tests as GeoJSON points (WGS84), properties as in tests.csv
places.csv     one row per place: the medians of the tests there and their distinct days
METHODOLOGY.txt  this text

Which tests
-----------
Only tests whose contributor ticked, in the survey after the test, the separate and optional
box agreeing that the test may be given to a regulator as evidence in a coverage challenge
(consent_challenge = true). That box is unticked unless the contributor ticks it; tests from
before the question existed are never included. Tests whose figures are not confirmed (a
browser's report of a test on M-Lab's servers that neither an administrator nor M-Lab's own
record has confirmed, or one an administrator rejected) are left out, as in the statistics.
A test must have a location inside the area and its start in the period.

Columns of tests.csv
--------------------
test_id              the survey response's number on this site
download_uuid        ndt7 test UUIDs (M-Lab's UUIDs for tests run on M-Lab's servers)
upload_uuid
time_utc             start of the download subtest (the upload's when there is none),
                     ISO 8601 in UTC, to the second
time_local           the same instant in the package's time zone, ISO 8601 with the UTC
                     offset in force at that instant (daylight saving included)
timezone             the IANA name of that zone
evening_18_24        true when the local time is from {e0}:00 up to (not including) midnight
peak_19_23           true when the local time is from {p0}:00 up to (not including) {p1}:00
provider_reported    the provider the contributor named in the survey
asn, as_name         the autonomous system the test came from (the IP address's network)
technology           the access technology the contributor chose (fibre, cable, dsl,
                     fixed_wireless, satellite, mobile, other, dont_know; empty: not asked
                     or not answered)
connection_type      how the testing device was connected (wired, Wi-Fi alone, Wi-Fi shared)
download_mbps        mean throughput of the download subtest, Mbit/s (M-Lab's definition:
upload_mbps          bytes moved × 8 over the subtest's duration)
latency_ms           the lowest round-trip time TCP measured during the download (MinRTT)
loss_rate            retransmitted over sent bytes during the download
lat, lon, accuracy_m the location, WGS84 degrees, and its accuracy radius in metres
location_source      browser: the contributor shared the device's location;
                     ip: only the IP address's approximate location (a town's centre) is known
place_id             the place the test counts in (see below); empty when not placed
advertised_*_mbps    the speeds of the plan as the contributor reported them
consent_publication  the contributor's consent to publication in aggregated form
consent_challenge    always true in this package
source               local (run against this site's server) or mlab (M-Lab's servers)
verification         empty (measured by a server), admin or mlab (confirmed report)

Places and repeated tests
-------------------------
A place is a square of {metres:g} m on a side on a fixed grid (rows of equal latitude,
columns of equal east-west distance), so tests in one place lie within {diag:.0f} m of each
other and a place keeps its id from one package to the next. Only tests located by the
contributor's browser with an accuracy of {metres:g} m or better are placed; IP locations
never are. Per place, places.csv gives the number of tests, the number of distinct local
dates on which they ran, the first and last of those dates, and the medians of download,
upload and latency over the place's tests (a median of an even number of values is the mean
of the two middle ones; a test missing a figure is left out of that figure's median). Tests
on two or more different days at one place are what most challenge processes ask for.

Local time
----------
The site has no data mapping coordinates to time zones, so every test is given the local
time of one zone, chosen when the package was made ({zone}); offsets and daylight-saving
changes come from the IANA time zone database. For an area that spans zones, make one
package per zone.

Spreadsheet safety
------------------
Text cells beginning with =, +, -, @, a tab or a carriage return are written with a leading
apostrophe so that spreadsheet programs show them as text instead of running them.

This package holds precise locations of people's homes. Share it only with the body running
the challenge, and only for that purpose.
"""


def methodology(req: Request, result: Package) -> str:
    return _TEXT.format(
        area=req.area.label,
        since=req.since.isoformat(),
        until=req.until.isoformat(),
        zone=req.timezone or "UTC",
        created=result.created,
        tests=result.tests,
        placed=result.placed,
        places=result.places,
        repeated=result.repeated_places,
        e0=EVENING[0],
        p0=PEAK[0],
        p1=PEAK[1],
        metres=req.place_metres,
        diag=req.place_metres * 2**0.5,
    )
