from __future__ import annotations

from pathlib import Path

import pytest

from netatlas.broadband.ndt7.spec import Ndt7Error
from netatlas.broadband.ndt7.tokens import TokenSigner, load_key


class Clock:
    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_token_verifies_for_its_address_until_it_expires() -> None:
    clock = Clock()
    signer = TokenSigner(b"k" * 32, ttl=120, clock=clock)
    token, expires = signer.issue("192.0.2.1")
    assert expires == int(clock.now) + 120
    signer.verify(token, "192.0.2.1")
    with pytest.raises(Ndt7Error, match="invalid"):
        signer.verify(token, "192.0.2.2")
    with pytest.raises(Ndt7Error, match="invalid"):
        TokenSigner(b"x" * 32, clock=clock).verify(token, "192.0.2.1")
    clock.now += 121
    with pytest.raises(Ndt7Error, match="expired") as info:
        signer.verify(token, "192.0.2.1")
    assert info.value.status == 401


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "abc",
        "1.2",
        "x.y.z",
        "1.2.3.4",
        # Not ASCII, digits int() cannot read, too many digits for int(): all a 401, never
        # a TypeError or ValueError from the comparison or the parsing.
        "1.nonce.\u00e9t\u00e9",
        "1.n\u00f6nce.sig",
        "\u00b2.nonce.sig",
        "1.nonce.\udcff",
        "9" * 5000 + ".nonce.sig",
    ],
)
def test_missing_or_malformed_tokens_are_401(token: str | None) -> None:
    with pytest.raises(Ndt7Error) as info:
        TokenSigner(b"k" * 32).verify(token, "192.0.2.1")
    assert info.value.status == 401


def test_key_from_secret_or_kept_in_the_data_dir(tmp_path: Path) -> None:
    secret = "a configured secret of 38 characters!!"
    assert load_key(secret, tmp_path) == load_key(secret, tmp_path / "other")
    assert not (tmp_path / "ndt7-token.key").exists()
    first = load_key("", tmp_path)
    assert len(first) == 32
    assert load_key("", tmp_path) == first  # every process sharing the data dir agrees
    assert (tmp_path / "ndt7-token.key").stat().st_mode & 0o777 == 0o600
