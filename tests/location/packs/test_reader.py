"""The reference reader answers scans from the files a pack build wrote."""

from __future__ import annotations

import pytest

from netatlas.jobs.context import Context
from netatlas.location.packs.build import PREFIX
from netatlas.location.packs.reader import CellPack, Heard
from netatlas.location.packs.region import parse_regions
from netatlas.location.packs.service import build_packs, pack_store
from tests.location.packs._seed import TODAY, add_cell


def _packs(ctx: Context) -> tuple[CellPack, CellPack]:
    add_cell(ctx.engine, "lte", 1, lat=52.50, lon=13.40, radius=500, samples=4)
    add_cell(ctx.engine, "lte", 2, lat=52.52, lon=13.44, radius=1000, samples=4)
    add_cell(ctx.engine, "gsm", 3, lac=9, lat=52.60, lon=13.50, samples=2)
    manifest = build_packs(ctx.engine, ctx.settings, parse_regions("DE"), now=TODAY)[0]
    store = pack_store(ctx.settings)
    base = f"{PREFIX}DE/{manifest.build}/"
    cells = store.read(base + "cells.csv.gz")
    mls = store.read(base + "mls-cells-262.csv.gz")
    assert cells is not None and mls is not None
    return CellPack.parse(cells), CellPack.parse_mls(mls)


def test_single_and_several_cells(ctx: Context) -> None:
    micro, mls = _packs(ctx)
    assert len(micro) == len(mls) == 3
    assert micro.locate([Heard("lte", 262, 1, 4711, 1, -80)]) == pytest.approx((52.50, 13.40))
    assert micro.locate([Heard("lte", 262, 1, 4711, 99)]) is None
    equal = micro.locate([Heard("lte", 262, 1, 4711, 1, -90), Heard("lte", 262, 1, 4711, 2, -90)])
    assert equal == pytest.approx((52.51, 13.42))
    louder = micro.locate([Heard("lte", 262, 1, 4711, 1, -60), Heard("lte", 262, 1, 4711, 2, -90)])
    assert louder is not None and louder[0] < 52.505  # pulled towards the louder cell
    # With ranges the smaller cell weighs four times more at the same signal.
    ranged = mls.locate([Heard("lte", 262, 1, 4711, 1, -90), Heard("lte", 262, 1, 4711, 2, -90)])
    assert ranged == pytest.approx((52.504, 13.408))
    # Cells of two areas: the area with more known cells answers, the other is left out.
    mixed = micro.locate(
        [
            Heard("gsm", 262, 1, 9, 3, -50),
            Heard("lte", 262, 1, 4711, 1, -90),
            Heard("lte", 262, 1, 4711, 2, -90),
        ]
    )
    assert mixed == pytest.approx((52.51, 13.42))


def test_a_foreign_file_is_refused() -> None:
    import gzip

    with pytest.raises(ValueError):
        CellPack.parse(gzip.compress(b"mac,lat,lon,alt\n"))
