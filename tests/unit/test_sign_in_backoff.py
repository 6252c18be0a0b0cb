"""Issue 13: ten wrong passphrases from another address locked `lead2` out for 15 minutes, from every address.

portal/triage/throttle.py: per login and client exponential back-off, a per-client back-off over
every login, and a login-wide term that adds at most a minute to a client that has tried itself.
Checked in memory and in Redis (PORTAL_TEST_REDIS_URL), with an injected clock."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from portal.triage.throttle import ACCOUNT_WAIT_MAX, Backoff, Keys

REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_answers() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
        return True
    except Exception:  # noqa: BLE001
        return False


BACKENDS = ["memory"] + (["redis"] if _redis_answers() else [])


@pytest.fixture(params=BACKENDS)
def make(request):
    def build(free: int = 3, cap: int = 900) -> Backoff:
        # A fresh prefix per test: never another run's counters, nothing to flush.
        return Backoff(REDIS_URL if request.param == "redis" else None, free, cap, prefix=f"test:{uuid.uuid4().hex}:")

    return build


def keys(login: str = "lead2", client: str = "attacker") -> Keys:
    return Keys(pair=f"pair:{login}:{client}", client=f"client:{client}", account=f"account:{login}")


T0 = 1_800_000_000.0


def test_the_wait_doubles_after_the_free_attempts_and_stops_at_the_cap(make):
    backoff = make(free=3, cap=900)
    k = keys()
    assert [backoff.attempt(k, T0) for _ in range(3)] == [0, 0, 0]  # the free attempts
    t, waits = T0, []
    for _ in range(12):
        wait = backoff.attempt(k, t)
        assert wait > 0  # refused: too early
        t += wait
        assert backoff.attempt(k, t) == 0  # exactly then: admitted
        waits.append(wait)
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert backoff.count(k.pair) == 15


def test_refused_attempts_count_nothing(make):
    backoff = make(free=2)
    k = keys()
    backoff.attempt(k, T0)
    backoff.attempt(k, T0)
    for _ in range(50):
        assert backoff.attempt(k, T0 + 0.5) > 0
    assert backoff.count(k.pair) == 2 and backoff.count(k.account) == 2
    assert backoff.attempt(k, T0 + 1) == 0  # hammering did not make the wait longer


def test_guesses_from_elsewhere_never_keep_the_holder_out_for_more_than_a_minute(make):
    backoff = make(free=3, cap=900)
    t = T0
    for n in range(200):  # an attacker on ten computers guessing all day long
        attacker = keys(client=f"attacker-{n % 10}")
        wait = backoff.attempt(attacker, t)
        t += wait if wait else 0.25
    holder = keys(client="holders-desk")
    assert backoff.attempt(holder, t) == 0  # the holder's own computer is let in at once
    wait = backoff.attempt(holder, t + 1)  # they mistyped: the next attempt waits at most a minute
    assert 0 < wait <= ACCOUNT_WAIT_MAX
    assert backoff.attempt(holder, t + 1 + wait) == 0


def test_one_client_trying_many_logins_is_slowed_down_too(make):
    backoff = make(free=2, cap=900)
    refused = [backoff.attempt(keys(login=f"user{n}", client="sprayer"), T0) for n in range(20)]
    assert refused[:8] == [0] * 8 and all(wait > 0 for wait in refused[9:])  # 4 x free over every login
    assert backoff.attempt(keys(login="user0", client="someone-else"), T0) == 0


def test_parallel_guesses_are_counted_exactly(make):
    backoff = make(free=5, cap=900)
    k = keys()
    barrier = threading.Barrier(40)
    results = []

    def guess():
        barrier.wait()
        results.append(backoff.attempt(k, T0))

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(0) == 5  # exactly the budget, however the 40 interleave
    assert backoff.count(k.pair) == 5 and backoff.count(k.client) == 5 and backoff.count(k.account) == 5


def test_forgiving_clears_the_pair_and_the_login(make):
    backoff = make(free=1)
    k = keys()
    backoff.attempt(k, T0)
    assert backoff.attempt(k, T0) > 0
    backoff.forgive(k)
    assert backoff.attempt(k, T0) == 0


def test_a_workstation_where_people_sign_in_all_day_is_never_slowed_down(make):
    backoff = make(free=2)
    for n in range(100):  # 100 complete sign-ins (passphrase, then code) from one desk, many logins
        k = keys(login=f"user{n % 7}", client="shared-desk")
        assert backoff.attempt(k, T0 + n) == 0 and backoff.attempt(k, T0 + n) == 0
        backoff.forgive(k)
    assert backoff.count("client:shared-desk") == 0


def test_signing_in_to_ones_own_account_does_not_forgive_guesses_at_others(make):
    backoff = make(free=2)
    for n in range(8):  # 4 x free guesses at other logins
        backoff.attempt(keys(login=f"victim{n}", client="insider"), T0)
    own = keys(login="insider", client="insider")
    assert backoff.attempt(own, T0) > 0  # the client is already backing off
    assert backoff.attempt(own, T0 + 1) == 0
    backoff.forgive(own)
    assert backoff.count("client:insider") == 8
    assert backoff.attempt(keys(login="victim9", client="insider"), T0 + 1) > 0


def test_counters_are_forgotten_after_an_hour_of_quiet(make):
    backoff = make(free=1)
    k = keys()
    backoff.attempt(k, T0)
    backoff.attempt(k, T0 + 1)
    assert backoff.count(k.pair) == 2
    if "redis" not in repr(backoff._redis):  # Redis expires by its own clock; memory by the injected one
        assert backoff.attempt(k, T0 + 3 + 3600 + 1) == 0
        assert backoff._get(backoff.prefix + k.pair, int((T0 + 3 + 3600 + 1) * 1000))[0] == 1
