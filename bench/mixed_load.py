"""Mixed load: 70 % locate, 25 % submit, 5 % pages, on the scale-out or the embedded stack.

scale-out: PostgreSQL (a database of its own on the local server) + a Redis of its own
(append-only, fsync as in deploy/redis/netatlas.conf), N `netatlas serve` processes (one port
each) behind nginx, one `netatlas worker` and one `netatlas beat` processing what is
submitted, as deploy/ sets it up. embedded: one `netatlas serve --workers N` on SQLite, jobs
in-process.

wrk (closed loop) runs the mix at rising connection counts; each step reports requests/s,
p50/p99 and errors, the cores the NetAtlas processes used and the whole stack used (NetAtlas,
nginx, Redis and the PostgreSQL backends of the benchmark's database; not wrk), requests per
stack core-second (to compare the modes), and the pipeline backlog at the end (a rate the
pipeline cannot keep up with is not sustained). The highest rate with p99 <= 100 ms and no
errors is printed. `--soak SECONDS` then runs one level for that long and samples the
processes' memory.

Locate bodies hit 10 known WiFi networks (stations seeded first); submit bodies are gzip
batches of 10 reports x 10 networks; pages are /, /stats and /privacy.

    .venv/bin/python -m bench.mixed_load scale-out --instances 2
    .venv/bin/python -m bench.mixed_load embedded --instances 2
    .venv/bin/python -m bench.mixed_load scale-out --steps 16 --soak 600
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench._common import NETATLAS, PG_URL, gzip_batch, random_mac, wait_http, wifi_report
from bench.locate_load import fill
from netatlas.db.engine import make_engine
from netatlas.settings import Settings

DB_NAME = "netatlas_mixed"  # a database of its own: other benchmarks may run meanwhile
DB_URL = PG_URL.rsplit("/", 1)[0] + "/" + DB_NAME
P99_LIMIT_MS = 100.0

LUA = """
local locate, submit = {}, {}
for line in io.lines("%(dir)s/locate.txt") do locate[#locate + 1] = line end
for i = 0, %(submits)d - 1 do
  local f = io.open("%(dir)s/submit" .. i .. ".gz", "rb")
  submit[#submit + 1] = f:read("*a")
  f:close()
end
local pages = {"/", "/stats", "/privacy"}
local n = 0
request = function()
  n = n + 1
  local slot = n %% 20
  if slot < 14 then
    return wrk.format("POST", "/v1/geolocate?key=bench",
      {["Content-Type"] = "application/json"}, locate[(n %% #locate) + 1])
  elseif slot < 19 then
    return wrk.format("POST", "/v2/geosubmit",
      {["Content-Type"] = "application/json", ["Content-Encoding"] = "gzip"},
      submit[(n %% #submit) + 1])
  end
  return wrk.format("GET", pages[(n %% #pages) + 1])
end
"""

NGINX = """
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/nginx-error.log warn;
user root;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %(dir)s/body;
  proxy_temp_path %(dir)s/proxy;
  upstream netatlas { %(servers)s keepalive 64; }
  server {
    listen 127.0.0.1:%(port)d;
    client_max_body_size 32m;
    location / {
      proxy_pass http://netatlas;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Request-ID $request_id;
      proxy_next_upstream error timeout;
    }
  }
}
"""


def write_bodies(work: Path, groups: list[list[str]], rng: random.Random) -> int:
    with (work / "locate.txt").open("w") as out:
        for macs in groups:
            aps = [{"macAddress": m, "signalStrength": rng.randrange(-90, -50)} for m in macs]
            out.write(json.dumps({"wifiAccessPoints": aps}) + "\n")
    submits = 40
    for i in range(submits):
        reports = [
            wifi_report(
                rng,
                51.3 + rng.random() * 0.4,
                -0.45 + rng.random() * 0.6,
                [random_mac(rng) for _ in range(10)],
            )
            for _ in range(10)
        ]
        (work / f"submit{i}.gz").write_bytes(gzip_batch(reports))
    (work / "mix.lua").write_text(LUA % {"dir": work, "submits": submits})
    return submits


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def stack(mode: str, env: dict[str, str], work: Path, instances: int, port: int) -> Any:
    """Start the processes; yields the list of NetAtlas process groups (for CPU and memory)."""
    procs: list[subprocess.Popen[bytes]] = []
    log = work / "server.log"
    with ExitStack() as cleanup:
        cleanup.callback(lambda: [_stop(p) for p in reversed(procs)])
        if mode == "embedded":
            procs.append(
                _spawn(
                    [NETATLAS, "serve", "--port", str(port), "--workers", str(instances)], env, log
                )
            )
            wait_http(f"http://127.0.0.1:{port}/__lbheartbeat__", 60)
            yield procs
            return
        ports = [port + 1 + i for i in range(instances)]
        for p in ports:
            procs.append(_spawn([NETATLAS, "serve", "--port", str(p)], env, log))
        for p in ports:
            wait_http(f"http://127.0.0.1:{p}/__lbheartbeat__", 60)
        procs.append(_spawn([NETATLAS, "worker", "--concurrency", "1"], env, log))
        procs.append(_spawn([NETATLAS, "beat"], env, log))
        conf = work / "nginx.conf"
        servers = " ".join(f"server 127.0.0.1:{p};" for p in ports)
        conf.write_text(NGINX % {"dir": work, "servers": servers, "port": port})
        nginx = subprocess.run(["nginx", "-c", str(conf), "-p", str(work)], check=True)
        assert nginx.returncode == 0
        cleanup.callback(
            lambda: subprocess.run(["nginx", "-c", str(conf), "-p", str(work), "-s", "stop"])
        )
        wait_http(f"http://127.0.0.1:{port}/__lbheartbeat__", 30)
        yield procs


def _descendants(pid: int) -> list[int]:
    found = [pid]
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for c in child.read_text().split():
            found += _descendants(int(c))
    return found


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pg_backends() -> list[int]:
    """PostgreSQL backend processes serving this benchmark's database."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text_ = cmdline.read_bytes()
        except OSError:
            continue
        if text_.startswith(b"postgres: ") and DB_NAME.encode() in text_:
            found.append(int(cmdline.parent.name))
    return found


def cpu_seconds(procs: list[subprocess.Popen[bytes]], work: Path) -> dict[tuple[str, int], float]:
    """CPU seconds used so far per (part of the stack, pid): NetAtlas, nginx, Redis, PostgreSQL.

    Compare two readings pid by pid (:func:`cores`): processes come and go (PostgreSQL
    backends of closed connections), and a sum over different sets would mislead.
    """
    out = {("netatlas", pid): _cpu(pid) for p in procs for pid in _descendants(p.pid)}
    pidfile = work / "nginx.pid"
    if pidfile.exists():
        out.update({("nginx", pid): _cpu(pid) for pid in _descendants(int(pidfile.read_text()))})
    redis_pid = work / "redis.pid"
    if redis_pid.exists():
        pid = int(redis_pid.read_text())
        out[("redis", pid)] = _cpu(pid)
    out.update({("postgres", pid): _cpu(pid) for pid in _pg_backends()})
    return out


def cores(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float], seconds: float
) -> dict[str, float]:
    """Cores used per part of the stack between two readings."""
    used: dict[str, float] = {}
    for key, value in after.items():
        used[key[0]] = used.get(key[0], 0.0) + max(value - before.get(key, 0.0), 0.0) / seconds
    return used


def rss_mib(procs: list[subprocess.Popen[bytes]]) -> dict[int, float]:
    out = {}
    for proc in procs:
        for pid in _descendants(proc.pid):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        out[pid] = int(line.split()[1]) / 1024
            except OSError:
                continue
    return out


def _ms(value: str) -> float:
    number = float(re.match(r"[\d.]+", value).group(0))  # type: ignore[union-attr]
    unit = value[len(re.match(r"[\d.]+", value).group(0)) :]  # type: ignore[union-attr]
    return number * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def wrk(url: str, lua: Path, seconds: int, conns: int) -> dict[str, float]:
    threads = min(2, conns)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", str(lua), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(lat["50"]),
        "p99": _ms(lat["99"]),
        "errors": float(non2xx.group(1) if non2xx else 0)
        + (sum(int(g) for g in sock.groups()) if sock else 0),
    }


def backlog(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as res:
        for line in res.read().decode().splitlines():
            if line.startswith("netatlas_pipeline_backlog "):
                return float(line.split()[1])
    return -1.0


def start_redis(work: Path, fsync: str) -> str:
    """A Redis of the benchmark's own, configured as deploy/redis/netatlas.conf says."""
    port = 6400 + os.getpid() % 1000
    subprocess.run(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "yes",
         "--pidfile", str(work / "redis.pid"), "--dir", str(work), "--save", "",
         "--appendonly", "yes", "--appendfsync", fsync, "--maxmemory-policy", "noeviction",
         "--logfile", str(work / "redis.log")],
        check=True,
    )  # fmt: skip
    time.sleep(0.5)
    return f"redis://127.0.0.1:{port}/0"


def stop_redis(work: Path) -> None:
    pidfile = work / "redis.pid"
    if pidfile.exists():
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
        time.sleep(0.5)


def prepare(mode: str, work: Path, stations: int, rng: random.Random, fsync: str) -> dict[str, str]:
    env = {
        "NETATLAS_DATA_DIR": str(work / "data"),
        "NETATLAS_DEMO": "false",
        "NETATLAS_LOG_LEVEL": "warning",
        "NETATLAS_LOG_FORMAT": "json",
        "NETATLAS_KEYLESS_RATE_PER_MINUTE": "0",
        "NETATLAS_EMBEDDED_JOBS": "true" if mode == "embedded" else "false",
    }
    if mode == "scale-out":
        admin = make_engine(PG_URL.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {DB_NAME}"))
            conn.execute(text(f"CREATE DATABASE {DB_NAME}"))
        admin.dispose()
        env.update(NETATLAS_DATABASE_URL=DB_URL, NETATLAS_REDIS_URL=start_redis(work, fsync))
    settings = Settings.from_env({**os.environ, **env})
    groups = fill(settings, stations, rng)
    write_bodies(work, groups, rng)
    return env


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["scale-out", "embedded"])
    parser.add_argument("--instances", type=int, default=2, help="serve processes")
    parser.add_argument("--stations", type=int, default=100_000)
    parser.add_argument("--steps", default="4,8,16,32", help="wrk connection counts")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=1, help="runs per step (median)")
    parser.add_argument("--soak", type=int, default=0, help="soak seconds after the steps")
    parser.add_argument("--soak-connections", type=int, default=0)
    parser.add_argument("--port", type=int, default=8870)
    parser.add_argument("--fsync", default="always", choices=["always", "everysec"])
    args = parser.parse_args()
    rng = random.Random(5)
    work = Path(tempfile.mkdtemp(prefix="netatlas-mixed-"))
    try:
        env = prepare(args.mode, work, args.stations, rng, args.fsync)
        url = f"http://127.0.0.1:{args.port}"
        lua = work / "mix.lua"
        with stack(args.mode, env, work, args.instances, args.port) as procs:
            wrk(url, lua, 5, 8)  # warm-up
            best: tuple[int, dict[str, float]] | None = None
            for conns in (int(c) for c in args.steps.split(",")):
                runs = []
                for _ in range(args.repeat):
                    cpu0, t0 = cpu_seconds(procs, work), time.monotonic()
                    result = wrk(url, lua, args.seconds, conns)
                    used = cores(cpu0, cpu_seconds(procs, work), time.monotonic() - t0)
                    result["cores"] = used.get("netatlas", 0.0)
                    result["stack"] = sum(used.values())
                    runs.append(result)
                r = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
                r["backlog"] = backlog(args.port)
                per_core = r["rps"] / r["stack"] if r["stack"] else 0.0
                print(
                    f"mode={args.mode} instances={args.instances} connections={conns} "
                    f"requests/s={r['rps']:.0f} p50={r['p50']:.1f}ms p99={r['p99']:.1f}ms "
                    f"errors={r['errors']:.0f} netatlas_cores={r['cores']:.2f} "
                    f"stack_cores={r['stack']:.2f} requests/core-s={per_core:.0f} "
                    f"backlog={r['backlog']:.0f}",
                    flush=True,
                )
                if (
                    r["p99"] <= P99_LIMIT_MS
                    and r["errors"] == 0
                    and (best is None or r["rps"] > best[1]["rps"])
                ):
                    best = (conns, r)
            if best is not None:
                print(
                    f"best: {best[1]['rps']:.0f} requests/s at {best[0]} connections "
                    f"(p99 {best[1]['p99']:.1f} ms, no errors)",
                    flush=True,
                )
            if args.soak:
                conns = args.soak_connections or (best[0] if best else 4)
                soak(url, lua, procs, args.soak, conns, args.port)
    finally:
        stop_redis(work)
        shutil.rmtree(work, ignore_errors=True)


def soak(
    url: str, lua: Path, procs: list[subprocess.Popen[bytes]], seconds: int, conns: int, port: int
) -> None:
    """Run the mix for ``seconds`` in 60 s slices, printing memory and latency per slice."""
    first = rss_mib(procs)
    print(f"soak: {seconds} s at {conns} connections; RSS MiB per process at start: "
          + " ".join(f"{v:.0f}" for v in first.values()), flush=True)  # fmt: skip
    left = seconds
    while left > 0:
        step = min(60, left)
        r = wrk(url, lua, step, conns)
        left -= step
        now = rss_mib(procs)
        print(
            f"  t={seconds - left:>4}s requests/s={r['rps']:.0f} p99={r['p99']:.1f}ms "
            f"errors={r['errors']:.0f} RSS MiB total={sum(now.values()):.0f} "
            f"max={max(now.values()):.0f} backlog={backlog(port):.0f}",
            flush=True,
        )
    last = rss_mib(procs)
    common = set(first) & set(last)
    drift = sum(last[p] - first[p] for p in common)
    print(f"soak: RSS drift over the run {drift:+.0f} MiB across {len(common)} processes")


if __name__ == "__main__":
    main()
