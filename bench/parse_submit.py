"""Time the submit parsing path on a NeoStumbler-shaped gzip batch of 1,000 reports x 10 WiFi.

Run: ``.venv/bin/python bench/parse_submit.py`` (options: ``--reports``, ``--wifis``, ``--runs``).
Prints the median of the runs for gunzip + decode (``decode_body``), for ``parse_submit``, and
for both together. Every MAC is distinct, so the per-request MAC cache never helps (worst case).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import time

from netatlas.http.body import decode_body
from netatlas.location.submit.parse import parse_submit

NOW_MS = 1_750_000_000_000


def make_batch(reports: int, wifis: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    items = []
    for index in range(reports):
        aps = []
        for _ in range(wifis):
            first = rng.randrange(0, 256) & 0xFC  # globally administered unicast
            rest = [rng.randrange(0, 256) for _ in range(5)]
            channel = rng.choice([1, 6, 11, 36, 44, 149])
            aps.append(
                {
                    "macAddress": ":".join(f"{octet:02x}" for octet in [first, *rest]),
                    "radioType": rng.choice(["802.11n", "802.11ac", "802.11ax"]),
                    "age": rng.randrange(0, 3000),
                    "channel": channel,
                    "frequency": 2407 + 5 * channel if channel < 14 else 5000 + 5 * channel,
                    "signalStrength": rng.randrange(-95, -30),
                    "ssid": f"network-{rng.randrange(10_000)}",
                }
            )
        items.append(
            {
                "timestamp": NOW_MS - 60_000 * (reports - index),
                "position": {
                    "latitude": 60.17 + rng.random() / 100,
                    "longitude": 24.94 + rng.random() / 100,
                    "accuracy": 5.0 + rng.random() * 20,
                    "altitude": 20.0 + rng.random() * 5,
                    "altitudeAccuracy": 3.0,
                    "age": rng.randrange(0, 2000),
                    "heading": rng.random() * 360,
                    "speed": rng.random() * 10,
                    "source": "gps",
                },
                "wifiAccessPoints": aps,
            }
        )
    return gzip.compress(json.dumps({"items": items}).encode(), compresslevel=6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--wifis", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    body = make_batch(args.reports, args.wifis)
    decode_times: list[float] = []
    parse_times: list[float] = []
    for _ in range(args.runs):
        start = time.perf_counter()
        text = decode_body(body, "gzip", "utf-8", 50 * 1024 * 1024)
        middle = time.perf_counter()
        result = parse_submit(text, "v2", NOW_MS)
        end = time.perf_counter()
        decode_times.append(middle - start)
        parse_times.append(end - middle)
    kept = sum(len(report.wifiAccessPoints) for report in result.reports)
    totals = [a + b for a, b in zip(decode_times, parse_times, strict=True)]
    print(
        f"{args.reports} reports x {args.wifis} WiFi: {len(body):,} bytes gzip, "
        f"{len(text):,} chars JSON; kept {len(result.reports)} reports / {kept} WiFi; "
        f"dropped {result.dropped}"
    )
    print(f"median of {args.runs} runs:")
    print(f"  decode_body (gunzip + utf-8): {statistics.median(decode_times) * 1000:7.2f} ms")
    print(f"  parse_submit:                 {statistics.median(parse_times) * 1000:7.2f} ms")
    print(f"  total:                        {statistics.median(totals) * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
