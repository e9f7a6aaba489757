"""Locate throughput: /v1/geolocate with 10 known WiFi networks, and IP-only queries.

Fills the station tables with N WiFi stations (groups of 10 access points within ~60 m, spread
over Greater London), starts `netatlas serve --workers 2` and runs wrk for 20 s with a pool of
1,000 different request bodies, then the same for IP-only queries (`{}` from a London address,
answered by the GeoIP database). The server and wrk share the 2 cores.

    .venv/bin/python -m bench.locate_load postgresql --stations 1000000
    .venv/bin/python -m bench.locate_load sqlite --stations 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import tempfile
from pathlib import Path

import redis
from sqlalchemy import insert, text

from bench._common import PG_URL, REDIS_URL, run_wrk, server
from netatlas.db.engine import make_engine
from netatlas.db.migrate import upgrade
from netatlas.location.models import api_key, wifi_shards
from netatlas.settings import Settings

# A database of its own, so other benchmarks running meanwhile cannot drop it mid-run.
DB_URL = PG_URL.rsplit("/", 1)[0] + "/netatlas_locate"
CITY_DB = Path(__file__).resolve().parents[1] / "tests" / "data" / "maxmind"
GEOIP = CITY_DB / "GeoIP2-City-Test.mmdb"

LUA = """
local bodies = {}
local n = 0
for line in io.lines("%(path)s") do
  n = n + 1
  bodies[n] = line
end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/v1/geolocate?key=bench",
    {["Content-Type"] = "application/json", ["X-Forwarded-For"] = "81.2.69.192"},
    bodies[(counter %% n) + 1])
end
"""


def fill(settings: Settings, stations: int, rng: random.Random) -> list[list[str]]:
    engine = make_engine(settings.sqlalchemy_url)
    upgrade(engine)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    groups: list[list[str]] = []
    rows: dict[str, list[dict[str, object]]] = {s: [] for s in wifi_shards}

    def flush() -> None:
        with engine.begin() as conn:
            for shard, batch in rows.items():
                if batch:
                    conn.execute(insert(wifi_shards[shard]), batch)
                    batch.clear()

    for g in range(stations // 10):
        lat0 = 51.3 + rng.random() * 0.4
        lon0 = -0.45 + rng.random() * 0.6
        macs = []
        for _ in range(10):
            mac = f"{rng.randrange(64) * 4:02x}" + "".join(
                f"{rng.randrange(256):02x}" for _ in range(5)
            )
            lat = lat0 + rng.uniform(-0.0004, 0.0004)
            lon = lon0 + rng.uniform(-0.0006, 0.0006)
            rows[mac[4]].append(
                {
                    "mac": bytes.fromhex(mac),
                    "lat": lat,
                    "lon": lon,
                    "max_lat": lat,
                    "min_lat": lat,
                    "max_lon": lon,
                    "min_lon": lon,
                    "radius": 20,
                    "region": "GB",
                    "samples": 20,
                    "source": 3,
                    "weight": 20.0,
                    "created": now - dt.timedelta(days=60),
                    "modified": now,
                    "last_seen": now.date(),
                    "block_count": 0,
                }
            )
            macs.append(mac)
        if len(groups) < 1000:
            groups.append(macs)
        if g % 5000 == 4999:
            flush()
    flush()
    with engine.begin() as conn:
        conn.execute(
            insert(api_key).values(
                valid_key="bench",
                allow_fallback=False,
                allow_locate=True,
                allow_region=True,
                store_sample_locate=0,
                store_sample_submit=100,
            )
        )
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return groups


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", choices=["sqlite", "postgresql"])
    parser.add_argument("--stations", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = {
            "NETATLAS_DATA_DIR": str(work / "data"),
            "NETATLAS_EMBEDDED_JOBS": "false",
            "NETATLAS_DEMO": "false",
            "NETATLAS_LOG_LEVEL": "warning",
            "NETATLAS_GEOIP_CITY_PATH": str(GEOIP),
        }
        if args.backend == "postgresql":
            admin = make_engine(
                PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as conn:
                conn.execute(text("DROP DATABASE IF EXISTS netatlas_locate"))
                conn.execute(text("CREATE DATABASE netatlas_locate"))
            admin.dispose()
            redis.Redis.from_url(REDIS_URL).flushdb()  # the benchmarks' own database
            env.update(NETATLAS_DATABASE_URL=DB_URL, NETATLAS_REDIS_URL=REDIS_URL)
        settings = Settings.from_env({**os.environ, **env})
        groups = fill(settings, args.stations, rng)
        wifi_bodies = work / "wifi.txt"
        with wifi_bodies.open("w") as out:
            for macs in groups:
                aps = [{"macAddress": m, "signalStrength": rng.randrange(-90, -50)} for m in macs]
                out.write(json.dumps({"wifiAccessPoints": aps}) + "\n")
        ip_bodies = work / "ip.txt"
        ip_bodies.write_text("{}\n")
        port = args.port
        results = {}
        with server(env, port, workers=2):
            for label, path in (("wifi", wifi_bodies), ("ip-only", ip_bodies)):
                lua = work / f"{label}.lua"
                lua.write_text(LUA % {"path": path})
                run_wrk(f"http://127.0.0.1:{port}", lua, 3, threads=2, conns=args.connections)
                results[label] = run_wrk(
                    f"http://127.0.0.1:{port}", lua, args.seconds, threads=2, conns=args.connections
                )
    for label, r in results.items():
        print(
            f"backend={args.backend} stations={args.stations} query={label} "
            f"requests/s={r['rps']:.0f} p50={r['p50_ms']:.1f}ms p99={r['p99_ms']:.1f}ms "
            f"non2xx={r['non2xx']:.0f}"
        )


if __name__ == "__main__":
    main()
