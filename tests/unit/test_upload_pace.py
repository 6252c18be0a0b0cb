"""The minimum upload rate (portal/slow_clients.py) with a fake clock, a fake stream and a fake watchdog."""

from __future__ import annotations

import io
import socket
import threading
import time

import pytest
from flask import Flask, request

from portal.slow_clients import PacedInput, PacedUploads, TooSlow, UploadPace, Watchdog

PACE = UploadPace(read_timeout=20, grace=20, min_rate=8192)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Alarms:
    """Records each read's deadline; fires nothing (the guard's own check after the read must catch an overrun)."""

    def __init__(self) -> None:
        self.armed: list[float] = []
        self.live = 0

    def arm(self, deadline, expire):
        self.armed.append(deadline)
        self.live += 1
        return deadline

    def disarm(self, alarm) -> None:
        self.live -= 1


class Trickle:
    """A body that arrives at `rate` bytes per second (advancing the fake clock), after an optional stall."""

    def __init__(self, clock: Clock, size: int, rate: float, stall: float = 0.0) -> None:
        self.clock, self.left, self.rate, self.stall = clock, size, rate, stall

    def read(self, n: int) -> bytes:
        n = min(n, self.left)
        self.clock.now += self.stall + n / self.rate
        self.stall = 0.0
        self.left -= n
        return b"x" * n

    def readline(self, n: int = -1) -> bytes:
        return self.read(n if n >= 0 else 64 * 1024)


def paced(clock: Clock, body, length: int | None, pace: UploadPace = PACE):
    alarms = Alarms()
    return PacedInput(body, pace, length, watchdog=alarms, clock=clock), alarms


def read_all(stream) -> int:
    total = 0
    while chunk := stream.read(64 * 1024):
        total += len(chunk)
    return total


def test_a_fast_upload_passes_and_every_read_is_disarmed():
    clock = Clock()
    stream, alarms = paced(clock, Trickle(clock, 10_000_000, rate=1_000_000), 10_000_000)
    assert read_all(stream) == 10_000_000
    assert not stream.tripped and alarms.live == 0 and len(alarms.armed) == 153


def test_a_trickler_is_cut_once_the_grace_period_is_over():
    clock = Clock()
    stream, _ = paced(clock, Trickle(clock, 10_000_000, rate=5), 10_000_000)
    with pytest.raises(TooSlow):
        stream.read(64 * 1024)
    assert stream.tripped
    with pytest.raises(TooSlow):  # and stays cut
        stream.read(1)


def test_the_first_deadline_is_the_grace_period_then_the_average_rate():
    clock = Clock()
    stream, alarms = paced(clock, Trickle(clock, 1_000_000, rate=100_000), 1_000_000)
    stream.read(65536)
    assert alarms.armed[0] - 1000.0 == pytest.approx(20.0)  # max(grace, 64 KiB / 8 KiB/s = 8 s)
    for _ in range(5):
        stream.read(65536)
    # 6 * 64 KiB have arrived after 3.9 s of waiting; the next read must end by 7 * 64 KiB / 8 KiB/s = 56 s
    start = clock.now
    stream.read(65536)
    assert alarms.armed[-1] - start == pytest.approx(56.0 - 6 * 65536 / 100_000)


def test_a_slow_but_honest_upload_just_above_the_minimum_succeeds():
    clock = Clock()
    size = 2_000_000
    stream, _ = paced(clock, Trickle(clock, size, rate=8192 * 1.05), size)
    assert read_all(stream) == size and stream.waited > 200


def test_an_upload_just_below_the_minimum_is_cut():
    clock = Clock()
    size = 2_000_000
    stream, _ = paced(clock, Trickle(clock, size, rate=8192 * 0.9), size)
    with pytest.raises(TooSlow):
        read_all(stream)
    assert stream.received < size


def test_a_short_form_at_any_working_rate_finishes_inside_the_grace_period():
    clock = Clock()
    stream, _ = paced(clock, Trickle(clock, 30_000, rate=2000), 30_000)
    assert read_all(stream) == 30_000 and stream.waited == pytest.approx(15.0)


def test_a_stall_early_on_is_forgiven_if_the_average_recovers():
    clock = Clock()
    size = 5_000_000
    stream, _ = paced(clock, Trickle(clock, size, rate=200_000, stall=12.0), size)
    assert read_all(stream) == size


def test_time_the_application_spends_between_reads_does_not_count():
    clock = Clock()
    size = 1_000_000
    stream, _ = paced(clock, Trickle(clock, size, rate=50_000), size)
    while chunk := stream.read(65536):
        clock.now += 30.0 * len(chunk) / 65536  # e.g. waiting for the blob store
    assert stream.received == size and stream.waited == pytest.approx(20.0)


def test_reads_never_ask_beyond_the_content_length():
    clock = Clock()
    body = Trickle(clock, 100, rate=1000)
    stream, alarms = paced(clock, body, 100)
    assert stream.read(65536) == b"x" * 100
    assert stream.read(65536) == b"" and len(alarms.armed) == 1  # the end of the body costs no wait


def test_read_everything_and_readline_are_paced_too():
    clock = Clock()
    stream, _ = paced(clock, Trickle(clock, 300_000, rate=1_000_000), None)
    assert len(stream.read()) == 300_000
    clock2 = Clock()
    slow, _ = paced(clock2, Trickle(clock2, 300_000, rate=3), None)
    with pytest.raises(TooSlow):
        slow.readline()


