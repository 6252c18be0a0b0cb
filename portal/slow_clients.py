"""A minimum upload rate for request bodies (reporter interface; docs/operations.md, "Workers and timeouts").

gunicorn's threaded worker reads a request body with blocking reads, and one read
of 64 KiB returns only once 64 KiB have arrived: a client that announces a large
upload and then sends a few bytes a second holds a thread for as long as it likes.
nginx cannot help (it has no minimum rate, and with `proxy_request_buffering off`,
which keeps plaintext off its disk, it forwards the trickle as it comes). So every
request with a body gets two limits here:

* a per-read socket timeout (`upload_read_timeout`): a client that sends nothing
  at all for that long is cut off;
* a minimum average rate (`upload_min_rate` bytes per second), counted once the
  client has had `upload_grace` seconds: each read of the body is given a deadline
  by which it must have completed for the average to stay at or above the minimum,
  and a watchdog thread (one per process) shuts the connection's read side when a
  deadline passes, which ends the blocked read.

Only the time spent waiting for the client counts, not the time the application
spends between reads (encrypting, writing to the blob store). A client that is too
slow gets a short 408 page, and nothing about it is logged.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from werkzeug.exceptions import BadRequest, RequestTimeout
from werkzeug.wrappers import Response

from portal import web

READ_STEP = 64 * 1024  # how much read() without a size asks for at a time


@dataclass(frozen=True)
class UploadPace:
    """What a request body must keep up with."""

    read_timeout: float  # seconds without a single byte
    grace: float  # seconds of waiting for the client before the rate counts
    min_rate: int  # bytes per second, on average over the whole body, once past grace

    @classmethod
    def from_settings(cls, settings) -> UploadPace:  # noqa: ANN001
        return cls(float(settings.upload_read_timeout), float(settings.upload_grace), int(settings.upload_min_rate))


class TooSlow(RequestTimeout):
    """The client sent its request body too slowly (408); rendered by the app's error page."""


class Alarm:
    __slots__ = ("cancelled", "deadline", "expire")

    def __init__(self, deadline: float, expire: Callable[[], None]) -> None:
        self.deadline = deadline
        self.expire = expire
        self.cancelled = False


class Watchdog:
    """One daemon thread per process that calls an alarm's `expire` once its deadline passes.

    Started on first use in each process (gunicorn preloads the app in the master and
    forks: a thread started there would not exist in the workers).
    """

    _start_lock = threading.Lock()

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pid: int | None = None
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._seq = itertools.count()
        self._cancelled = 0

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._cond = threading.Condition()
            self._heap = []
            self._cancelled = 0
            threading.Thread(target=self._run, name="portal-upload-watchdog", daemon=True).start()
            self._pid = os.getpid()

    def arm(self, deadline: float, expire: Callable[[], None]) -> Alarm:
        self._ensure_thread()
        alarm = Alarm(deadline, expire)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), alarm))
            if self._heap[0][2] is alarm:
                self._cond.notify()
        return alarm

    def disarm(self, alarm: Alarm) -> None:
        """After this returns, the alarm's `expire` is not running and will not run."""
        with self._cond:
            if alarm.cancelled:
                return
            alarm.cancelled = True
            self._cancelled += 1
            if self._cancelled > 256 and self._cancelled * 2 > len(self._heap):
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def pending(self) -> int:
        with self._cond:
            return sum(1 for entry in self._heap if not entry[2].cancelled)

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)
                    self._cancelled = max(0, self._cancelled - 1)
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - self._clock()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                alarm = heapq.heappop(self._heap)[2]
                alarm.cancelled = True
                try:
                    alarm.expire()
                except Exception:  # noqa: S110 - a failed shutdown must not stop the watchdog
                    pass


WATCHDOG = Watchdog()


