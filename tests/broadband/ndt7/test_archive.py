from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from netatlas.broadband.ndt7.archive import (
    Ndt7Result,
    archive_path,
    format_time,
    make_uuid,
    result_document,
    write_result,
)
from tests.broadband.ndt7.mlab_format import NAME, archive_names, check_document, read, real_files


def test_the_format_checks_pass_on_m_labs_own_files() -> None:
    for doc in real_files():
        check_document(doc)
    assert len(archive_names()) == 114
    for name in archive_names():
        assert NAME.match(name), name


def test_times_are_go_rfc3339nano() -> None:
    assert format_time(1_584_490_017_568_560_214) == "2020-03-18T00:06:57.568560214Z"
    assert format_time(1_584_490_017_568_560_000) == "2020-03-18T00:06:57.56856Z"
    assert format_time(1_584_490_017_000_000_000) == "2020-03-18T00:06:57Z"


def test_uuids_have_mlabs_shape() -> None:
    uuid = make_uuid(0x590E)
    host, boot, cookie = uuid.rsplit("_", 2)
    assert host and boot.isdigit() and cookie == "000000000000590E"
    assert make_uuid(None) != make_uuid(None)


def _result(direction: str) -> Ndt7Result:
    real = real_files()[1]["Download"]  # the 2022 download: ConnectionInfo, BBRInfo, TCPInfo
    start = 1_669_849_655_945_582_285
    return Ndt7Result(
        uuid=make_uuid(42),
        direction=direction,
        client_ip="2001:db8::1",
        client_port=63384,
        server_ip="2001:db8::203",
        server_port=443,
        start_ns=start,
        test_start_ns=start + 54_000,
        end_ns=start + 10_660_805_644,
        server_measurements=copy.deepcopy(real["ServerMeasurements"]),
        client_measurements=[],
        client_metadata=(("client_name", "ist"),),
    )


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_written_file_has_the_real_files_format(tmp_path: Path, direction: str) -> None:
    result = _result(direction)
    for m in result.server_measurements:
        m["ConnectionInfo"]["UUID"] = result.uuid
    relative = write_result(tmp_path, result)
    assert relative == archive_path(result)
    assert relative.startswith("ndt7/2022/11/30/")
    match = NAME.match(relative.removeprefix("ndt7/"))
    assert match and match["dir"] == direction and match["uuid"] == result.uuid
    assert relative.endswith(f"ndt7-{direction}-20221130T230735.945582285Z.{result.uuid}.json.gz")
    doc = read(tmp_path / relative)
    test = check_document(doc)
    assert doc == result_document(result)
    assert ("Download" in doc) == (direction == "download")
    assert test["ClientMeasurements"] is None  # Go writes an empty slice as null
    assert test["ClientMetadata"] == [{"Name": "client_name", "Value": "ist"}]
    assert doc["ClientIP"] == "2001:db8::1" and doc["ServerPort"] == 443
    assert not list(tmp_path.rglob("*.tmp"))


def test_file_time_is_the_request_time() -> None:
    now = time.time_ns()
    result = _result("download")
    result.start_ns = now
    assert time.strftime("%Y/%m/%d", time.gmtime(now / 1e9)) in archive_path(result)
