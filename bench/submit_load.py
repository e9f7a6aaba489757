"""Submit acceptance: gzip batches of 50 reports x 10 WiFi posted to /v2/geosubmit.

Runs `netatlas serve --workers 2` (jobs off, so only acceptance is measured) and wrk on the same
2-core machine for 20 s, in embedded mode (SQLite queue) or scale-out mode (Redis queue,
PostgreSQL). Prints requests/s, reports/s and latency percentiles.

    .venv/bin/python bench/submit_load.py embedded
    .venv/bin/python bench/submit_load.py scale-out
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import redis

from bench._common import PG_URL, REDIS_URL, gzip_batch, random_mac, run_wrk, server, wifi_report

LUA = """
local bodies = {}
for i = 0, %(n)d - 1 do
  local f = io.open("%(dir)s/body" .. i .. ".gz", "rb")
  bodies[i] = f:read("*a")
  f:close()
end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v2/geosubmit",
    {["Content-Type"] = "application/json", ["Content-Encoding"] = "gzip"},
    bodies[counter %% %(n)d])
end
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["embedded", "scale-out"])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        n = 40
        for i in range(n):
            reports = []
            for _ in range(50):
                macs = [random_mac(rng) for _ in range(10)]
                reports.append(
                    wifi_report(
                        rng, 52.5 + rng.uniform(-0.1, 0.1), 13.4 + rng.uniform(-0.1, 0.1), macs
                    )
                )
            (work / f"body{i}.gz").write_bytes(gzip_batch(reports))
        lua = work / "submit.lua"
        lua.write_text(LUA % {"n": n, "dir": work})
        env = {
            "NETATLAS_DATA_DIR": str(work / "data"),
            "NETATLAS_EMBEDDED_JOBS": "false",
            "NETATLAS_DEMO": "false",
            "NETATLAS_LOG_LEVEL": "warning",
            # wrk posts from one address without a key: far over the per-address submit rate.
            # A rate nothing reaches keeps the check in the measured work without refusals.
            "NETATLAS_SUBMIT_BYTES_PER_MINUTE": str(1 << 50),
        }
        if args.mode == "scale-out":
            env.update({"NETATLAS_DATABASE_URL": PG_URL, "NETATLAS_REDIS_URL": REDIS_URL})
            redis.Redis.from_url(REDIS_URL).flushdb()
        port = args.port
        with server(env, port, workers=args.workers):
            run_wrk(f"http://127.0.0.1:{port}", lua, 3, conns=args.connections)  # warm-up
            result = run_wrk(f"http://127.0.0.1:{port}", lua, args.seconds, conns=args.connections)
        if args.mode == "scale-out":
            redis.Redis.from_url(REDIS_URL).flushdb()
    print(
        f"mode={args.mode} requests/s={result['rps']:.0f} reports/s={result['rps'] * 50:.0f} "
        f"p50={result['p50_ms']:.1f}ms p99={result['p99_ms']:.1f}ms non2xx={result['non2xx']:.0f}"
    )


if __name__ == "__main__":
    main()
