"""Station rows for pack tests, written straight into the tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, insert

from netatlas.location.ids import cell_id
from netatlas.location.models import RADIO_CODE, cell_tables, wifi_shards

TODAY = dt.datetime(2026, 12, 5, 12, 0)
CREATED = dt.datetime(2026, 6, 1)


def _common(**extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        lat=52.52, lon=13.405, radius=800, samples=12, region="DE", created=CREATED,
        modified=TODAY - dt.timedelta(days=3), last_seen=(TODAY - dt.timedelta(days=3)).date(),
        block_count=0, contributors=2, days=2,
    )  # fmt: skip
    values.update(extra)
    return values


def add_cell(
    engine: Engine, radio: str, cid: int, *, mcc: int = 262, mnc: int = 1, lac: int = 4711,
    psc: int | None = None, **extra: Any,
) -> None:  # fmt: skip
    values = _common(**extra)
    values.update(
        cellid=cell_id(RADIO_CODE[radio], mcc, mnc, lac, cid), radio=RADIO_CODE[radio],
        mcc=mcc, mnc=mnc, lac=lac, cid=cid, psc=psc,
    )  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(cell_tables[radio]).values(**values))


def add_wifi(engine: Engine, mac: str, **extra: Any) -> None:
    values = _common(**extra)
    values["mac"] = bytes.fromhex(mac)
    with engine.begin() as conn:
        conn.execute(insert(wifi_shards[mac[4]]).values(**values))
