"""Fifty trickling uploads do not take the reporter site offline (issue #11, slow clients).

`portal serve reporter` (gunicorn with the shipped config/gunicorn.conf.py) on a free loopback
port against a temporary SQLite instance, directly and behind nginx with the shipped
config/nginx/reporter.conf (adapted to loopback and a self-signed certificate). Fifty connections
each announce a 10 MiB multipart POST to /report and send three bytes a second; meanwhile the
landing page must keep answering (every request well under a second: a functional bound, not a
benchmark; bench/slowloris_bench.py prints the figures), an honest no-JavaScript submission must
succeed, and every trickler must be cut off soon after the grace period (upload_grace,
config/defaults.toml). The server and load harness are bench/benchlib.py's.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import benchlib  # noqa: E402
from reporter_bench import Multipart, post_multipart, report_fields  # noqa: E402

from portal.config import load_settings  # noqa: E402

pytestmark = pytest.mark.slow

TRICKLERS = 50
LANDING_REQUESTS = 40
LANDING_BOUND = 1.0  # seconds, for each one
SETTINGS = load_settings({"instance_dir": str(ROOT / "instance")})
GRACE = float(SETTINGS.upload_grace)
NGINX_TIMEOUT = 15.0  # client_header_timeout and client_body_timeout in config/nginx/reporter.conf


@pytest.fixture(scope="module")
def reporter(tmp_path_factory):
    instance = tmp_path_factory.mktemp("slow-clients") / "instance"
    benchlib.init_instance(instance, None)
    server = benchlib.Gunicorn("reporter", instance, None, workers=2)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def _landing_page_under_load(port: int, tls: bool) -> list[float]:
    times = []
    for _ in range(LANDING_REQUESTS):
        status, seconds = benchlib.timed_get(port, "/", tls=tls, timeout=LANDING_BOUND * 3)
        assert status == 200, f"landing page answered {status} after {seconds:.2f} s"
        times.append(seconds)
        time.sleep(0.1)
    return times


def _honest_submission(port: int) -> None:
    status, page = benchlib.get(port, "/report", timeout=10)
    assert status == 200
    body = Multipart(report_fields(benchlib.csrf_from(page)), [("evidence", "note.txt", 200_000)])
    status, data, _, _ = post_multipart(port, "/report", body, b"evidence " * 8192, timeout=60)
    assert status == 200 and b"data-receipt-code" in data, data[:2000]


def _check_cut_off(tricklers: benchlib.Tricklers, earliest: float = GRACE - 1) -> None:
    deadline = time.monotonic() + GRACE + 20
    while tricklers.live() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert tricklers.live() == 0, f"{tricklers.live()} of {TRICKLERS} trickling uploads still open {GRACE + 20:.0f} s on"
    held = [end - opened for opened, end in zip(tricklers.opened, tricklers.ended, strict=True) if end is not None]
    # Not before the grace period (an honest slow start is allowed), and soon after it.
    assert min(held) >= earliest, held
    assert max(held) <= GRACE + 15, held


def test_fifty_trickling_uploads_leave_gunicorn_answering(reporter):
    tricklers = benchlib.Tricklers(reporter.port, TRICKLERS).start()
    try:
        time.sleep(2)  # every trickler has sent its headers and is in the middle of its body
        assert tricklers.live() == TRICKLERS
        times = _landing_page_under_load(reporter.port, tls=False)
        assert max(times) < LANDING_BOUND, sorted(times)[-5:]
        _honest_submission(reporter.port)
        _check_cut_off(tricklers)
        assert set(tricklers.status) == {408}, tricklers.status  # a short 408 page, never a 500
    finally:
        tricklers.stop()


@pytest.mark.skipif(not benchlib.NGINX.exists(), reason="nginx is not installed (/usr/sbin/nginx); .ci/run installs it")
def test_fifty_trickling_uploads_through_nginx_leave_the_site_answering(reporter, tmp_path):
    nginx = benchlib.Nginx(reporter.port, tmp_path / "nginx")
    try:
        tricklers = benchlib.Tricklers(nginx.https_port, TRICKLERS, tls=True).start()
        try:
            time.sleep(2)
            assert tricklers.live() == TRICKLERS
            times = _landing_page_under_load(nginx.https_port, tls=True)
            assert max(times) < LANDING_BOUND, sorted(times)[-5:]
            # Through nginx, whichever comes first ends them: the app's minimum rate after the
            # grace period, or nginx's own 15 s timeouts (seen with 50 TLS 1.3 tricklers at once).
            _check_cut_off(tricklers, earliest=NGINX_TIMEOUT - 1)
        finally:
            tricklers.stop()
        # nothing was spooled to nginx's temporary directories
        assert not any(p.is_file() for p in (tmp_path / "nginx" / "body").rglob("*"))
    finally:
        nginx.stop()
