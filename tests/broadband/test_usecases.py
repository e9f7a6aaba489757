from __future__ import annotations

from netatlas.broadband.usecases import USE_CASES, judge, table


def test_fast_line_is_good_for_everything() -> None:
    assert all(u["ok"] for u in judge(300.0, 50.0, 12.0))


def test_slow_line_says_why() -> None:
    by_key = {u["key"]: u for u in judge(8.0, 1.0, 80.0)}
    assert by_key["browsing"]["ok"] is True
    assert by_key["video_calls"]["reasons"] == ["upload below 3 Mbit/s"]
    assert by_key["streaming_4k"]["reasons"] == ["download below 25 Mbit/s"]
    assert by_key["gaming"]["reasons"] == [
        "download below 10 Mbit/s",
        "upload below 3 Mbit/s",
        "latency above 50 ms",
    ]


def test_missing_figures_are_unknown_not_good() -> None:
    assert {u["ok"] for u in judge(None, None, None)} == {None}
    assert [row["key"] for row in table()] == [u.key for u in USE_CASES]
