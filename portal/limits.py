"""Rate limits (flask-limiter) and one-time form tokens, in memory or in Redis.

Each application gets its own `flask_limiter.Limiter` (`install_limiter`):
per-process memory by default, Redis when `redis_url` is set so that every
worker process and host shares the same counters. Moving window; no default or
application-wide limits (a view states its limits where it uses them); no
X-RateLimit-* or Retry-After headers, which would tell a prober how close it is.

Limit keys never contain a client address or a login in clear: every key
function returns an HMAC under the application's secret (`opaque_key`), so that
is all Redis holds and all flask-limiter's "ratelimit ... exceeded" log line
shows.

Two kinds of limit, both checked through `limiter().shared_limit(...)` inside
the view (flask-limiter checks a limit as its `with` block is entered and
raises `RateLimitExceeded`, a 429):

* every request counts (report submissions): a plain limit;
* only failures count (wrong receipt codes, failed reviewer sign-ins): the
  limit is tested on entry and, with `deduct_when=failed_attempt`, counted as
  the response goes out only if the view called `mark_failed_attempt()`.

flask-limiter registers a limit used as a context manager under the source line
that uses it: give each limit its own `with` line, and key functions that read
the current request (never a closure over one request's values).
"""

from __future__ import annotations

import hmac
import threading
import time
from hashlib import sha256

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter

_LIMITER = "portal.limiter"
_HMAC_KEY = "portal.limit_hmac_key"
_FAILED = "portal.failed_attempt"  # in the WSGI environ: one request's state, whatever the app context


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
    app.extensions[_LIMITER] = limiter
    app.extensions[_HMAC_KEY] = key_secret
    return limiter


def limiter() -> Limiter:
    """The current application's limiter."""
    return current_app.extensions[_LIMITER]


def opaque_key(*parts: str) -> str:
    """An opaque key: HMAC of the parts, so Redis never holds an address or a login in clear."""
    secret = current_app.extensions[_HMAC_KEY]
    return hmac.new(secret, "\x00".join(parts).encode(), sha256).hexdigest()[:32]


def client_key() -> str:
    """The limiter's key function: an HMAC of the client's address, never the address."""
    return opaque_key("client", request.remote_addr or "")


def mark_failed_attempt() -> None:
    """Count this request against the failures-only limits checked during it."""
    request.environ[_FAILED] = True


def failed_attempt(_response: Response) -> bool:
    """`deduct_when` for failures-only limits: did the view call mark_failed_attempt()?"""
    return bool(request.environ.get(_FAILED))


class OneTimeNonces:
    """Remembers nonces until they expire, so a form token works once only."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis = None
        self._memory: dict[bytes, float] = {}
        self._lock = threading.Lock()  # gunicorn's threaded workers: check-and-set must be one step
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)

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
