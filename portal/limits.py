"""Rate limits and one-time form tokens, in memory or in Redis.

Both use the `limits` library (the engine behind flask-limiter): per-process
memory by default, Redis when `redis_url` is set so that every worker process
and host shares the same counters. Limit keys never contain a client address
in clear: callers pass an HMAC of whatever they key on.
"""

from __future__ import annotations

import hmac
import time
from hashlib import sha256

from limits import parse, storage, strategies


class RateLimits:
    def __init__(self, redis_url: str | None, key_secret: bytes) -> None:
        uri = redis_url or "memory://"
        self.storage = storage.storage_from_string(uri)
        self.limiter = strategies.MovingWindowRateLimiter(self.storage)
        self._key_secret = key_secret

    def key(self, *parts: str) -> str:
        """An opaque key: HMAC of the parts, so Redis never holds an address or a login in clear."""
        return hmac.new(self._key_secret, "\x00".join(parts).encode(), sha256).hexdigest()[:32]

    def allowed(self, limit: str, name: str, key: str) -> bool:
        """True while under `limit` (does not count)."""
        return self.limiter.test(parse(limit), name, key)

    def hit(self, limit: str, name: str, key: str) -> bool:
        """Count one attempt; False if it is over the limit."""
        return self.limiter.hit(parse(limit), name, key)

    def reset(self) -> None:
        self.storage.reset()


class OneTimeNonces:
    """Remembers nonces until they expire, so a form token works once only."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis = None
        self._memory: dict[bytes, float] = {}
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)

    def first_use(self, nonce: bytes, ttl_seconds: int) -> bool:
        if self._redis is not None:
            return bool(self._redis.set(b"portal:nonce:" + nonce, b"1", nx=True, ex=max(1, ttl_seconds)))
        now = time.monotonic()
        if len(self._memory) > 10_000:
            self._memory = {n: t for n, t in self._memory.items() if t > now}
        if self._memory.get(nonce, 0) > now:
            return False
        self._memory[nonce] = now + ttl_seconds
        return True
