"""Landing page latency with and without 50 trickling uploads (issue #11, slow clients).

`portal serve reporter` (gunicorn with config/gunicorn.conf.py) on a temporary SQLite instance;
through nginx as well (config/nginx/reporter.conf adapted to loopback and a self-signed
certificate) when /usr/sbin/nginx exists. For each path: GET / sequentially, each on a new
connection, first with no other traffic, then while `--tricklers` connections (default 50) each
announce a 10 MiB multipart POST to /report and send three bytes a second. The measurement
window stays inside upload_grace (20 s), so every trickler holds its thread throughout.

    .venv/bin/python bench/slowloris_bench.py [--requests 150] [--tricklers 50] [--threads N]

Prints figures, not a verdict (tests/web/test_slow_clients.py is the test).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402


def landing(port: int, tls: bool, requests: int, spacing: float) -> tuple[benchlib.Summary, int]:
    times, failed = [], 0
    for _ in range(requests):
        status, seconds = benchlib.timed_get(port, "/", tls=tls, timeout=10)
        if status == 200:
            times.append(seconds)
        else:
            failed += 1
        time.sleep(spacing)
    return benchlib.Summary.of(times), failed


def measure(label: str, port: int, tls: bool, args) -> list[str]:
    rows = []
    for _ in range(5):  # warm up: templates compiled, connections in every worker
        benchlib.timed_get(port, "/", tls=tls)
    quiet, failed = landing(port, tls, args.requests, args.spacing)
    rows.append(f"{label:<26} {'no other traffic':<26} {benchlib.ms(quiet.median):>10} {benchlib.ms(quiet.p95):>10} "
                f"{benchlib.ms(quiet.maximum):>10} {quiet.n:>5} {failed:>6}")
    tricklers = benchlib.Tricklers(port, args.tricklers, tls=tls).start()
    try:
        time.sleep(2)
        started_live = tricklers.live()
        loaded, failed = landing(port, tls, args.requests, args.spacing)
        still_live = tricklers.live()
        load = os.getloadavg()[0]
    finally:
        tricklers.stop()
    rows.append(f"{label:<26} {f'{args.tricklers} trickling uploads':<26} {benchlib.ms(loaded.median):>10} "
                f"{benchlib.ms(loaded.p95):>10} {benchlib.ms(loaded.maximum):>10} {loaded.n:>5} {failed:>6}"
                f"   (tricklers open: {started_live} before, {still_live} after; load average {load:.2f})")
    benchlib.log(f"{label}: waiting for the server to cut the tricklers")
    time.sleep(float(args.grace) + 5)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=150, help="GET / per measurement (default 150)")
    parser.add_argument("--spacing", type=float, default=0.05, help="seconds between two GETs (default 0.05)")
    parser.add_argument("--tricklers", type=int, default=50)
    parser.add_argument("--threads", type=int, default=None, help="PORTAL_THREADS (default: config/gunicorn.conf.py's)")
    parser.add_argument("--grace", type=int, default=20, help="upload_grace for the server (default 20, the shipped value)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance")
    args = parser.parse_args()

    print(f"Machine: {benchlib.machine_line()}")
    workdir = Path(tempfile.mkdtemp(prefix="slowloris-bench-"))
    instance = workdir / "instance"
    benchlib.log("portal init ...")
    benchlib.init_instance(instance, None)
    extra = {"PORTAL_UPLOAD_GRACE": str(args.grace)}
    if args.threads:
        extra["PORTAL_THREADS"] = str(args.threads)
    server = benchlib.Gunicorn("reporter", instance, None, workers=2, extra_env=extra)
    nginx = None
    rows = []
    try:
        server.wait_ready()
        threads = args.threads or "default"
        print(f"gunicorn: 2 workers, threads {threads}; SQLite; GET / sequential, one connection each, "
              f"{args.spacing * 1000:.0f} ms apart")
        rows += measure("gunicorn direct", server.port, False, args)
        if benchlib.NGINX.exists():
            nginx = benchlib.Nginx(server.port, workdir / "nginx")
            rows += measure("nginx (HTTPS) -> gunicorn", nginx.https_port, True, args)
        else:
            rows.append("nginx: not installed (/usr/sbin/nginx), skipped")
    finally:
        if nginx is not None:
            nginx.stop()
        server.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{'path':<26} {'meanwhile':<26} {'median':>10} {'p95':>10} {'max':>10} {'n':>5} {'failed':>6}")
    for row in rows:
        print(row)
    print(f"Load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
