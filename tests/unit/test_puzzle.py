"""Proof-of-work puzzles (portal.crypto.puzzle): what a forger, a replayer or a lazy client gets."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.crypto import puzzle
from portal.crypto.puzzle import PuzzleError

KEY = b"k" * 32
NOW = 1_900_000_000


def issued(action: str = "report", max_number: int = 500, expires: int = NOW + 600):
    challenge = puzzle.issue(KEY, action, max_number, expires)
    return challenge, puzzle.solve(challenge.salt_hex, challenge.target, challenge.max_number)


def test_a_solved_challenge_verifies_and_names_its_salt():
    challenge, number = issued()
    assert number is not None and 0 <= number <= challenge.max_number
    assert puzzle.verify(KEY, challenge.token, str(number), "report", NOW) == puzzle.Solved(bytes.fromhex(challenge.salt_hex), 500)
    assert challenge.to_json()["algorithm"] == "SHA-256" and challenge.to_json()["max"] == 500


def test_expired_challenges_are_refused():
    challenge, number = issued(expires=NOW)
    with pytest.raises(PuzzleError, match="expired"):
        puzzle.verify(KEY, challenge.token, str(number), "report", NOW)


def test_a_challenge_is_bound_to_its_action():
    challenge, number = issued("sign-in")
    for other in ("report", "reply", "nonsense"):
        with pytest.raises(PuzzleError, match="another action"):
            puzzle.verify(KEY, challenge.token, str(number), other, NOW)


def test_wrong_or_oddly_spelt_solutions_are_refused():
    challenge, number = issued()
    wrong = (number + 1) % (challenge.max_number + 1)
    for solution in (str(wrong), f"0{number}", f"{number} ", "", "-1", "1e3", "٣", str(challenge.max_number + 1), "9" * 11):
        with pytest.raises(PuzzleError):
            puzzle.verify(KEY, challenge.token, solution, "report", NOW)


def test_a_token_from_another_key_or_altered_in_any_byte_is_refused():
    challenge, number = issued()
    with pytest.raises(PuzzleError, match="not issued here"):
        puzzle.verify(b"x" * 32, challenge.token, str(number), "report", NOW)
    raw = base64.urlsafe_b64decode(challenge.token + "==")
    for index in range(len(raw)):
        altered = bytearray(raw)
        altered[index] ^= 0x01
        token = base64.urlsafe_b64encode(bytes(altered)).rstrip(b"=").decode()
        with pytest.raises(PuzzleError):
            puzzle.verify(KEY, token, str(number), "report", NOW)


def test_easier_puzzles_cannot_be_forged_by_lowering_max():
    """The max is inside the MAC: a client cannot shrink its own search."""
    challenge, _ = issued(max_number=1_000_000)
    raw = bytearray(base64.urlsafe_b64decode(challenge.token + "=="))
    raw[10:14] = (1).to_bytes(4, "big")
    token = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(PuzzleError, match="not issued here"):
        puzzle.verify(KEY, token, "0", "report", NOW)


@pytest.mark.parametrize("token", ["", "x", "!" * 100, "A" * 500, "\u00e9" * 40, None])
def test_garbage_tokens_are_refused_cleanly(token):
    with pytest.raises(PuzzleError):
        puzzle.verify(KEY, token, "1", "report", NOW)


def test_issue_checks_its_arguments():
    for bad in (0, puzzle.MAX_NUMBER_LIMIT + 1):
        with pytest.raises(ValueError):
            puzzle.issue(KEY, "report", bad, NOW)
    with pytest.raises(ValueError):
        puzzle.issue(KEY, "delete-everything", 10, NOW)
    with pytest.raises(ValueError):
        puzzle.issue(KEY, "report", 10, NOW, salt=b"short")


@settings(max_examples=60, deadline=None)
@given(number=st.integers(0, 3000), extra=st.integers(0, 3000), action=st.sampled_from(sorted(puzzle.ACTIONS)))
def test_property_the_solver_finds_exactly_the_number_hidden(number, extra, action):
    max_number = number + extra
    challenge = puzzle.issue(KEY, action, max(1, max_number), NOW + 60, number=number)
    found = puzzle.solve(challenge.salt_hex, challenge.target, challenge.max_number)
    assert found == number
    assert puzzle.verify(KEY, challenge.token, str(found), action, NOW).salt == bytes.fromhex(challenge.salt_hex)


def test_hidden_numbers_are_spread_over_the_whole_range():
    numbers = [puzzle.issue(KEY, "report", 99, NOW).to_json() for _ in range(400)]
    found = [puzzle.solve(n["salt"], bytes.fromhex(n["target"]), 99) for n in numbers]
    assert min(found) < 10 and max(found) > 89 and 30 < sum(found) / len(found) < 70
