"""Admission control (portal.admission): the load meter, adaptive difficulty, single-use proof of
work, the Argon2id gate and the daily file cap. Redis variants run where PORTAL_TEST_REDIS_URL answers."""

from __future__ import annotations

import os
import threading
import time

import pytest
from test_limits import BACKENDS, REDIS_URL, require_redis

from portal.admission import ArgonGate, DailyIntake, GateBusy, LoadMeter, ProofOfWork
from portal.admission.work import difficulty
from portal.crypto import puzzle
from portal.limits import OneTimeNonces


class Clock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=BACKENDS)
def redis_url(request):
    if request.param == "redis":
        require_redis()
        return REDIS_URL
    return None


def work(redis_url, clock, **overrides):
    options = {"floor": 100, "ceiling": 100_000, "idle_per_minute": 10, "lifetime": 60, **overrides}
    meter = LoadMeter(redis_url, clock, namespace=f"test-{os.urandom(8).hex()}")  # a Redis shared with other runs
    return ProofOfWork(b"p" * 32, OneTimeNonces(redis_url), meter, clock=clock, **options)


def solve(challenge) -> str:
    return str(puzzle.solve(challenge.salt_hex, challenge.target, challenge.max_number))


# -- difficulty --------------------------------------------------------------------------------


def test_difficulty_is_the_floor_when_quiet_and_rises_with_the_square_of_the_load_to_the_ceiling():
    assert difficulty(0, 2000, 2_000_000, 30) == 2000
    assert difficulty(30, 2000, 2_000_000, 30) == 2000
    assert difficulty(60, 2000, 2_000_000, 30) == 8000
    assert difficulty(300, 2000, 2_000_000, 30) == 200_000
    assert difficulty(10_000, 2000, 2_000_000, 30) == 2_000_000
    levels = [difficulty(rate, 2000, 2_000_000, 30) for rate in range(0, 2000, 7)]
    assert levels == sorted(levels)  # never easier under more load


def test_the_load_meter_counts_the_last_minute_only(redis_url):
    clock = Clock()
    meter = LoadMeter(redis_url, clock, namespace=f"test-{os.urandom(8).hex()}")
    for _ in range(25):
        meter.record()
    assert meter.per_minute() == 25
    clock.now += 30
    meter.record()
    assert meter.per_minute() == 26
    clock.now += 45  # the first 25 are now more than a minute old
    assert meter.per_minute() == 1
    clock.now += 60
    assert meter.per_minute() == 0


def test_a_flood_raises_the_price_and_quiet_brings_it_back(redis_url):
    clock = Clock()
    pow_ = work(redis_url, clock)
    assert pow_.challenge("report").max_number == 100
    for _ in range(200):  # 200 requests in a minute against an idle rate of 10
        pow_.meter.record()
    assert pow_.challenge("report").max_number == 40_000
    for _ in range(2000):
        pow_.meter.record()
    assert pow_.challenge("sign-in").max_number == 100_000  # the ceiling
    clock.now += 70
    assert pow_.challenge("report").max_number == 100


# -- redeeming ---------------------------------------------------------------------------------


def test_a_solution_is_redeemed_once_for_its_own_action_and_only_before_expiry(redis_url):
    clock = Clock()
    pow_ = work(redis_url, clock)
    challenge = pow_.challenge("report")
    answer = solve(challenge)
    assert not pow_.redeem(challenge.token, answer, "sign-in")  # wrong action: refused, and not spent
    assert pow_.redeem(challenge.token, answer, "report")
    assert not pow_.redeem(challenge.token, answer, "report")  # replayed
    late = pow_.challenge("reply")
    clock.now += 61
    assert not pow_.redeem(late.token, solve(late), "reply")
    for token, solution in ((None, "1"), ("", "1"), (challenge.token, None), ("garbage", "garbage")):
        assert not pow_.redeem(token, solution, "report")


def test_challenges_collected_while_quiet_cannot_be_spent_during_a_flood(redis_url):
    """Red-team finding: 1,000 challenges fetched at the floor price, solved in well under a second,
    were all accepted after a flood had raised the price to the ceiling."""
    clock = Clock()
    pow_ = work(redis_url, clock)
    stock = [pow_.challenge("sign-in") for _ in range(3)]
    assert {c.max_number for c in stock} == {100}
    for _ in range(200):
        pow_.meter.record()
    assert pow_.current_max() == 40_000
    assert not any(pow_.redeem(c.token, solve(c), "sign-in") for c in stock)
    fresh = pow_.challenge("sign-in")
    for _ in range(80):  # the price rises while an honest browser solves: up to four times is tolerated
        pow_.meter.record()
    assert pow_.current_max() == 78_400
    assert pow_.redeem(fresh.token, solve(fresh), "sign-in")


def test_two_workers_share_spent_tokens_through_redis():
    require_redis()
    clock = Clock()
    worker_a, worker_b = work(REDIS_URL, clock), work(REDIS_URL, clock)
    challenge = worker_a.challenge("report")
    answer = solve(challenge)
    assert worker_b.redeem(challenge.token, answer, "report")
    assert not worker_a.redeem(challenge.token, answer, "report")


