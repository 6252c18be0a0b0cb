"""Proof of work: challenges whose difficulty follows the load, redeemed once each.

The load is the number of challenges redeemed portal-wide in the last minute:
the requests that did the work and reached the server's expensive side. Nothing
else moves the price. Requests that fail a cheap check cost the portal nothing,
so counting them would only let a flood of free junk raise the price every honest
browser pays (the flood benchmark showed exactly that: 300 empty posts a second
pushed an honest JavaScript round to 12 s). Counted this way, the only way to
raise the price is to pay it.

Difficulty (the puzzle's `max`, about twice the hashes an honest browser makes):

    rate <= idle_per_minute         floor              (a millisecond: nobody notices)
    rate  > idle_per_minute         floor * (rate / idle)^2, at most ceiling

With the defaults (floor 2,000, ceiling 2,000,000, idle 30/min) 17 redeemed
solutions a second reach the ceiling, which is about a million SHA-256 on
average: under a second on a laptop, one to three seconds on a mid-range phone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from portal.crypto import puzzle
from portal.crypto.puzzle import Challenge, PuzzleError
from portal.limits import OneTimeNonces

BUCKET_SECONDS = 10
PRICE_TOLERANCE = 4  # a solution is accepted at a quarter of the current price or more
WINDOW_BUCKETS = 6  # one minute


class LoadMeter:
    """Expensive requests in the last minute, shared through Redis when configured.

    Counts in 10-second buckets (one INCR per request, in Redis or in this
    process's memory); the rate is the sum of the last six buckets.
    """

    def __init__(self, redis_url: str | None, clock: Callable[[], float] = time.time, namespace: str = "reporter") -> None:
        self._clock = clock
        self._prefix = f"portal:load:{namespace}:"
        self._redis = None
        self._lock = threading.Lock()
        self._buckets: dict[int, int] = {}
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)

    def _bucket(self) -> int:
        return int(self._clock()) // BUCKET_SECONDS

    def record(self) -> None:
        bucket = self._bucket()
        if self._redis is not None:
            key = f"{self._prefix}{bucket}"
            pipe = self._redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, BUCKET_SECONDS * (WINDOW_BUCKETS + 1))
            pipe.execute()
            return
        with self._lock:
            self._buckets[bucket] = self._buckets.get(bucket, 0) + 1
            for old in [b for b in self._buckets if b <= bucket - WINDOW_BUCKETS]:
                del self._buckets[old]

    def per_minute(self) -> int:
        current = self._bucket()
        window = range(current - WINDOW_BUCKETS + 1, current + 1)
        if self._redis is not None:
            values = self._redis.mget([f"{self._prefix}{b}" for b in window])
            return sum(int(v) for v in values if v is not None)
        with self._lock:
            return sum(self._buckets.get(b, 0) for b in window)


def difficulty(rate_per_minute: int, floor: int, ceiling: int, idle_per_minute: int) -> int:
    """The puzzle's `max` for this load (see the module docstring)."""
    if rate_per_minute <= idle_per_minute:
        return floor
    return int(min(ceiling, floor * (rate_per_minute / idle_per_minute) ** 2))


class ProofOfWork:
    """Issues challenges and redeems solutions, each token once."""

    def __init__(self, key: bytes, nonces: OneTimeNonces, meter: LoadMeter, *, floor: int, ceiling: int,
                 idle_per_minute: int, lifetime: int, clock: Callable[[], float] = time.time) -> None:
        if not 1 <= floor <= ceiling <= puzzle.MAX_NUMBER_LIMIT:
            raise ValueError("pow difficulty: need 1 <= floor <= ceiling < 2**32")
        self._key = key
        self._nonces = nonces
        self.meter = meter
        self._floor, self._ceiling, self._idle = floor, ceiling, max(1, idle_per_minute)
        self.lifetime = lifetime
        self._clock = clock

    def current_max(self) -> int:
        return difficulty(self.meter.per_minute(), self._floor, self._ceiling, self._idle)

    def challenge(self, action: str) -> Challenge:
        return puzzle.issue(self._key, action, self.current_max(), int(self._clock()) + self.lifetime)

    def redeem(self, token: str | None, solution: str | None, action: str) -> bool:
        """True once for a correct, unexpired solution to a challenge issued here for `action`,
        at a price no lower than a quarter of today's.

        The price check stops challenges collected while the portal was quiet from being spent
        during a flood; the quarter leaves room for the price rising while an honest browser
        solves (a refused browser fetches a new challenge and solves once more).
        """
        if not token or solution is None:
            return False
        try:
            solved = puzzle.verify(self._key, token, solution, action, int(self._clock()))
        except PuzzleError:
            return False
        if solved.max_number < self.current_max() // PRICE_TOLERANCE:
            return False
        if not self._nonces.first_use(b"pow:" + solved.salt, self.lifetime + 1):
            return False
        self.meter.record()
        return True
