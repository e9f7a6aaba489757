"""Demo speed tests for a fresh install: M-Lab-style tests around the demo town (Greenwich,
London), imported as an M-Lab export would be and aggregated, so the statistics API and map
answer on the first start. Only an install without any measurement gets them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from netatlas.broadband.aggregate.update import update_statistics
from netatlas.broadband.mlab.files import convert_row
from netatlas.broadband.mlab.importer import import_items
from netatlas.broadband.mlab.synthetic import unified_rows
from netatlas.broadband.models import measurements

__all__ = ["seed_broadband_demo"]

TESTS = 6000  # download + upload pairs: most hexagon-months get enough tests
DAYS = 180
SPAN = 0.03  # degrees round the centre (about 3 km north–south)


def seed_broadband_demo(
    engine: Engine, centre: tuple[float, float], aggregations_path: str = ""
) -> int:
    """Import and aggregate the demo tests round ``centre`` (lat, lon) when there are no
    measurements; returns the number of rows imported."""
    with engine.connect() as conn:
        if conn.execute(select(measurements.c.id).limit(1)).first() is not None:
            return 0
    lat, lon = centre
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = unified_rows(
        TESTS,
        bbox=(lon - SPAN * 1.6, lat - SPAN, lon + SPAN * 1.6, lat + SPAN),
        start=start - timedelta(days=DAYS),
        days=DAYS,
        seed=7,
        prefix="ndt-demo",
    )
    report = import_items(engine, (convert_row(row) for row in rows))
    update_statistics(engine, aggregations_path)
    return report.inserted
