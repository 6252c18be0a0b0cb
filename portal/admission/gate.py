"""A bounded, fair line for the server's Argon2id work (the no-JavaScript path).

Each Argon2id derivation costs 64 MiB and about a quarter of a second of one core.
The gate lets at most `slots` run at once in this process (gunicorn runs one
process per worker, so the host runs workers x slots) and makes the others wait.

There are two lines, each first come first served: requests that carry a solved
proof of work (portal.admission.work) and requests that do not (Tor Browser at
"Safest" runs no JavaScript and cannot solve one). When both lines have someone
waiting, they take turns. Strict priority for proof of work would let anyone who
can solve puzzles at the gate's pace starve the reporters who cannot; taking turns
means a request without proof of work waits behind at most the requests ahead of
it in its own line and as many again from the other.

Nobody waits long and nothing is refused for hours: a request that would join a
line already `max_waiting` long, or that has waited `max_wait` seconds, gets
GateBusy at once, which the views turn into a "busy, try again in a minute" page
that keeps what the reporter typed.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class GateBusy(Exception):
    """The line is full, or the wait ran out: ask the reporter to try again shortly."""


class ArgonGate:
    def __init__(self, slots: int, max_waiting: int, max_wait: float, clock: Callable[[], float] = time.monotonic) -> None:
        if slots < 1 or max_waiting < 0 or max_wait <= 0:
            raise ValueError("gate: need slots >= 1, max_waiting >= 0, max_wait > 0")
        self.slots, self.max_waiting, self.max_wait = slots, max_waiting, max_wait
        self._clock = clock
        self._cond = threading.Condition()
        self._running = 0
        self._lines: dict[bool, deque[int]] = {True: deque(), False: deque()}  # with proof of work, without
        self._turn = False  # which line goes next when both have someone waiting
        self._tickets = itertools.count()
        self.admitted = 0  # counters, for tests and the benchmark
        self.refused = 0

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._lines[True]) + len(self._lines[False])

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    def _next_up(self) -> tuple[bool, int] | None:
        """(line, ticket) of the request whose turn it is, if any is waiting."""
        with_work, without = self._lines[True], self._lines[False]
        if with_work and without:
            line = self._turn
        elif with_work or without:
            line = bool(with_work)
        else:
            return None
        return line, self._lines[line][0]

    @contextmanager
    def admit(self, with_work: bool = False) -> Iterator[None]:
        """Hold one slot for the duration of the block, or raise GateBusy."""
        deadline = self._clock() + self.max_wait
        with self._cond:
            if self._running < self.slots and self._next_up() is None:
                self._running += 1
            else:
                line = self._lines[with_work]
                if len(line) >= self.max_waiting:
                    self.refused += 1
                    raise GateBusy
                ticket = next(self._tickets)
                line.append(ticket)
                while not (self._running < self.slots and self._next_up() == (with_work, ticket)):
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        line.remove(ticket)
                        self.refused += 1
                        self._cond.notify_all()  # whose turn it is may have changed
                        raise GateBusy
                    self._cond.wait(remaining)
                line.popleft()
                self._turn = not with_work  # the other line goes next, if anyone is in it
                self._running += 1
                self._cond.notify_all()  # a slot may still be free for the next in line
            self.admitted += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
