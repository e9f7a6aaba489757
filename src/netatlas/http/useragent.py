"""Client families from the User-Agent header: a small, fixed set of names, so that counting
keyless clients by family can never grow a metric's label set (an attacker controls the
header; only these names are ever stored or exported).

What the known MLS clients send (reference: peers-and-clients):

* microG's network location: ``<ICHNAEA_USER_AGENT> (Linux; Android …; <package>)``, with
  microG in the agent or ``com.google.android.gms`` as the package; the old UnifiedNlp
  Ichnaea backend and other UnifiedNlp backends name themselves ``…UnifiedNlp…`` or
  ``…Ichnaea…NlpBackend``;
* GeoClue (2.7.2 and later): ``geoclue/<version>``;
* NeoStumbler: ``NeoStumbler/<version>``;
* Tower Collector: ``TowerCollector/<version>``;
* Firefox (the region lookup at start-up): ``Mozilla/5.0 (…) Gecko/… Firefox/<version>``.

Anything else is ``other``; no header (or an empty one) is ``none``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["FAMILIES", "client_family"]

#: Every family :func:`client_family` can answer, in display order.
FAMILIES: Final = (
    "microg",
    "geoclue",
    "neostumbler",
    "firefox",
    "tower_collector",
    "other",
    "none",
)

# (family, lower-case markers): the first family with a marker in the agent wins. Stumblers
# before microG: their agents may carry an Android package or platform string too.
_MARKERS: Final = (
    ("neostumbler", ("neostumbler",)),
    ("tower_collector", ("towercollector", "tower collector", "info.zamojski.soft.towercollector")),
    ("geoclue", ("geoclue",)),
    ("microg", ("microg", "unifiednlp", "com.google.android.gms", "nlpbackend", "ichnaeanlp")),
    ("firefox", ("firefox/", "fennec/", "focus/", "klar/")),
)
_MAX_SCAN: Final = 512  # characters looked at: markers sit near the start


def client_family(agent: str | None) -> str:
    """The family (one of :data:`FAMILIES`) of a User-Agent header value."""
    if agent is None or not agent.strip():
        return "none"
    text = agent[:_MAX_SCAN].lower()
    for family, markers in _MARKERS:
        if any(marker in text for marker in markers):
            return family
    return "other"
