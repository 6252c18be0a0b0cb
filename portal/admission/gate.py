"""A bounded, fair line for the server's Argon2id work (the no-JavaScript path).

Each Argon2id derivation costs 64 MiB and about a quarter of a second of one core.
The gate lets at most `slots` run at once in this process (gunicorn runs one
process per worker, so the host runs workers x slots) and makes the others wait
in line, first come first served, except that requests carrying a solved proof of
work (portal.admission.work) go before those that do not.

Nobody waits long and nothing is refused for hours: a request that would join a
line already `max_waiting` long, or that has waited `max_wait` seconds, gets
GateBusy at once, which the views turn into a "busy, try again in a minute" page
that keeps what the reporter typed. Requests carrying proof of work may join a
line up to twice as long, since an attacker pays for each of them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
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
        self._line: list[tuple[int, int]] = []  # heap of (0 with proof of work / 1 without, arrival number)
        self._arrivals = itertools.count()
        self.admitted = 0  # counters, for tests and the benchmark
        self.refused = 0

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    def _full(self, with_work: bool) -> bool:
        limit = 2 * self.max_waiting if with_work else self.max_waiting
        return len(self._line) >= limit

    @contextmanager
    def admit(self, with_work: bool = False) -> Iterator[None]:
        """Hold one slot for the duration of the block, or raise GateBusy."""
        ticket = (0 if with_work else 1, next(self._arrivals))
        deadline = self._clock() + self.max_wait
        with self._cond:
            if self._running < self.slots and not self._line:
                self._running += 1
            else:
                if self._full(with_work):
                    self.refused += 1
                    raise GateBusy
                heapq.heappush(self._line, ticket)
                while not (self._line[0] == ticket and self._running < self.slots):
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        self._line.remove(ticket)
                        heapq.heapify(self._line)
                        self.refused += 1
                        self._cond.notify_all()  # the head of the line may have changed
                        raise GateBusy
                    self._cond.wait(remaining)
                heapq.heappop(self._line)
                self._running += 1
                self._cond.notify_all()  # a slot may still be free for the next in line
            self.admitted += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
