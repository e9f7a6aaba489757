"""The ndt7 server over real sockets, driven by the Python ndt7 client (websockets)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from netatlas.broadband.measurements import get_measurement
from netatlas.broadband.ndt7 import spec
from netatlas.broadband.ndt7.client import ClientResult, run_test
from netatlas.broadband.ndt7.server import Limits
from netatlas.broadband.ndt7.summary import summarize
from tests.broadband.conftest import LiveServer
from tests.broadband.ndt7.mlab_format import NAME, check_document, read
from tests.live import wait_until

pytestmark = pytest.mark.slow


def stored(live: LiveServer, uuid: str | None) -> dict[str, Any]:
    """The test's row, once the server has written it (just after the close)."""
    assert uuid
    return wait_until(
        lambda: get_measurement(live.broadband.engine, uuid), f"the measurements row of {uuid}"
    )


def idle(live: LiveServer) -> None:
    """Wait until no test holds a place: the row is stored just before the place is freed."""
    wait_until(lambda: live.broadband.guard.running == 0, "the server's tests to end")


def server_elapsed(measurement: dict[str, Any]) -> float:
    """Seconds since the start of the test, by the server's clock."""
    return float(measurement["AppInfo"]["ElapsedTime"]) / 1e6


def refused(live: LiveServer, direction: str = "download", **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as info:
        asyncio.run(run_test(live.ws, direction, duration=0.5, **kwargs))
    response = info.value.response
    return response.status_code, json.loads(response.body or b"{}")["error"]["message"]


def check_stored(live: LiveServer, result: ClientResult) -> tuple[dict[str, Any], dict[str, Any]]:
    row = stored(live, result.uuid)
    data_dir = Path(live.broadband.settings.data_dir)
    assert row["archive"] and NAME.match(row["archive"].removeprefix("ndt7/"))
    doc = read(data_dir / row["archive"])
    test = check_document(doc)
    assert test["UUID"] == result.uuid == row["uuid"]
    summary = summarize(result.direction, test["ServerMeasurements"])
    assert row["mean_mbps"] == pytest.approx(summary.mean_mbps)
    assert row["min_rtt_ms"] == pytest.approx(summary.min_rtt_ms)
    assert row["source"] == "local" and row["direction"] == result.direction
    assert row["client_name"] == "netatlas-ndt7-client"
    assert ("Download" in doc) == (result.direction == "download")
    return row, test


def test_download_over_a_real_socket(live: LiveServer) -> None:
    result = asyncio.run(run_test(live.ws, "download"))
    assert result.subprotocol == spec.SUBPROTOCOL  # echoed
    assert result.close_code == 1000
    assert result.message_sizes[0] == spec.INITIAL_MESSAGE_SIZE
    assert all(
        b == 2 * a for a, b in zip(result.message_sizes, result.message_sizes[1:], strict=False)
    )
    assert result.num_bytes > 0
    # Measurement messages: AppInfo, ConnectionInfo, Origin, Test, kernel TCPInfo.
    last = result.server_measurements[-1]
    assert {"AppInfo", "ConnectionInfo", "Origin", "Test", "TCPInfo"} <= set(last)
    assert last["Origin"] == "server" and last["Test"] == "download"
    assert last["TCPInfo"]["BytesAcked"] > 0
    # It ran its runtime (1 s in these tests) and ended normally, before the hard stop (a hard
    # stop closes with 1002): judged by the server's own figures, however loaded the machine.
    assert server_elapsed(last) >= 1.0
    # Poisson, mean 250 ms, ≥ 25 ms apart: at most one per 25 ms, and the final one.
    count = len(result.server_measurements)
    assert 2 <= count <= server_elapsed(last) / spec.SAMPLE_MIN + 2
    row, test = check_stored(live, result)
    assert row["num_bytes"] == test["ServerMeasurements"][-1]["AppInfo"]["NumBytes"]
    assert row["num_bytes"] == result.num_bytes
    assert row["loss_rate"] is not None and row["client_ip"] == "127.0.0.1"
    assert row["congestion_control"]
    assert test["ClientMeasurements"]  # the client's own AppInfo messages are kept
    assert {"Name": "client_name", "Value": "netatlas-ndt7-client"} in test["ClientMetadata"]


@pytest.mark.parametrize("live", [{"full_runtime": True}], indirect=True)
def test_upload_over_a_real_socket(live: LiveServer) -> None:
    # The client stops first (0.5 s; the server's runtime is the full 10 s here, so that a
    # loaded machine cannot make the server stop first): every byte is counted.
    # Measurements go out at Poisson intervals (mean 250 ms): a 0.5 s upload sees none in about
    # one run of seven, and then the client never learns the test's id. Such a run is repeated.
    for _ in range(5):
        result = asyncio.run(run_test(live.ws, "upload", duration=0.5))
        if result.uuid is not None:
            break
    assert result.subprotocol == spec.SUBPROTOCOL
    # Measurements go out at Poisson intervals (mean 250 ms), so a 0.5 s upload may see none
    # (about one run in seven); those it sees must be the upload's. The stored record always
    # ends with the server's final measurement.
    assert all(m["Test"] == "upload" for m in result.server_measurements)
    row, test = check_stored(live, result)
    last = test["ServerMeasurements"][-1]
    assert last["AppInfo"]["NumBytes"] == result.num_bytes  # every byte sent was counted
    assert last["TCPInfo"]["BytesReceived"] >= result.num_bytes
    assert row["loss_rate"] == 0.0


def test_upload_ends_at_the_runtime_with_the_servers_last_measurement(live: LiveServer) -> None:
    # The client would go on for 10 s; the server stops at its runtime (1 s here), sends
    # its last measurement and closes.
    client_duration = 10.0
    result = asyncio.run(run_test(live.ws, "upload", duration=client_duration))
    assert result.elapsed < client_duration  # the server ended it, not the client
    assert result.close_code == 1000
    _row, test = check_stored(live, result)
    assert test["ServerMeasurements"][-1] == result.server_measurements[-1]
    assert server_elapsed(result.server_measurements[-1]) >= 1.0  # not before its runtime


def test_a_client_that_stops_reading_is_cut_at_the_hard_stop(live: LiveServer) -> None:
    async def stall() -> dict[str, Any]:
        from websockets.asyncio.client import connect

        async with connect(
            f"{live.ws}/ndt/v7/download",
            subprotocols=[spec.SUBPROTOCOL],  # type: ignore[list-item]
            compression=None,
            max_queue=1,
        ) as ws:
            first = await ws.recv()  # the first measurement, then nothing is read
            uuid = json.loads(first)["ConnectionInfo"]["UUID"]
            # The connection stays open and unread: only the server's hard stop can end the
            # test and store it (without one this wait would fail).
            return await asyncio.to_thread(stored, live, uuid)

    row = asyncio.run(stall())
    doc = read(Path(live.broadband.settings.data_dir) / row["archive"])
    test = check_document(doc)
    assert server_elapsed(test["ServerMeasurements"][-1]) > 2.9  # max_runtime is 3 s here


@pytest.mark.parametrize("live", [{"full_runtime": True}], indirect=True)
def test_early_exit_stops_the_download_at_250_mb(live: LiveServer) -> None:
    live.broadband.limits = Limits(runtime=4.0, max_runtime=6.0)
    result = asyncio.run(run_test(live.ws, "download", metadata={"early_exit": "250"}))
    assert result.num_bytes <= spec.EARLY_EXIT_BYTES + spec.MAX_SCALED_MESSAGE_SIZE
    # The server's last measurement comes after its loop ends: before the 4 s runtime, only
    # the 250 MB can have ended it (a loaded machine may not get there in 4 s).
    if server_elapsed(result.server_measurements[-1]) < 4.0:
        assert result.num_bytes >= spec.EARLY_EXIT_BYTES
    row = stored(live, result.uuid)
    assert row["num_bytes"] == result.num_bytes


def test_client_address_behind_a_trusted_proxy_gets_its_asn_and_place(
    live: LiveServer, tmp_path: Path
) -> None:
    from netatlas.geo.geoip import MaxMindGeoIP
    from tests.conftest import DATA

    live.broadband.geoip = MaxMindGeoIP(str(DATA / "maxmind/GeoIP2-City-Test.mmdb"))
    result = asyncio.run(
        run_test(live.ws, "download", headers={"X-Forwarded-For": "89.160.20.112"})
    )
    row = stored(live, result.uuid)
    assert row["client_ip"] == "89.160.20.112"
    assert (row["asn"], row["isp"]) == (29518, "Bredband2 AB")
    assert row["region"] == "SE" and row["lat"] is not None
    live.broadband.geoip.close()


def test_bad_handshakes_get_clear_errors(live: LiveServer) -> None:
    status, message = refused(live, subprotocol=False)
    assert status == 400 and "Sec-WebSocket-Protocol: net.measurementlab.ndt.v7" in message
    status, message = refused(live, metadata={"early_exit": "100"})
    assert status == 400 and "early_exit must be 250" in message
    status, message = refused(live, metadata={"x": "y" * 5000})
    assert status == 400 and "metadata too long" in message
    # Duplicate and valueless keys, sent raw.
    for query, fragment in (("a=1&a=2", "duplicate"), ("a=1&flag", "without a value")):
        reply = httpx.get(
            f"{live.url}/ndt/v7/upload?{query}",
            headers={
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Protocol": spec.SUBPROTOCOL,
            },
        )
        assert reply.status_code == 400
        assert fragment in reply.json()["error"]["message"]
    # Nothing was stored for refused handshakes.
    assert not list(Path(live.broadband.settings.data_dir).glob("ndt7/**/*.gz"))


@pytest.mark.parametrize("live", [{"ndt7_max_tests": 1}], indirect=True)
def test_tests_past_the_cap_get_503(live: LiveServer) -> None:
    # The first test is an upload that lasts until its client closes (the server's runtime is
    # the full 10 s): it holds the only place for as long as the second attempt takes.
    live.broadband.limits = Limits()

    async def both() -> tuple[int | None, str, tuple[int, str]]:
        from websockets.asyncio.client import connect

        async with connect(
            f"{live.ws}/ndt/v7/upload",
            subprotocols=[spec.SUBPROTOCOL],  # type: ignore[list-item]
            compression=None,
        ) as ws:
            # The server's first measurement: its test is running and holds the place.
            uuid = json.loads(await ws.recv())["ConnectionInfo"]["UUID"]
            with pytest.raises(InvalidStatus) as info:
                await run_test(live.ws, "upload", duration=0.5)
            body = json.loads(info.value.response.body or b"{}")
        return ws.close_code, uuid, (info.value.response.status_code, body["error"]["message"])

    close_code, uuid, (status, message) = asyncio.run(both())
    assert status == 503 and "as many tests as it can" in message
    assert close_code == 1000
    stored(live, uuid)
    idle(live)
    asyncio.run(run_test(live.ws, "upload", duration=0.3))  # the place is free again


@pytest.mark.parametrize("live", [{"ndt7_ip_per_hour": 1}], indirect=True)
def test_per_address_limit_gets_429(live: LiveServer) -> None:
    asyncio.run(run_test(live.ws, "upload", duration=0.3))
    status, message = refused(live, "upload")
    assert status == 429 and "this hour" in message


@pytest.mark.parametrize("live", [{"ndt7_tokens_required": True}], indirect=True)
def test_tokens_when_required(live: LiveServer) -> None:
    status, message = refused(live)
    assert status == 401 and "access_token" in message
    status, message = refused(live, metadata={"access_token": "1.2.3"})
    assert status == 401
    for odd in ("1.n\u00f6nce.sig", "\u00b2.nonce.sig"):
        status, message = refused(live, metadata={"access_token": odd})
        assert status == 401 and "malformed" in message, odd
    token = httpx.post(f"{live.url}/api/v1/speedtest/token").json()["token"]
    result = asyncio.run(run_test(live.ws, "download", metadata={"access_token": token}))
    _, test = check_stored(live, result)
    names = {pair["Name"] for pair in test["ClientMetadata"]}
    assert "access_token" not in names  # a credential is never stored


def test_binary_data_from_the_receiving_side_ends_the_download(live: LiveServer) -> None:
    async def misbehave() -> tuple[int | None, str]:
        from websockets.asyncio.client import connect

        async with connect(
            f"{live.ws}/ndt/v7/download",
            subprotocols=[spec.SUBPROTOCOL],  # type: ignore[list-item]
            compression=None,
        ) as ws:
            uuid = json.loads(await ws.recv())["ConnectionInfo"]["UUID"]
            await ws.send(b"\0" * 1024)  # only the server sends load in a download
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass
            return ws.close_code, uuid

    code, uuid = asyncio.run(misbehave())
    assert code == 1002  # protocol error
    stored(live, uuid)


def test_client_measurements_are_capped_and_the_test_completes(live: LiveServer) -> None:
    # A client that floods its upload with text: 300 measurements of 1 KiB, one nested too
    # deep to decode, one over the per-message limit. Only the first are kept, within the
    # count and byte limits; the rest are counted, and the test runs to its normal end.
    from netatlas.broadband.ndt7.server import (
        MAX_CLIENT_BYTES,
        MAX_CLIENT_MEASUREMENTS,
        MAX_CLIENT_MESSAGE,
    )

    padding = "x" * 1000
    texts = ["[" * 5000, "{" + " " * (MAX_CLIENT_MESSAGE + 1) + "}"]
    texts += [
        json.dumps({"AppInfo": {"ElapsedTime": i, "NumBytes": i}, "Note": padding})
        for i in range(300)
    ]

    async def flood() -> tuple[int | None, str]:
        from websockets.asyncio.client import connect

        async with connect(
            f"{live.ws}/ndt/v7/upload",
            subprotocols=[spec.SUBPROTOCOL],  # type: ignore[list-item]
            compression=None,
        ) as ws:
            for text in texts:
                await ws.send(text)
            await ws.send(b"\0" * 8192)  # and some load
            uuid = None
            with contextlib.suppress(ConnectionClosed):
                async for message in ws:  # the server ends the test at its runtime
                    if isinstance(message, str):
                        uuid = json.loads(message)["ConnectionInfo"]["UUID"]
            assert uuid is not None
            return ws.close_code, uuid

    code, uuid = asyncio.run(flood())
    assert code == 1000  # a normal end
    row = stored(live, uuid)
    test = check_document(read(Path(live.broadband.settings.data_dir) / row["archive"]))
    kept = test["ClientMeasurements"]
    assert 0 < len(kept) <= MAX_CLIENT_MEASUREMENTS
    assert sum(len(json.dumps(m, separators=(",", ":"))) for m in kept) <= MAX_CLIENT_BYTES
    assert [m["AppInfo"]["NumBytes"] for m in kept] == list(range(len(kept)))  # the first ones
    dropped = {p["Name"]: p["Value"] for p in test["ServerMetadata"]}["client_measurements_dropped"]
    assert int(dropped) == len(texts) - len(kept)
    assert row["num_bytes"] == 8192
