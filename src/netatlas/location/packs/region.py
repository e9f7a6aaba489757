"""What a pack covers: a country, a mobile country code or a bounding box.

Written as text in ``NETATLAS_PACKS_REGIONS`` and on the command line:

* ``DE`` - a country (ISO 3166 alpha-2): the stations whose stored region is that country;
  its MCCs and the bounding box of its outline go into the manifest;
* ``262`` or ``mcc:262`` - a mobile country code: its cells, and the WiFi access points in the
  regions that use that code;
* ``bbox:S,W,N,E`` - a bounding box in degrees (south, west, north, east; ``W > E`` crosses
  the antimeridian): every station whose position lies in it.

Each region has an ``id`` that is safe in a file name and a URL (``DE``, ``mcc-262``,
``bbox-52.3_13.0_52.7_13.8``); a pack is stored and served under it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from netatlas.geo.mcc import regions_for_mcc, valid_mccs
from netatlas.geo.regions import get_regions

__all__ = ["PackRegion", "Region", "RegionError", "parse_region", "parse_regions"]

_ID = re.compile(r"^(?:[A-Z]{2}|mcc-\d{3}|bbox-[-0-9._]+)$")


class PackRegion(msgspec.Struct, omit_defaults=True, frozen=True):
    """A pack's region as its manifest states it."""

    id: str
    kind: str  # country | mcc | bbox
    country: str | None = None  # ISO 3166 alpha-2
    mccs: list[int] | None = None  # the region's mobile country codes
    bbox: list[float] | None = None  # south, west, north, east (degrees)


class RegionError(ValueError):
    """A region that cannot be read; the message says what is expected."""


@dataclass(frozen=True)
class Region:
    kind: str  # country | mcc | bbox
    id: str  # file- and URL-safe
    country: str | None = None  # kind country: the ISO code
    mccs: tuple[int, ...] = ()  # country: the MCCs its networks use; mcc: the one MCC
    bbox: tuple[float, float, float, float] | None = None  # (south, west, north, east)

    @property
    def countries(self) -> tuple[str, ...]:
        """The region codes whose stations a WiFi pack of this region holds (not for bbox)."""
        if self.kind == "country" and self.country:
            return (self.country,)
        if self.kind == "mcc":
            return regions_for_mcc(self.mccs[0])
        return ()

    def describe(self) -> PackRegion:
        """The manifest's ``region`` object."""
        return PackRegion(
            self.id,
            self.kind,
            self.country,
            list(self.mccs) if self.mccs else None,
            list(self.bbox) if self.bbox is not None else None,
        )


def _number(text: str) -> str:
    return f"{float(text):g}"


def _country(code: str) -> Region:
    regions = get_regions()
    polygon = regions.polygon_code(code)
    if polygon is None:
        raise RegionError(f"unknown country code: {code!r}")
    mccs = tuple(sorted(m for m in valid_mccs() if polygon in regions_for_mcc(m)))
    west, south, east, north = regions.shape(polygon).bounds
    bbox = (round(south, 4), round(west, 4), round(north, 4), round(east, 4))
    return Region("country", polygon, country=polygon, mccs=mccs, bbox=bbox)


def _bbox(text: str) -> Region:
    parts = text.split(",")
    try:
        south, west, north, east = (float(p) for p in parts)
    except ValueError:
        raise RegionError(f"a bounding box is bbox:SOUTH,WEST,NORTH,EAST, not {text!r}") from None
    if not (-90.0 <= south < north <= 90.0 and -180.0 <= west <= 180.0 and -180.0 <= east <= 180.0):
        raise RegionError(f"not a bounding box (south < north, degrees in range): {text!r}")
    if west == east:
        raise RegionError(f"an empty bounding box: {text!r}")
    ident = "bbox-" + "_".join(_number(p) for p in parts)
    return Region("bbox", ident, bbox=(south, west, north, east))


def parse_region(text: str) -> Region:
    """One region from its text form (see the module's docstring); :class:`RegionError`."""
    value = text.strip()
    lowered = value.lower()
    if lowered.startswith("bbox:"):
        return _bbox(value[5:])
    if lowered.startswith("mcc:"):
        value = value[4:]
    if value.isdigit():
        mcc = int(value)
        if mcc not in valid_mccs():
            raise RegionError(f"not an assigned mobile country code: {value!r}")
        return Region("mcc", f"mcc-{mcc:03d}", mccs=(mcc,))
    if len(value) == 2 and value.isalpha():
        return _country(value.upper())
    raise RegionError(f"a region is a country code (DE), an MCC (262) or bbox:S,W,N,E: {text!r}")


def parse_regions(text: str) -> list[Region]:
    """Regions separated by spaces or semicolons (commas belong to bounding boxes)."""
    found: dict[str, Region] = {}
    for part in re.split(r"[\s;]+", text.strip()):
        if part:
            region = parse_region(part)
            found.setdefault(region.id, region)
    return list(found.values())


def is_region_id(text: str) -> bool:
    """Could ``text`` be a pack's id (a cheap check before a store lookup)?"""
    return _ID.match(text) is not None
