from __future__ import annotations

import os
import shutil
from pathlib import Path

from netatlas.geo.asn import AsnInfo, MaxMindAsn, NoAsn, asn_from_path
from tests.conftest import DATA

MAXMIND = DATA / "maxmind"


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lookup_gives_number_and_organisation() -> None:
    asn = MaxMindAsn(str(MAXMIND / "GeoLite2-ASN-Test.mmdb"))
    assert asn.lookup("1.128.0.1") == AsnInfo(1221, "Telstra Pty Ltd")
    assert asn.lookup("::ffff:1.128.0.1") == AsnInfo(1221, "Telstra Pty Ltd")
    assert asn.lookup("216.160.83.56") == AsnInfo(209, None)
    for ip in ("127.0.0.1", "10.0.0.1", "not an ip", "", "81.2.69.192"):
        assert asn.lookup(ip) is None


def test_a_new_database_file_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "GeoLite2-ASN.mmdb"
    asn = MaxMindAsn(str(path), check_every=30, clock=clock)
    assert asn.lookup("1.128.0.1") is None  # no file yet

    # MaxMind's updater writes the new file beside the old one and renames it into place.
    shutil.copy(MAXMIND / "GeoLite2-ASN-Test.mmdb", tmp_path / "new.mmdb")
    os.replace(tmp_path / "new.mmdb", path)
    assert asn.lookup("1.128.0.1") is None  # not checked again before check_every
    clock.now += 31
    assert asn.lookup("1.128.0.1") == AsnInfo(1221, "Telstra Pty Ltd")

    # A file that is not an ASN database keeps the one loaded.
    shutil.copy(MAXMIND / "GeoIP2-City-Test.mmdb", tmp_path / "new.mmdb")
    os.replace(tmp_path / "new.mmdb", path)
    clock.now += 31
    assert asn.lookup("1.128.0.1") == AsnInfo(1221, "Telstra Pty Ltd")

    # A truncated file (a copy in progress) too; the finished copy is then loaded.
    path.write_bytes((MAXMIND / "GeoLite2-ASN-Test.mmdb").read_bytes()[:1000])
    clock.now += 31
    assert asn.lookup("1.128.0.1") == AsnInfo(1221, "Telstra Pty Ltd")
    shutil.copy(MAXMIND / "GeoLite2-ASN-Test.mmdb", path)
    os.utime(path, ns=(1, 1))
    clock.now += 31
    assert asn.lookup("89.160.20.112") == AsnInfo(29518, "Bredband2 AB")


def test_no_path_no_lookups() -> None:
    assert isinstance(asn_from_path(""), NoAsn)
    assert NoAsn().lookup("1.128.0.1") is None
