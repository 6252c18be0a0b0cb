"""Rate limits (flask-limiter, on the triage app only: the reporter app counts nothing per
address, see portal.admission) and one-time form tokens: per process in memory, shared
through Redis between worker processes and hosts.

The Redis tests run against PORTAL_TEST_REDIS_URL (default redis://127.0.0.1:6379/15) and skip,
with the reason, where it does not answer (in CI they fail instead). They never flush it: every
test's limit keys are HMACs under the fresh secrets of its own instance directory, and nonces are
random, so tests (and other people's runs) cannot see each other's counters.
"""

from __future__ import annotations

import logging
import os
import re
import time

import pytest
from flask_limiter import Limiter
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from support import csrf_from, submit_report
from triage_support import enter_passphrase, sign_in_reviewer

from portal import web
from portal.crypto.receipt import generate_receipt_code
from portal.forms import FormTokens
from portal.limits import OneTimeNonces, client_key, opaque_key

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_unavailable() -> str | None:
    """Why Redis cannot be used here, or None when it answers."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
        return None
    except Exception as exc:
        return f"no Redis at {REDIS_URL} ({type(exc).__name__}); set PORTAL_TEST_REDIS_URL to test shared limits"


REDIS_UNAVAILABLE = _redis_unavailable()
BACKENDS = ["memory"] + ([] if REDIS_UNAVAILABLE else ["redis"])


def require_redis() -> None:
    if REDIS_UNAVAILABLE:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is expected in CI: {REDIS_UNAVAILABLE}")
        pytest.skip(REDIS_UNAVAILABLE)


@pytest.fixture(params=BACKENDS)
def redis_url(request) -> str:
    return "" if request.param == "memory" else REDIS_URL


@pytest.fixture
def build(app_of_kind, lead, recovery_key):
    """Apps on one instance directory (same secrets, same database): each one stands for a
    separate worker process."""
    return app_of_kind


def _sign_in(client, code: str, address: str = "127.0.0.1"):
    environ = {"REMOTE_ADDR": address}
    token = csrf_from(client.get("/follow-up", environ_base=environ).data)
    return client.post("/follow-up", data={"csrf_token": token, "receipt_code": code}, environ_base=environ)


def _submit(client, what_happened: str = "x"):
    token = csrf_from(client.get("/report").data)
    return client.post("/report", data={"csrf_token": token, "draft": "", "what_happened": what_happened},
                       content_type="multipart/form-data")


def _no_limit_headers(response) -> None:
    leaked = [k for k in response.headers.keys() if k.lower().startswith(("x-ratelimit", "ratelimit", "retry-after"))]
    assert leaked == [], leaked


# -- wiring -----------------------------------------------------------------------------------


def test_the_triage_app_has_its_own_flask_limiter_and_the_reporter_app_none(build, redis_url):
    reporter, triage = build("reporter", redis_url=redis_url), build("triage", redis_url=redis_url)
    assert "portal.limiter" not in reporter.extensions and "limiter" not in reporter.extensions
    limiter = triage.extensions["portal.limiter"]
    assert isinstance(limiter, Limiter)
    assert triage.extensions["limiter"] == {limiter}  # flask-limiter's own registry: this one only
    assert isinstance(limiter.limiter, MovingWindowRateLimiter)
    assert isinstance(limiter.storage, RedisStorage if redis_url else MemoryStorage)
    assert limiter.limit_manager.default_limits == [] and limiter.limit_manager.application_limits == []
    assert limiter._headers_enabled is False
    # A second worker gets a limiter of its own too (sharing counters only through the storage).
    assert build("triage", redis_url=redis_url).extensions["portal.limiter"] is not limiter


def test_limit_keys_are_hmacs_never_addresses_or_logins(build):
    app = build("triage")
    keys = set()
    if app:
        for address in ("203.0.113.9", "198.51.100.1"):
            with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
                key = client_key()
                assert re.fullmatch(r"[0-9a-f]{32}", key) and address not in key
                keys.add(key)
                login_key = opaque_key("account", "lead")
                assert re.fullmatch(r"[0-9a-f]{32}", login_key) and "lead" not in login_key
    assert len(keys) == 2  # one per address


# -- behaviour the user sees ------------------------------------------------------------------


def test_over_limit_answers_carry_no_limit_headers_and_keep_the_security_headers(build, lead):
    triage = build("triage", login_free_attempts=1)
    client = triage.test_client()
    response = enter_passphrase(client, lead.login, "wrong-guess")
    assert response.status_code == 400
    _no_limit_headers(response)
    response = enter_passphrase(client, lead.login, lead.passphrase)
    assert response.status_code == 429
    _no_limit_headers(response)
    assert response.headers["Content-Security-Policy"] == web.CSP_TRIAGE


def test_the_reporter_app_never_answers_429(build):
    """No per-address limit on the reporter side: 100 wrong codes and 100 empty reports from one
    address (everyone, behind Tor) are answered one by one, and then the right code works."""
    app = build("reporter")
    client = app.test_client()
    code = submit_report(client)
    for _ in range(100):
        assert _sign_in(client, generate_receipt_code()).status_code == 400
        assert _submit(client, what_happened="").status_code == 400
    assert _sign_in(client, code).status_code == 302


def test_a_complete_sign_in_forgives_the_attempts_counted_before_it(build, lead):
    """Every attempt counts on the way in (passphrase and code steps alike); a complete sign-in clears them."""
    app = build("triage", login_free_attempts=3)
    client = app.test_client()
    assert enter_passphrase(client, lead.login, "wrong-guess").status_code == 400  # 1
    sign_in_reviewer(client, lead)  # 2 and 3, then forgiven (asserts success)
    for expected in (400, 400, 400, 429):
        assert enter_passphrase(app.test_client(), lead.login, "wrong-guess").status_code == expected


def test_sign_in_attempts_never_log_the_address(build, lead, caplog):
    app = build("triage", login_free_attempts=1)
    address = "203.0.113.77"
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    for expected in (400, 429):
        token = csrf_from(client.get("/login", environ_base={"REMOTE_ADDR": address}).data)
        response = client.post("/login", data={"csrf_token": token, "login": lead.login, "passphrase": "wrong-guess"},
                               environ_base={"REMOTE_ADDR": address})
        assert response.status_code == expected
    for record in caplog.records:
        assert address not in record.getMessage() and address not in repr(vars(record)), record


# -- shared between workers -------------------------------------------------------------------


def test_without_redis_each_worker_counts_alone(build, lead):
    worker_a, worker_b = (build("triage", login_free_attempts=1) for _ in range(2))
    assert enter_passphrase(worker_a.test_client(), lead.login, "wrong-guess").status_code == 400
    assert enter_passphrase(worker_a.test_client(), lead.login, "wrong-guess").status_code == 429
    assert enter_passphrase(worker_b.test_client(), lead.login, "wrong-guess").status_code == 400  # its own memory


def test_two_workers_share_reviewer_sign_in_failures_through_redis(build, lead, make_reviewer):
    require_redis()
    other = make_reviewer("other", "reviewer")
    worker_a, worker_b = (build("triage", redis_url=REDIS_URL, login_free_attempts=3) for _ in range(2))
    for worker in (worker_a, worker_b, worker_a):
        assert enter_passphrase(worker.test_client(), lead.login, "wrong-guess").status_code == 400
    assert enter_passphrase(worker_b.test_client(), lead.login, lead.passphrase).status_code == 429
    assert enter_passphrase(worker_a.test_client(), lead.login, lead.passphrase).status_code == 429
    # per account: another account from another address is unaffected
    client = worker_b.test_client()
    token = csrf_from(client.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.99"}).data)
    response = client.post("/login", data={"csrf_token": token, "login": other.login, "passphrase": other.passphrase},
                           environ_base={"REMOTE_ADDR": "10.0.0.99"})
    assert response.status_code == 302


def test_two_workers_share_form_token_nonces_through_redis():
    require_redis()
    token_a = FormTokens(b"f" * 32, OneTimeNonces(REDIS_URL), 60)
    token_b = FormTokens(b"f" * 32, OneTimeNonces(REDIS_URL), 60)
    token = token_a.issue()
    assert token_b.consume(token)
    assert not token_a.consume(token)


# -- one-time form tokens ---------------------------------------------------------------------


def test_form_tokens_single_use_signed_and_expiring(redis_url):
    tokens = FormTokens(b"f" * 32, OneTimeNonces(redis_url or None), 60)
    token = tokens.issue()
    assert tokens.consume(token) and not tokens.consume(token)
    forged = tokens.issue()
    raw = bytearray(forged.encode())
    raw[5] = ord("A") if raw[5] != ord("A") else ord("B")
    assert not tokens.consume(raw.decode())
    other_key = FormTokens(b"g" * 32, OneTimeNonces(redis_url or None), 60)
    assert not other_key.consume(tokens.issue())
    short = FormTokens(b"f" * 32, OneTimeNonces(redis_url or None), 1)
    expiring = short.issue()
    time.sleep(2.1)
    assert not short.consume(expiring)
    for junk in ("", "x" * 500, "not base64!!", None):
        assert not tokens.consume(junk)


def test_a_sent_form_is_remembered_by_its_genuine_token_only(redis_url):
    """Issue 15: a reload of the receipt sends the same token again; the server answers "received"
    only for a genuine token whose form was stored, never for a forged or other one."""
    tokens = FormTokens(b"f" * 32, OneTimeNonces(redis_url or None), 60)
    sent, unsent = tokens.issue(), tokens.issue()
    assert tokens.consume(sent) and tokens.consume(unsent)
    assert not tokens.was_sent(sent)
    tokens.mark_sent(sent)
    assert tokens.was_sent(sent) and not tokens.was_sent(unsent)
    assert not tokens.consume(sent)  # still used up: remembering it as sent does not free it
    forged = bytearray(sent.encode())
    forged[5] = ord("A") if forged[5] != ord("A") else ord("B")
    assert not tokens.was_sent(forged.decode())
    assert not FormTokens(b"g" * 32, OneTimeNonces(redis_url or None), 60).was_sent(sent)
    fresh = tokens.issue()
    assert not tokens.was_sent(fresh) and tokens.consume(fresh)  # asking does not use a token up
    for junk in ("", "x" * 500, "not base64!!", None):
        tokens.mark_sent(junk)
        assert not tokens.was_sent(junk)


def test_a_nonce_is_first_used_once_even_by_racing_threads(redis_url):
    """gunicorn's threaded workers: 16 threads presenting one token at once, one succeeds."""
    import threading

    nonces = OneTimeNonces(redis_url or None)
    nonce = os.urandom(16)
    barrier = threading.Barrier(16)
    results = []

    def use():
        barrier.wait()
        results.append(nonces.first_use(nonce, 60))

    threads = [threading.Thread(target=use) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 15 + [True]