def test_a_socket_timeout_is_a_408_and_other_errors_pass_through():
    class Silent:
        def read(self, n):
            raise TimeoutError("timed out")

    class Broken:
        def read(self, n):
            raise ConnectionResetError()

    clock = Clock()
    silent, _ = paced(clock, Silent(), 1000)
    with pytest.raises(TooSlow):
        silent.read(10)
    broken, _ = paced(clock, Broken(), 1000)
    with pytest.raises(ConnectionResetError):
        broken.read(10)
    assert not broken.tripped


def test_a_malformed_chunked_body_is_a_400_not_a_500():
    """Red-team finding: `Transfer-Encoding: chunked` with an invalid chunk size made gunicorn's
    InvalidChunkSize escape the view as a 500."""
    from gunicorn.http.errors import InvalidChunkSize, NoMoreData
    from werkzeug.exceptions import BadRequest

    for error in (InvalidChunkSize(b"zz"), NoMoreData(b"")):
        class Garbled:
            def read(self, n, error=error):
                raise error

        stream, _ = paced(Clock(), Garbled(), None)
        with pytest.raises(BadRequest):
            stream.read(10)
    with pytest.raises(ValueError):  # anything else is still a bug to see, not a client's fault
        class Buggy:
            def read(self, n):
                raise ValueError("ours")

        paced(Clock(), Buggy(), None)[0].read(10)


def test_the_watchdog_fires_late_reads_only():
    dog = Watchdog()
    fired = []
    early = dog.arm(time.monotonic() + 0.05, lambda: fired.append("late read"))
    kept = dog.arm(time.monotonic() + 0.05, lambda: fired.append("finished in time"))
    dog.disarm(kept)
    time.sleep(0.3)
    assert fired == ["late read"] and early.cancelled and dog.pending() == 0


def test_the_watchdog_ends_a_blocked_socket_read():
    """The real thing: a read blocked in recv() returns once its deadline passes, and the guard says 408."""
    server, client = socket.socketpair()
    try:
        client.sendall(b"abc")  # a few bytes, then nothing: a read of 64 KiB would block for ever

        class Body:  # like gunicorn's: keeps calling recv() until it has n bytes or the stream ends
            def read(self, n):
                got = bytearray()
                while len(got) < n and (chunk := server.recv(n - len(got))):
                    got += chunk
                return bytes(got)

        pace = UploadPace(read_timeout=5, grace=0.2, min_rate=1_000_000)
        stream = PacedInput(Body(), pace, 10_000_000, expire=lambda: server.shutdown(socket.SHUT_RD))
        started = time.monotonic()
        with pytest.raises(TooSlow):
            stream.read(65536)
        assert time.monotonic() - started < 2.0
    finally:
        server.close()
        client.close()


def _app() -> Flask:
    app = Flask(__name__)

    @app.post("/form")
    def form():
        return {"n": len(request.form.get("text", ""))}

    @app.post("/stream")
    def stream():
        total = 0
        while chunk := request.stream.read(65536):
            total += len(chunk)
        return {"n": total}

    @app.post("/swallow")
    def swallow():
        try:
            request.stream.read(65536)
        except Exception:  # an app that turns the error into its own answer
            return "oops", 500
        return "read"

    return app


@pytest.mark.parametrize("path", ["/form", "/stream"])
def test_the_middleware_passes_ordinary_bodies(path):
    app = _app()
    app.wsgi_app = PacedUploads(app.wsgi_app, PACE)
    response = app.test_client().post(path, data={"text": "y" * 5000})
    assert response.status_code == 200 and response.json["n"] > 0


class SlowInput(io.BytesIO):
    """A client that announced a body and sends nothing: each read ends in the socket timeout."""

    def read(self, n=-1):
        raise TimeoutError("timed out")


@pytest.mark.parametrize("path", ["/form", "/stream", "/swallow"])
def test_a_too_slow_body_is_always_a_short_408(path):
    app = _app()
    marked = []

    def finish(response):
        marked.append(True)
        response.headers["X-Finished"] = "1"
        return response

    app.wsgi_app = PacedUploads(app.wsgi_app, PACE, finish)
    response = app.test_client().post(path, input_stream=SlowInput(b"x" * 100), content_type="application/x-www-form-urlencoded",
                                      content_length=10_000_000)
    assert response.status_code == 408
    assert b"Traceback" not in response.data
    if path == "/swallow":  # the app answered 500: replaced by the middleware's page, with its headers
        assert marked and response.headers["X-Finished"] == "1" and b"too slow" in response.data


def test_requests_without_a_body_are_left_alone():
    app = Flask(__name__)
    seen = []

    @app.get("/")
    def index():
        seen.append(type(request.environ["wsgi.input"]).__name__)
        return "ok"

    app.wsgi_app = PacedUploads(app.wsgi_app, PACE)
    assert app.test_client().get("/").status_code == 200
    assert seen != ["PacedInput"]


def test_the_reporter_app_serves_a_408_page_for_a_slow_upload(reporter_app):
    response = reporter_app.test_client().post("/report", input_stream=SlowInput(b"x" * 100), content_type="multipart/form-data; boundary=x",
                                               content_length=10_000_000)
    assert response.status_code == 408
    assert b"The connection was too slow" in response.data
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_watchdog_starts_a_thread_per_process_once():
    dog = Watchdog()
    before = threading.active_count()
    for _ in range(3):
        dog.disarm(dog.arm(time.monotonic() + 10, lambda: None))
    assert threading.active_count() == before + 1