def test_a_challenge_from_another_portal_is_refused():
    clock = Clock()
    other = ProofOfWork(b"q" * 32, OneTimeNonces(None), LoadMeter(None, clock), floor=100, ceiling=100,
                        idle_per_minute=10, lifetime=60, clock=clock)
    challenge = other.challenge("report")
    assert not work(None, clock).redeem(challenge.token, solve(challenge), "report")


def test_bad_difficulty_settings_are_refused():
    with pytest.raises(ValueError):
        work(None, Clock(), floor=10, ceiling=5)
    with pytest.raises(ValueError):
        work(None, Clock(), floor=0)


# -- the Argon2id gate -------------------------------------------------------------------------


def test_the_gate_never_runs_more_than_its_slots():
    gate = ArgonGate(slots=2, max_waiting=50, max_wait=10)
    running, peak, lock = [0], [0], threading.Lock()

    def job():
        with gate.admit():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.01)
            with lock:
                running[0] -= 1

    threads = [threading.Thread(target=job) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2 and gate.admitted == 30 and gate.refused == 0


def _queue_behind(gate, entries, order):
    """Hold the one slot, line up `entries` (name, with_work) in that order, then release."""
    release = threading.Event()
    started = threading.Event()

    def holder():
        with gate.admit():
            started.set()
            release.wait()

    def waiter(name, with_work):
        with gate.admit(with_work):
            order.append(name)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    started.wait()
    for name, with_work in entries:
        t = threading.Thread(target=waiter, args=(name, with_work))
        t.start()
        threads.append(t)
        while gate.waiting < len(threads) - 1:  # each is in line before the next arrives
            time.sleep(0.001)
    release.set()
    for t in threads:
        t.join()


def test_each_line_is_first_come_first_served_and_the_two_take_turns():
    order: list[str] = []
    gate = ArgonGate(slots=1, max_waiting=10, max_wait=10)
    _queue_behind(gate, [("plain-1", False), ("plain-2", False), ("work-1", True), ("plain-3", False), ("work-2", True),
                         ("work-3", True), ("work-4", True)], order)
    assert order == ["plain-1", "work-1", "plain-2", "work-2", "plain-3", "work-3", "work-4"]


def test_a_stream_of_proof_of_work_cannot_starve_requests_without_it():
    """Red-team finding: with strict priority, 14 connections carrying cheap proofs of work kept a
    no-JavaScript sign-in waiting until its 20 s ran out. Taking turns, it is served second."""
    order: list[str] = []
    gate = ArgonGate(slots=1, max_waiting=20, max_wait=10)
    entries = [("plain", False)] + [(f"work-{n}", True) for n in range(12)]
    _queue_behind(gate, entries[1:6] + entries[:1] + entries[6:], order)
    assert order.index("plain") <= 1


def test_a_full_line_answers_busy_at_once_and_the_other_line_has_its_own_places():
    gate = ArgonGate(slots=1, max_waiting=1, max_wait=10)
    order: list[str] = []
    release = threading.Event()
    with gate.admit():
        waiter = threading.Thread(target=lambda: gate.admit().__enter__() if not release.wait(0) else None, daemon=True)
        waiter.start()
        while gate.waiting < 1:
            time.sleep(0.001)
        started = time.monotonic()
        with pytest.raises(GateBusy):
            with gate.admit():
                order.append("never")
        assert time.monotonic() - started < 0.5
        assert len(gate._lines[True]) < gate.max_waiting  # a request with proof of work may still wait
    assert order == [] and gate.refused == 1


def test_a_wait_that_runs_out_answers_busy_and_leaves_the_line():
    gate = ArgonGate(slots=1, max_waiting=5, max_wait=0.2)
    with gate.admit():
        started = time.monotonic()
        with pytest.raises(GateBusy):
            with gate.admit():
                pass
        assert 0.15 < time.monotonic() - started < 2
        assert gate.waiting == 0
    with gate.admit():  # the slot is free again, nobody stuck in line
        assert gate.running == 1


def test_gate_settings_are_checked():
    for args in ((0, 1, 1), (1, -1, 1), (1, 1, 0)):
        with pytest.raises(ValueError):
            ArgonGate(*args)


# -- the daily file cap -------------------------------------------------------------------------


def test_the_daily_cap_counts_todays_blobs_and_what_this_process_added(database):
    from portal.blobs import BlobWriter

    clock = Clock(0.0)
    intake = DailyIntake(cap_bytes=1000, refresh_seconds=10, clock=clock)
    with database.transaction() as session:
        assert intake.has_room(session) and intake.received_today(session) == 0
        writer = BlobWriter(session, b"\x01" * 16)
        writer.write(b"x" * 600)
        writer.close()
    with database.transaction() as session:
        assert intake.received_today(session) == 0  # cached for 10 s ...
        intake.add(600)
        assert intake.received_today(session) == 600  # ... plus what this process accepted meanwhile
        intake.add(500)
        assert not intake.has_room(session)
        clock.now += 11
        assert intake.received_today(session) == 600  # re-read from the database
        assert intake.has_room(session)
    assert DailyIntake(cap_bytes=0).has_room(None)  # no cap
