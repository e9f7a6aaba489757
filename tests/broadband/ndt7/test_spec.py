from __future__ import annotations

import random

import pytest

from netatlas.broadband.ndt7 import spec
from netatlas.broadband.ndt7.spec import Ndt7Error, parse_request


def test_metadata_is_kept_in_order_without_tokens_or_server_keys() -> None:
    request = parse_request(
        b"client_name=ndt7-js&client_version=1.0&access_token=abc&server_x=1&early_exit=250"
    )
    assert request.metadata == (
        ("client_name", "ndt7-js"),
        ("client_version", "1.0"),
        ("early_exit", "250"),
    )
    assert request.access_token == "abc"
    assert request.early_exit_bytes == 250_000_000


def test_metadata_is_url_decoded_utf8() -> None:
    request = parse_request("client_name=caf%C3%A9+test")
    assert request.metadata == (("client_name", "café test"),)


def test_empty_query_is_fine() -> None:
    assert parse_request(b"").metadata == ()


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("a=1&a=2", "duplicate metadata key: 'a'"),
        ("a=1&b", "without a value: 'b'"),
        ("a=", "without a value: 'a'"),
        ("=1", "empty key"),
        ("early_exit=100", "early_exit must be 250"),
        ("x=" + "y" * 4095, "metadata too long: 4097 bytes"),
        ("x=%FF", "not valid UTF-8"),
    ],
)
def test_bad_metadata_is_refused_with_a_reason(query: str, fragment: str) -> None:
    with pytest.raises(Ndt7Error) as info:
        parse_request(query)
    assert info.value.status == 400
    assert fragment in info.value.message


def test_metadata_of_exactly_4096_bytes_is_accepted() -> None:
    assert parse_request("x=" + "y" * 4094).metadata[0][0] == "x"


def test_subprotocol_is_required() -> None:
    spec.check_subprotocol(["net.measurementlab.ndt.v7"])
    with pytest.raises(Ndt7Error) as info:
        spec.check_subprotocol(["chat"])
    assert info.value.status == 400
    assert "Sec-WebSocket-Protocol: net.measurementlab.ndt.v7" in info.value.message


def test_message_scaling_follows_the_spec() -> None:
    size, total = spec.INITIAL_MESSAGE_SIZE, 0
    sizes = []
    while total < 64 * 1024 * 1024:
        total += size
        size = spec.next_message_size(size, total)
        sizes.append(size)
    assert sizes[0] == 8192
    assert max(sizes) == spec.MAX_SCALED_MESSAGE_SIZE == 1 << 18
    # Each size is doubled only once it is under 1/16 of what was sent.
    assert spec.next_message_size(8192, 16 * 8192) == 8192
    assert spec.next_message_size(8192, 16 * 8192 + 1) == 16384
    assert spec.next_message_size(1 << 18, 1 << 40) == 1 << 18
    assert spec.next_message_size(1 << 18, 1 << 40, cap=1 << 20) == 1 << 19


def test_sampling_is_poisson_with_mean_250ms_clamped() -> None:
    rng = random.Random(7)
    draws = [spec.next_sample_delay(rng) for _ in range(20000)]
    assert min(draws) >= 0.025
    assert max(draws) <= 0.625
    assert 0.2 < sum(draws) / len(draws) < 0.26


def test_runtimes_are_the_specs() -> None:
    assert spec.DEFAULT_RUNTIME == 10.0
    assert spec.MAX_RUNTIME == 15.0
    assert spec.MAX_MESSAGE_SIZE == 1 << 24
