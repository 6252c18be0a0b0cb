"""Rate limits and one-time form tokens: per process in memory, shared through Redis."""

from __future__ import annotations

import os
import time

import pytest

from portal.forms import FormTokens
from portal.limits import OneTimeNonces, RateLimits

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
        return True
    except Exception:
        return False


BACKENDS = ["memory"] + (["redis"] if _redis_available() else [])


@pytest.fixture(params=BACKENDS)
def redis_url(request):
    if request.param == "memory":
        return None
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


def test_limit_counts_and_refuses(redis_url):
    limits = RateLimits(redis_url, b"k" * 32)
    key = limits.key("client", "203.0.113.9")
    assert "203.0.113.9" not in key
    results = [limits.hit("3 per minute", "receipt", key) for _ in range(4)]
    assert results == [True, True, True, False]
    assert not limits.allowed("3 per minute", "receipt", key)
    assert limits.allowed("3 per minute", "receipt", limits.key("client", "198.51.100.1"))


def test_two_processes_share_limits_through_redis():
    if "redis" not in BACKENDS:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is expected at {REDIS_URL} in CI")
        pytest.skip(f"no Redis at {REDIS_URL}")
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    worker_a, worker_b = RateLimits(REDIS_URL, b"k" * 32), RateLimits(REDIS_URL, b"k" * 32)
    key = worker_a.key("account", "lead")
    assert worker_a.hit("2 per minute", "login", key) and worker_b.hit("2 per minute", "login", key)
    assert not worker_a.hit("2 per minute", "login", key)
    assert not worker_b.allowed("2 per minute", "login", key)
    # One-time form tokens: a token used on one worker is refused on the other.
    token_a = FormTokens(b"f" * 32, OneTimeNonces(REDIS_URL), 60)
    token_b = FormTokens(b"f" * 32, OneTimeNonces(REDIS_URL), 60)
    token = token_a.issue()
    assert token_b.consume(token)
    assert not token_a.consume(token)


def test_form_tokens_single_use_signed_and_expiring(redis_url):
    tokens = FormTokens(b"f" * 32, OneTimeNonces(redis_url), 60)
    token = tokens.issue()
    assert tokens.consume(token) and not tokens.consume(token)
    forged = tokens.issue()
    raw = bytearray(forged.encode())
    raw[5] = ord("A") if raw[5] != ord("A") else ord("B")
    assert not tokens.consume(raw.decode())
    other_key = FormTokens(b"g" * 32, OneTimeNonces(redis_url), 60)
    assert not other_key.consume(tokens.issue())
    short = FormTokens(b"f" * 32, OneTimeNonces(redis_url), 1)
    expiring = short.issue()
    time.sleep(2.1)
    assert not short.consume(expiring)
    for junk in ("", "x" * 500, "not base64!!", None):
        assert not tokens.consume(junk)