class PacedInput:
    """Wraps `wsgi.input`: each read must finish in time for the average rate to hold.

    `expire` is called (from the watchdog thread) when a read overruns its deadline; it
    must make the blocked read return (shut the socket's read side). `remaining` is the
    body's Content-Length, or None when it is chunked.
    """

    def __init__(self, stream, pace: UploadPace, remaining: int | None, expire: Callable[[], None] = lambda: None,
                 watchdog: Watchdog = WATCHDOG, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._pace = pace
        self._remaining = remaining
        self._expire = expire
        self._watchdog = watchdog
        self._clock = clock
        self.received = 0
        self.waited = 0.0  # seconds spent inside reads, i.e. waiting for the client
        self.tripped = False

    def allowed(self, want: int) -> float:
        """Seconds this read of `want` bytes may take: it must end at or before
        max(grace, (received + want) / min_rate) seconds of waiting."""
        target = (self.received + want) / self._pace.min_rate if self._pace.min_rate > 0 else float("inf")
        return max(self._pace.grace, target) - self.waited

    def _trip(self) -> None:
        self.tripped = True
        self._expire()

    def _timed(self, read: Callable[[int], bytes], size: int) -> bytes:
        if self.tripped:
            raise TooSlow()
        want = size if self._remaining is None else min(size, self._remaining)
        if want <= 0:
            return b""
        allowed = self.allowed(want)
        start = self._clock()
        alarm = self._watchdog.arm(start + allowed, self._trip) if allowed != float("inf") else None
        took = 0.0
        try:
            data = read(want)
        except TimeoutError:  # the socket timeout: nothing at all for read_timeout seconds
            self.tripped = True
            raise TooSlow() from None
        except Exception as exc:
            if isinstance(exc, OSError) and self.tripped:
                raise TooSlow() from None
            # gunicorn's own parse errors (a malformed chunked body, one cut short) are not HTTP
            # errors, so they would surface as a 500: the client sent something unreadable.
            if type(exc).__module__.startswith("gunicorn.http"):
                raise BadRequest("the request body could not be read") from None
            raise
        finally:
            if alarm is not None:
                self._watchdog.disarm(alarm)
            took = self._clock() - start
            self.waited += took
        if self.tripped or took > allowed:  # shut by the watchdog, or finished late all the same
            self.tripped = True
            raise TooSlow()
        self.received += len(data)
        if self._remaining is not None:
            self._remaining = max(0, self._remaining - len(data))
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size >= 0:
            return self._timed(self._stream.read, size)
        parts = []
        while chunk := self._timed(self._stream.read, READ_STEP):
            parts.append(chunk)
        return b"".join(parts)

    def readline(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self._timed(lambda _: self._stream.readline(), READ_STEP)
        return self._timed(self._stream.readline, size)

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines, total = [], 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        while line := self.readline():
            yield line


def _has_body(environ) -> bool:  # noqa: ANN001
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return True
    try:
        return int(environ.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return False


def _content_length(environ) -> int | None:  # noqa: ANN001
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


TOO_SLOW_PAGE = (
    b"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>The connection was too slow</title></head>"
    b"<body><h1>The connection was too slow</h1><p>What you sent did not arrive fast enough and was not kept. "
    b"Go back and send it again.</p></body></html>\n"
)


class PacedUploads:
    """WSGI middleware: every request with a body reads it through a PacedInput.

    The app sees TooSlow from its read and renders its own 408 page; should it turn
    the error into something else, the response is replaced by a plain 408 here.
    """

    def __init__(self, app, pace: UploadPace, finish: Callable[[Response], Response] = lambda r: r,
                 watchdog: Watchdog = WATCHDOG) -> None:
        self.app = app
        self.pace = pace
        self.finish = finish  # adds the security headers to the fallback page
        self.watchdog = watchdog

    def __call__(self, environ, start_response) -> Iterable[bytes]:  # noqa: ANN001
        if not _has_body(environ):
            return self.app(environ, start_response)
        sock = environ.get("gunicorn.socket")
        previous_timeout = None
        expire: Callable[[], None] = lambda: None  # noqa: E731
        if isinstance(sock, socket.socket):
            previous_timeout = sock.gettimeout()
            sock.settimeout(self.pace.read_timeout)

            def expire() -> None:
                try:
                    sock.shutdown(socket.SHUT_RD)  # the blocked recv() returns at once
                except OSError:
                    pass

        paced = PacedInput(environ["wsgi.input"], self.pace, _content_length(environ), expire, self.watchdog)
        environ["wsgi.input"] = paced
        captured: list = []

        def capture(status, headers, exc_info=None):  # noqa: ANN001
            captured[:] = [status, headers, exc_info]
            return lambda data: None  # Flask never uses write()

        try:
            body = self.app(environ, capture)
        finally:
            if isinstance(sock, socket.socket):
                try:
                    sock.settimeout(previous_timeout)
                except OSError:
                    pass
        if paced.tripped and not (captured and str(captured[0]).startswith("408")):
            if hasattr(body, "close"):
                body.close()
            response = self.finish(Response(TOO_SLOW_PAGE, status=408, mimetype="text/html"))
            return response(environ, start_response)
        start_response(*captured)
        return body


def install_upload_pace(app, settings) -> None:  # noqa: ANN001
    """Put PacedUploads around a Flask app's WSGI callable (the reporter interface)."""
    csp = web.CSP_REPORTER
    app.wsgi_app = PacedUploads(app.wsgi_app, UploadPace.from_settings(settings), lambda r: web.security_headers(r, csp))
