"""Reviewer sign-in limits (flask-limiter, triage only) and one-time form tokens, in memory or in Redis.

The triage application gets its own `flask_limiter.Limiter` (`install_limiter`):
per-process memory by default, Redis when `redis_url` is set so that every
worker process shares the same counters. Moving window; no default or
application-wide limits; no X-RateLimit-* or Retry-After headers, which would
tell a prober how close it is. portal.triage.auth counts each sign-in attempt
on the way in with the strategy's atomic `hit`. The reporter application counts
nothing per address (portal.admission).

Limit keys never contain a client address or a login in clear: every key
function returns an HMAC under the application's secret (`opaque_key`), so that
is all Redis holds.
"""

from __future__ import annotations

import hmac
import threading
import time
from hashlib import sha256

from flask import Flask, request
from flask_limiter import Limiter

from portal import state


def install_limiter(app: Flask, redis_url: str | None, key_secret: bytes, prefix: str) -> Limiter:
    """Give `app` its own flask-limiter extension; keys are HMACs under `key_secret`."""
    limiter = Limiter(
        client_key,
        storage_uri=redis_url or "memory://",
        strategy="moving-window",
        headers_enabled=False,
        key_prefix=prefix,
        swallow_errors=False,  # Redis down: refuse (500) rather than let attempts through uncounted
    )
    limiter.init_app(app)
    state.LIMITER.install(app, limiter)
    state.LIMIT_KEY.install(app, key_secret)
    return limiter


def limiter() -> Limiter:
    """The current application's limiter."""
    return state.LIMITER.get()


def opaque_key(*parts: str) -> str:
    """An opaque key: HMAC of the parts, so Redis never holds an address or a login in clear."""
    secret = state.LIMIT_KEY.get()
    return hmac.new(secret, "\x00".join(parts).encode(), sha256).hexdigest()[:32]


def client_key() -> str:
    """The limiter's key function: an HMAC of the client's address, never the address."""
    return opaque_key("client", request.remote_addr or "")


class OneTimeNonces:
    """Remembers nonces until they expire, so a form token works once only."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis = None
        self._memory: dict[bytes, float] = {}
        self._lock = threading.Lock()  # gunicorn's threaded workers: check-and-set must be one step
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)

    def seen(self, nonce: bytes) -> bool:
        """Has `nonce` been used (and not yet expired)? Does not use it."""
        if self._redis is not None:
            return bool(self._redis.exists(b"portal:nonce:" + nonce))
        with self._lock:
            return self._memory.get(nonce, 0) > time.monotonic()

    def first_use(self, nonce: bytes, ttl_seconds: int) -> bool:
        if self._redis is not None:
            return bool(self._redis.set(b"portal:nonce:" + nonce, b"1", nx=True, ex=max(1, ttl_seconds)))
        now = time.monotonic()
        with self._lock:
            if len(self._memory) > 10_000:
                self._memory = {n: t for n, t in self._memory.items() if t > now}
            if self._memory.get(nonce, 0) > now:
                return False
            self._memory[nonce] = now + ttl_seconds
            return True
