from __future__ import annotations

import pytest

from netatlas.broadband.usecases import (
    DEFAULT_TABLE,
    USE_CASES,
    UseCaseError,
    judge,
    parse_use_cases,
    table,
    table_as_document,
)


def test_the_table_is_iqbs() -> None:
    by_key = {c.key: c for c in USE_CASES}
    assert set(by_key) == {
        "browsing", "video_streaming", "audio_streaming", "video_conferencing",
        "online_backup", "gaming",
    }  # fmt: skip
    gaming = by_key["gaming"]
    assert (gaming.min_download, gaming.min_upload, gaming.max_latency, gaming.max_loss) == (
        25.0, 25.0, 10.0, 0.5,
    )  # fmt: skip
    backup = by_key["online_backup"]
    assert (backup.min_download, backup.min_upload) == (10.0, 25.0)
    assert DEFAULT_TABLE.quantile("download") == pytest.approx(0.1)
    assert DEFAULT_TABLE.quantile("loss") == pytest.approx(0.9)


def test_fast_line_is_good_for_everything() -> None:
    assert all(u["ok"] for u in judge(300.0, 50.0, 8.0))


def test_slow_line_says_why() -> None:
    by_key = {u["key"]: u for u in judge(20.0, 8.0, 60.0)}
    assert by_key["browsing"]["reasons"] == ["upload below 10 Mbit/s"]
    assert by_key["audio_streaming"]["ok"] is True
    assert by_key["gaming"]["reasons"] == [
        "download below 25 Mbit/s",
        "upload below 25 Mbit/s",
        "latency above 10 ms",
    ]


def test_missing_figures_are_unknown_not_good() -> None:
    assert {u["ok"] for u in judge(None, None, None)} == {None}
    assert [row["key"] for row in table()] == [u.key for u in USE_CASES]


def test_a_document_round_trips_and_edits_apply() -> None:
    doc = table_as_document(DEFAULT_TABLE)
    assert parse_use_cases(doc) == DEFAULT_TABLE
    doc["scores"]["percentile"] = 95
    doc["use_case"][0]["download"] = 5
    doc["use_case"][0]["weights"] = {"latency": 3}
    edited = parse_use_cases(doc)
    assert edited.percentile == 95 and edited.quantile("upload") == pytest.approx(0.05)
    assert edited.cases[0].min_download == 5.0
    assert edited.cases[0].weights == (1.0, 1.0, 3.0, 1.0)
    assert judge(6.0, 20.0, 50.0, edited)[0]["ok"] is True


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"scores": {"percentile": 40}}, "percentile"),
        ({"use_case": [{"key": "x", "download": 1, "upload": 1}]}, "latency is required"),
        ({"use_case": [{"key": "x", "download": -1, "upload": 1, "latency": 5}]}, "download"),
        ({"use_case": [{"key": "Bad key", "download": 1, "upload": 1, "latency": 5}]}, "key"),
        (
            {"use_case": [{"key": "x", "download": 1, "upload": 1, "latency": 5, "speed": 2}]},
            "unknown keys",
        ),
        (
            {
                "use_case": [
                    {
                        "key": "x",
                        "download": 1,
                        "upload": 1,
                        "latency": 5,
                        "weights": {"download": 0, "upload": 0, "latency": 0, "loss": 0},
                    }
                ]
            },
            "weight",
        ),
        ({"use_case": []}, "list of 1"),
    ],
)
def test_bad_tables_are_refused(doc: dict[str, object], message: str) -> None:
    with pytest.raises(UseCaseError, match=message):
        parse_use_cases(doc)
